"""Checks of the files `tnas export` and `tnas.load_network` read, before anything is built from
them (issue 24): network.json's keys, types and ranges, and a run's result.json against its
checkpoint. Each failure is a TnasError naming the file, the key and what was expected."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tnas.errors import TnasError

_log = logging.getLogger(__name__)

SPEC_KEYS = {"format", "version", "tnas_version", "space", "genotype", "arch", "builder", "options", "size", "input",
             "source", "run_dir", "checks", "exports"}
# inclusive ranges of network.json's size entries: far beyond any network tnas builds, small
# enough that a tampered value cannot ask the allocator for terabytes
SIZE_RANGES = {"C": (1, 4096), "N": (1, 256), "num_classes": (2, 1_000_000), "in_channels": (1, 64),
               "image_size": (4, 8192)}
FIX = "Export the run again with `tnas export RUN_DIR` instead of editing the file."


def check_spec(spec: dict[str, Any], path: Path) -> None:
    """Refuse a network.json with unknown keys, missing keys or values of the wrong type or range."""
    def bad(what: str) -> TnasError:
        return TnasError(f"'{path}': {what}. {FIX}")

    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise bad(f"unknown key(s) {', '.join(map(repr, unknown))}; known keys: {', '.join(sorted(SPEC_KEYS))}")
    for key, typ in (("space", str), ("builder", str), ("arch", list), ("size", dict)):
        if not isinstance(spec.get(key), typ):
            raise bad(f"'{key}' must be a {typ.__name__}, found {type(spec.get(key)).__name__}")
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in spec["arch"]):
        raise bad("'arch' must be a list of integers (choice indices)")
    size = spec["size"]
    if set(size) != set(SIZE_RANGES):
        raise bad(f"'size' must have exactly the keys {', '.join(SIZE_RANGES)}, found {', '.join(map(str, size))}")
    for key, (lo, hi) in SIZE_RANGES.items():
        v = size[key]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise bad(f"size.{key} = {v!r} must be an integer in [{lo}, {hi}]")
    for key in ("options", "input", "checks", "exports"):
        if spec.get(key) is not None and not isinstance(spec[key], dict):
            raise bad(f"'{key}' must be a mapping, found {type(spec[key]).__name__}")


def check_result(result: dict[str, Any], path: Path, space: Any, *, expect_arch: list[int] | None = None,
                 kind: str = "search") -> None:
    """result.json of a run: its arch a list of ints that agrees with its genotype, with the
    checkpoint's (`expect_arch`, a train run's genotype) and with the run kind (a train run's
    result has 'net')."""
    file = path / "result.json"
    if kind == "train" and not isinstance(result.get("net"), dict):
        raise TnasError(f"'{file}' is not the result of a `tnas train` run (no 'net' entry; it looks like a search "
                        "result). Restore the run's own result.json with `tnas train --resume "
                        f"{path}`.")
    arch = result.get("arch")
    if not isinstance(arch, list) or not all(isinstance(a, int) and not isinstance(a, bool) for a in arch):
        raise TnasError(f"'{file}' holds no valid found architecture ('arch', a list of integers); the run directory "
                        f"is damaged. Resume it to write it again: `tnas {kind} --resume {path}`.")
    import torch

    genotype = space.to_genotype(torch.tensor(arch, dtype=torch.long))
    if isinstance(result.get("genotype"), str) and result["genotype"] != genotype:
        raise TnasError(f"'{file}' disagrees with itself: its 'arch' is {genotype} but its 'genotype' is "
                        f"{result['genotype']}. It was edited; resume the run to write it again: "
                        f"`tnas {kind} --resume {path}`.")
    if expect_arch is not None and list(expect_arch) != arch:
        raise TnasError(f"'{file}' names {genotype}, but the checkpoint it summarises trained "
                        f"{space.to_genotype(torch.tensor(expect_arch, dtype=torch.long))}. It was edited or copied "
                        f"from another run; resume the run to write it again: `tnas {kind} --resume {path}`.")


def warn_accuracy(measured: float, recorded: Any, path: Path) -> None:
    """A loud warning when the export measures another accuracy than result.json recorded (an
    edited arch, other data): the exported network is not the one the run found."""
    if isinstance(recorded, (int, float)) and abs(measured - float(recorded)) > 0.5:
        _log.warning("WARNING: the exported network scores %.2f%% on the search's validation batches, but "
                     "%s records %.2f%%: result.json does not describe this run's found network (edited, or "
                     "the data changed). Check the run before using the export.", measured, path / "result.json",
                     float(recorded))
