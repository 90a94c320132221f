"""Atomic checkpoints: one dict of stateful objects, written to a temp file then renamed.

A crash or SIGKILL mid-write leaves the previous checkpoint intact, so at most the work since
the last checkpoint is lost.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from tnas.errors import TnasError

CKPT_VERSION = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save `state` (+ version) to `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"version": CKPT_VERSION, **state}, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint`; clear errors for missing/incompatible files."""
    if not path.exists():
        raise TnasError(
            f"No checkpoint at '{path}'. A resumable run directory holds ckpt/last.pt, written at the end of "
            "each epoch; start a new run with `tnas search` instead."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise TnasError(f"Checkpoint '{path}' could not be read ({type(e).__name__}: {e}). It may be corrupt.") from e
    if not isinstance(state, dict) or state.get("version") != CKPT_VERSION:
        found = state.get("version") if isinstance(state, dict) else type(state).__name__
        raise TnasError(
            f"Checkpoint '{path}' has format version {found}; this tnas reads version {CKPT_VERSION}. "
            "Resume it with the tnas version that wrote it (see config.yaml _meta), or start a new run."
        )
    return state


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    return {k: g.get_state() for k, g in generators.items()}


def set_rng_state(generators: dict[str, torch.Generator], states: dict[str, torch.Tensor]) -> None:
    for k, g in generators.items():
        g.set_state(states[k])
