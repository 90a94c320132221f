"""The NB201 API's argument checks and helpers: table paths, limits, messages, analytic costs.

Split from `tnas.bench.api` (which stays the upstream surface); nothing here is public.
"""
from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from tnas.bench.api_keys import INPUT_SIZE, NUM_CLASSES
from tnas.errors import TnasError, unknown
from tnas.space.nb201 import NB201_OPS

_UPSTREAM_FILE = re.compile(r"NAS-Bench-201-v1_[01]-[0-9a-f]+(\.pth)?|NAS-Bench-201-v1_1-archive|"
                            r"NATS-tss-v1_0-3ffb9(-simple|-full)?(\.pickle\.pbz2)?")
_SIZE_FILE = re.compile(r"NATS-sss-v1_0-50262.*")
_HERE = os.path.dirname(os.path.abspath(__file__))


def warn_user(message: str) -> None:
    """A UserWarning attributed to the first caller outside tnas.bench (the user's line)."""
    level, frame = 2, sys._getframe(1)  # stacklevel 2 = the caller of warn_user
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _HERE:
        level, frame = level + 1, frame.f_back
    warnings.warn(message, UserWarning, stacklevel=level)


def table_path(file_path_or_dict: str | Path | dict | None) -> str | Path | None:
    if isinstance(file_path_or_dict, dict):
        raise TnasError("A dict loaded from an official benchmark file cannot be read by tnas. Pass None (the "
                        "tnas table) or a tnas table; `tnas table convert` turns the official files into one.")
    if file_path_or_dict is None:
        return None
    name = Path(file_path_or_dict).name
    if _SIZE_FILE.fullmatch(name):
        raise TnasError(f"'{file_path_or_dict}' is a NATS-Bench size-space (sss) file; tnas has only the topology "
                        "space (NB201). Use create(None, 'tss').")
    if _UPSTREAM_FILE.fullmatch(name):
        warn_user(f"Ignoring '{file_path_or_dict}': tnas answers from its own table (NB201 v1.1, i.e. "
                      "NAS-Bench-201-v1_1-096897, seed means), found by the default lookup. Pass None to silence "
                      "this, or convert the official file with `tnas table convert`.")
        return None
    return file_path_or_dict


def no_raw(call: str, what: str, instead: str) -> TnasError:
    return TnasError(f"{call}() is not available: the tnas table holds only final-epoch seed means, no {what}. "
                     f"{instead}")


def short(value: Any, width: int = 60) -> str:
    """repr(value), cut to `width` characters for messages."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def limit(name: str, value: Any, alias: str, alias_value: Any, unit: str) -> float | None:
    """A find_best limit (upstream's spelling `name` or nats_bench's `alias`) as float, or None for no limit."""
    if value is not None and alias_value is not None:
        raise TnasError(f"find_best got both {name}={short(value)} and {alias}={short(alias_value)}; pass one of "
                        "them (the same limit in nas_201_api's and nats_bench's spelling).")
    if value is None:
        name, value = alias, alias_value
    if value is None:
        return None
    if isinstance(value, Tensor) and value.numel() == 1 and not value.dtype.is_complex:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TnasError(f"find_best {name}={short(value)} is not a number. Expected a limit in {unit}, or None "
                        "for no limit.")
    if np.isnan(value):
        raise TnasError(f"find_best {name}={short(value)} is NaN: no cell's cost compares with it, so every cell "
                        f"would be excluded. Pass a limit in {unit}, or None for no limit.")
    return float(value)


def count_costs(archs: Tensor, what: str, dataset: str) -> np.ndarray:
    """Analytic params or FLOPs (MACs) of archs long [N, 6] on `dataset`'s network: int64 [N].

    A cell's cost is the skeleton's plus one term per edge that depends only on the edge's op (every
    edge maps C -> C channels at its stage's resolution), so 5 counts give all N.
    """
    from tnas.supernet.nb201_cost import count_flops, count_params  # builds meta-device networks: import late

    n, size = NUM_CLASSES[dataset], INPUT_SIZE[dataset]

    def count(arch: Tensor) -> int:
        return count_params(arch, num_classes=n) if what == "params" else \
            count_flops(arch, num_classes=n, input_size=size)

    zero = torch.zeros(6, dtype=torch.long)
    base = count(zero)
    per_op = torch.tensor([0] + [count(zero.index_fill(0, torch.tensor([0]), op)) - base for op in range(1, 5)])
    return (base + per_op[archs].sum(-1)).numpy()


def str2lists(arch_str: str) -> list[tuple[tuple[str, int], ...]]:
    """'|a~0|+|b~0|c~1|+...' -> [((a, 0),), ((b, 0), (c, 1)), ...]: each node's (op, input node) pairs."""
    return [tuple((op, int(src)) for op, src in re.findall(r"\|([^|~]+)~(\d+)(?=\|)", node))
            for node in arch_str.split("+")]

def str2matrix(arch_str: str, search_space: Iterable[str] = NB201_OPS) -> np.ndarray:
    """The cell as a 4x4 matrix: [i, j] = index in `search_space` of the op on edge j -> i (0: none)."""
    names = list(search_space)
    nodes = str2lists(arch_str)
    out = np.zeros((len(nodes) + 1, len(nodes) + 1))
    for i, node in enumerate(nodes, start=1):
        for op, j in node:
            if op not in names:
                raise unknown("NB201 operation", op, names)
            out[i, j] = names.index(op)
    return out
