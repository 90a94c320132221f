"""Atomic checkpoints: one dict of stateful objects, written to a temp file then renamed.

A crash or SIGKILL mid-write leaves the previous checkpoint intact, so at most the work since
the last checkpoint is lost. A checkpoint holds only tensors and plain Python containers and
numbers, and is read with `torch.load(weights_only=True)`: opening a run directory never executes
code, whatever `ckpt/last.pt` holds (issue 10).
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from tnas.errors import RUN_WRITE_FIX, TnasError
from tnas.safeio import atomic_write, ensure_dir

CKPT_VERSION = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save `state` (+ version) to `path` atomically, never through a link (`tnas.safeio`)."""
    ensure_dir(path.parent, RUN_WRITE_FIX)
    atomic_write(path, lambda f: torch.save({"version": CKPT_VERSION, **state}, f), fsync=True, fix=RUN_WRITE_FIX)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint`; clear errors for missing/incompatible files."""
    if not path.exists():
        raise TnasError(
            f"No checkpoint at '{path}'. A resumable run directory holds ckpt/last.pt, written at the end of "
            "each epoch; start a new run with `tnas search` instead."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # never runs code from the file
    except Exception as e:  # noqa: BLE001 - any failure (refused object, truncated, not a zip) = unusable file
        refused = _refused_global(e)
        if refused:
            raise TnasError(
                f"Refusing to load checkpoint '{path}': it holds Python objects other than tensors and plain "
                f"types ({refused}), which tnas never writes and never executes. Do not trust this run "
                "directory; start a new run with `tnas search` / `tnas train`."
            ) from None
        raise TnasError(f"Checkpoint '{path}' could not be read ({type(e).__name__}): it is not a complete "
                        "checkpoint written by tnas, perhaps truncated or corrupt. Start a new run, or restore the "
                        "file from a backup.") from None
    if not isinstance(state, dict) or state.get("version") != CKPT_VERSION:
        found = state.get("version") if isinstance(state, dict) else type(state).__name__
        raise TnasError(
            f"Checkpoint '{path}' has format version {found}; this tnas reads version {CKPT_VERSION}. "
            "Resume it with the tnas version that wrote it (see config.yaml _meta), or start a new run."
        )
    return state


def _refused_global(e: Exception) -> str | None:
    """The line of torch's weights_only error naming the global it refused, or None for other
    failures. (Its other lines advise weights_only=False: exactly what must not happen.)"""
    if not isinstance(e, pickle.UnpicklingError):
        return None
    lines = [ln.strip() for ln in str(e).splitlines() if "GLOBAL" in ln]
    return lines[0] if lines else None


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    return {k: g.get_state() for k, g in generators.items()}


def set_rng_state(generators: dict[str, torch.Generator], states: dict[str, torch.Tensor]) -> None:
    for k, g in generators.items():
        g.set_state(states[k])
