"""NAS-Bench-201 ground truth: the compact table, loaded once, queried by a named protocol.

`load_nb201()` uses an explicit path, else `$TNAS_DATA/nb201/nb201_all.csv`, else the copy bundled
with tnas (`bench/data/nb201.npz`, every column, ~20 ms to load; see `tnas.bench.bundle`). A CSV is
parsed for the columns it needs and validated (~25 ms, naming line, column and value of any bad
cell); other columns are read on first use. Values are stored *densely by architecture key* (`space.keys(arch)`, 5^6 = 15,625 slots), so a lookup is
one gather: `table.column(c)[space.keys(archs)]`, fast enough for millions of lookups.

Protocol (`PROTOCOL`, print it beside every number): NAS-Bench-201 v1.1
(NAS-Bench-201-v1_1-096897), 200 training epochs, accuracy in percent at the last epoch, mean over
the seeds available for each architecture (1-3). Splits: CIFAR-10 'valid' = setting
`cifar10-valid`, trained on 25k images, accuracy on the 25k held-out half (`x-valid`); CIFAR-10
'test' = setting `cifar10`, trained on all 50k, accuracy on the official 10k test set
(`ori-test`); CIFAR-100 and ImageNet16-120 'valid'/'test' = `x-valid`/`x-test`, the two halves of
the official test (validation) set.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from tnas.bench import _csv
from tnas.bench.bundle import BUNDLE_FILE, Bundle, key_of_ops
from tnas.bench.protocol import (
    ACCURACY_COLUMNS, CONVERT_HOW, COST_COLUMNS, HOW, NUM_ARCHS, OP_COLUMNS, PROTOCOL, REQUIRED_COLUMNS,
    SUPERNET_COLUMNS, SUPERNET_FILE, TABLE_FILE, _KIND_ALIASES, _canonical, column_name,
)
from tnas.errors import TnasError, unknown
from tnas.paths import ENV_VAR
from tnas.space import SearchSpace, get_space
from tnas.space.nb201 import NB201_OPS

logger = logging.getLogger(__name__)

_ARCH_RE = re.compile(r"\|(\w+)~0\|\+\|(\w+)~0\|(\w+)~1\|\+\|(\w+)~0\|(\w+)~1\|(\w+)~2\|")
_OP_CODE = {op: i for i, op in enumerate(NB201_OPS)}


@dataclass(frozen=True)
class BestCell:
    """The cell chosen by `NB201Table.best`: its arch (long [6]), official index and accuracies (%)."""

    arch: Tensor
    index: int
    value: float  # accuracy on the reported split
    selected_by: float  # accuracy on the split used to choose it


class NB201Table:
    """All 15,625 NB201 cells' ground truth, stored densely by `space.keys(arch)`.

    Build it with `load_nb201()` (cached per file), `NB201Table.from_bundle()` (the copy inside
    tnas) or `NB201Table.from_csv(path)`. Architectures are long tensors [..., 6] in NB201 edge
    order (= columns op_0to1 .. op_2to3); outputs have the batch shape [...] and live on the
    input's device. Protocol: see `PROTOCOL`.
    """

    def __init__(self, path: Path, names: list[str], index_by_key: np.ndarray, read: Callable[[str], np.ndarray],
                 supernet_path: Path | None = None, load_seconds: float = 0.0) -> None:
        """Args: `names` the readable columns; `index_by_key` int64 [15625] (-1: no row); `read(name)`
        -> float64 [15625] by key (NaN: no row)."""
        self.space: SearchSpace = get_space("nb201")
        self.path, self.supernet_path, self.load_seconds = path, supernet_path, load_seconds
        self.num_rows = int((index_by_key >= 0).sum())
        self.complete = self.num_rows == NUM_ARCHS
        self._names, self._read = list(names), read
        by_index = np.full(NUM_ARCHS, -1, dtype=np.int64)
        present = np.flatnonzero(index_by_key >= 0)
        by_index[index_by_key[present]] = present
        self._index_by_key, self._key_by_index = torch.from_numpy(index_by_key), torch.from_numpy(by_index)
        self._dense: dict[str, Tensor] = {}
        self._holes: dict[str, bool] = {}
        self._device_cache: dict[tuple[str, torch.device], Tensor] = {}
        self._radix = torch.tensor([5 ** (5 - i) for i in range(6)], dtype=torch.long)

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def from_bundle(cls, path: str | Path = BUNDLE_FILE) -> NB201Table:
        """The table that ships inside tnas (all columns + supernet estimates); see `tnas.bench.bundle`."""
        t0 = time.perf_counter()
        bundle = Bundle(Path(path))
        table = cls(bundle.path, bundle.columns, bundle.index, bundle.read, bundle.path)
        for c in ACCURACY_COLUMNS:  # the columns nearly every caller needs; the rest on first use
            table._col(c)
        table.load_seconds = time.perf_counter() - t0
        return table

    @classmethod
    def from_csv(cls, path: str | Path, strict: bool = True) -> NB201Table:
        """Parse and validate `path` (an nb201_all.csv); no caching. See `load_nb201`.

        Supernet estimates come from `supernet_estimates_c10.csv` beside it, else from the bundle.
        """
        t0 = time.perf_counter()
        path = Path(path)
        header = _csv.read_header(path)
        fix = f"Re-create the table or use the shared copy. {HOW}"
        _csv.require_columns(path, header, REQUIRED_COLUMNS, fix)
        wanted = [*REQUIRED_COLUMNS, *(c for c in COST_COLUMNS.values() if c in header)]
        cols = _csv.read_numeric(path, header, wanted, fix)
        _check_rows(path, len(cols["index"]), strict)
        for c in OP_COLUMNS:
            _csv.check_integers(path, c, cols[c], 0, len(NB201_OPS) - 1, fix)
        _csv.check_integers(path, "index", cols["index"], 0, NUM_ARCHS - 1, fix)
        for c in ACCURACY_COLUMNS:
            _csv.check_finite(path, c, cols[c], fix)
        keys = key_of_ops(np.stack([cols.pop(c) for c in OP_COLUMNS], axis=1))
        index = cols.pop("index").astype(np.int64)
        _check_unique(path, "arch (op columns)", keys, fix)
        _check_unique(path, "index", index, fix)
        index_by_key = np.full(NUM_ARCHS, -1, dtype=np.int64)
        index_by_key[keys] = index
        sup = path.parent / SUPERNET_FILE
        sup = sup if sup.is_file() else (BUNDLE_FILE if BUNDLE_FILE.is_file() else None)
        names = [c for c in header if c not in ("index", "arch_str", *OP_COLUMNS)]
        names += list(SUPERNET_COLUMNS.values()) if sup is not None else []

        def read(name: str) -> np.ndarray:
            if name in SUPERNET_COLUMNS.values():
                return Bundle(sup).read(name) if sup == BUNDLE_FILE else _supernet_csv(sup)[name]
            values = cols[name] if name in cols else _csv.read_numeric(path, header, [name], fix)[name]
            dense = np.full(NUM_ARCHS, np.nan)
            dense[keys] = values
            return dense

        table = cls(path, names, index_by_key, read, sup)
        for c in (*ACCURACY_COLUMNS, *(c for c in COST_COLUMNS.values() if c in header)):  # parsed already
            table._col(c)
        cols.clear()  # parsed once into the table's dense columns
        table.load_seconds = time.perf_counter() - t0
        logger.debug("loaded %s: %d rows in %.3f s", path, table.num_rows, table.load_seconds)
        return table

    # ---- columns -----------------------------------------------------------------------
    def columns(self) -> list[str]:
        """Names `column()` accepts: the table's numeric columns plus the supernet estimates."""
        return list(self._names)

    def column(self, name: str) -> Tensor:
        """A copy of column `name` as float64 [15625], ordered by `space.keys(arch)` (NaN: no row).

        Columns other than accuracies and costs (e.g. 'e12_c10_valid') are read on first use.
        """
        return self._col(name).clone()

    def _col(self, name: str) -> Tensor:
        if name not in self._dense:
            if name not in self._names:
                raise unknown(f"column of {self.path}", name, self._names)
            dense = self._read(name)
            self._dense[name] = torch.from_numpy(dense)
            self._holes[name] = bool(np.isnan(dense).any())
        return self._dense[name]

    # ---- lookups -----------------------------------------------------------------------
    def _keys(self, archs: Tensor) -> Tensor:
        """Validated keys of archs long [..., 6] -> long [...] on the same device."""
        if not isinstance(archs, Tensor) or archs.dtype != torch.long or archs.shape[-1:] != (6,):
            self.space.validate(archs if not isinstance(archs, Tensor) else archs.cpu())
        if bool(((archs < 0) | (archs >= len(NB201_OPS))).any()):
            self.space.validate(archs.cpu())  # raises, naming the bad position and value
        return (archs * self._radix.to(archs.device)).sum(-1)

    def _on(self, name: str, device: torch.device) -> Tensor:
        col = self._col(name)
        if device == col.device:
            return col
        if (name, device) not in self._device_cache:
            self._device_cache[(name, device)] = col.to(device)
        return self._device_cache[(name, device)]

    def _gather(self, name: str, archs: Tensor) -> Tensor:
        keys = self._keys(archs)
        out = self._on(name, keys.device)[keys]
        if self._holes[name] and bool(out.isnan().any()):
            bad = archs.reshape(-1, 6)[out.reshape(-1).isnan().nonzero()[0, 0]].cpu()
            raise TnasError(
                f"Architecture {self.space.to_genotype(bad)} has no '{name}' value in '{self.path}' "
                f"({self.num_rows} of {NUM_ARCHS} cells present). Use a complete table. {HOW}"
            )
        return out

    def lookup(self, archs: Tensor, dataset: str, split: str) -> Tensor:
        """Ground-truth accuracy (%) under `PROTOCOL`.

        Args:
            archs: long [..., 6] (e.g. [N, 6] or [6]).
            dataset: 'cifar10', 'cifar100' or 'ImageNet16-120' (aliases like 'c10', 'in16' accepted).
            split: 'valid' or 'test' (CIFAR-10 valid = cifar10-valid x-valid, 25k train; test =
                cifar10 ori-test, 50k train; others x-valid / x-test).
        Returns:
            float64 [...], on archs' device.
        """
        return self._gather(column_name(dataset, split), archs)

    def query(self, arch: Tensor | str | int, dataset: str, split: str) -> float:
        """Accuracy (%) of one arch (long [6], an NB201 string or an index 0..15624) under `PROTOCOL`."""
        return float(self.lookup(self.as_arch(arch), dataset, split))

    def supernet_estimate(self, archs: Tensor, kind: str = "oneshot") -> Tensor:
        """CIFAR-10 accuracy (%) a trained weight-sharing supernet assigns: float64 [...] for archs [..., 6].

        Args:
            kind: 'oneshot' (single-path one-shot supernet) or 'fewshot' (few-shot sub-supernets).
        """
        name = SUPERNET_COLUMNS[_canonical("supernet kind", kind, _KIND_ALIASES)]
        if name not in self._names:
            raise TnasError(
                f"No supernet estimates for '{self.path}': '{self.path.parent / SUPERNET_FILE}' does not exist and "
                f"the bundled copy is missing. Copy {SUPERNET_FILE} beside {self.path.name}, or load the bundled "
                f"table (load_nb201() without a path)."
            )
        return self._gather(name, archs)

    def cost(self, archs: Tensor, what: str = "flops") -> Tensor:
        """CIFAR-10 network cost: 'flops' (MFLOPs), 'params' (millions) or 'latency' (seconds). float64 [...]."""
        if what not in COST_COLUMNS:
            raise unknown("NB201 cost", what, COST_COLUMNS, "Costs are known for CIFAR-10 only.")
        if COST_COLUMNS[what] not in self._names:
            raise TnasError(f"'{self.path}' has no '{COST_COLUMNS[what]}' column, so {what} is unknown. {HOW}")
        return self._gather(COST_COLUMNS[what], archs)

    def index_of(self, archs: Tensor) -> Tensor:
        """Official NB201 index of archs long [..., 6] -> long [...]."""
        keys = self._keys(archs)
        out = self._index_by_key.to(keys.device)[keys]
        if not self.complete and bool((out < 0).any()):
            bad = archs.reshape(-1, 6)[(out.reshape(-1) < 0).nonzero()[0, 0]].cpu()
            raise TnasError(f"Architecture {self.space.to_genotype(bad)} is not in the partial table '{self.path}'.")
        return out

    def arch_of(self, index: int | Tensor) -> Tensor:
        """Official NB201 index (int, or long tensor [...]) -> arch long [6] (or [..., 6])."""
        idx = _as_index(index)
        bad = (idx < 0) | (idx >= NUM_ARCHS)
        if bool(bad.any()):
            v = int(idx.reshape(-1)[bad.reshape(-1).nonzero()[0, 0]])
            raise TnasError(f"Architecture index {v} is out of range; expected an integer in 0..{NUM_ARCHS - 1}.")
        keys = self._key_by_index.to(idx.device)[idx]
        if bool((keys < 0).any()):
            v = int(idx.reshape(-1)[(keys.reshape(-1) < 0).nonzero()[0, 0]])
            raise TnasError(f"Architecture index {v} is not in the partial table '{self.path}'. {HOW}")
        return self.space.from_keys(keys.cpu()).to(idx.device)

    def as_arch(self, arch: Tensor | str | int) -> Tensor:
        """One architecture as long [6], from long [6], an NB201 string or an official index."""
        if isinstance(arch, str):
            return parse_arch(arch, self.space, self)
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            return self.arch_of(int(arch))
        if isinstance(arch, Tensor) and arch.shape == (6,):
            self._keys(arch)
            return arch
        raise TnasError(f"Expected one architecture (long tensor [6], an NB201 string or an index), got {arch!r}.")

    def best(self, dataset: str, split: str = "test", by: str | None = None) -> BestCell:
        """The cell with the highest `by` accuracy (default: `split`), reported on `split`.

        `best(d, 'test', by='valid')` is the NB201 oracle (best validation cell -> its test accuracy).
        Ties go to the lowest official index.
        """
        sel = self._col(column_name(dataset, by or split))
        rep = self._col(column_name(dataset, split))
        top = torch.nan_to_num(sel, nan=-float("inf"))
        keys = (top == top.max()).nonzero().reshape(-1)
        k = keys[self._index_by_key[keys].argmin()]
        return BestCell(self.space.from_keys(k), int(self._index_by_key[k]), float(rep[k]), float(sel[k]))

    def info(self) -> dict[str, object]:
        """Location, size and protocol, for reports and `tnas table info`."""
        return {"path": str(self.path), "rows": self.num_rows, "complete": self.complete, "protocol": PROTOCOL,
                "supernet_estimates": str(self.supernet_path) if self.supernet_path else None,
                "load_seconds": round(self.load_seconds, 4)}

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        return f"NB201Table('{self.path}', rows={self.num_rows})"


def _supernet_csv(path: Path) -> dict[str, np.ndarray]:
    """The estimate columns of a supernet_estimates_c10.csv, float64 [15625] each by key (rows keyed by arch_str)."""
    fix = f"Use the shared copy of {SUPERNET_FILE}."
    header = _csv.read_header(path)
    _csv.require_columns(path, header, ["arch_str", *SUPERNET_COLUMNS.values()], fix)
    values = _csv.read_numeric(path, header, list(SUPERNET_COLUMNS.values()), fix)
    strings = np.loadtxt(path, delimiter=",", skiprows=1, usecols=[header.index("arch_str")], dtype=str,
                         ndmin=1, encoding="utf-8")
    keys = np.array([_key_of_string(s, path, line) for line, s in enumerate(strings, start=2)], dtype=np.int64)
    _check_unique(path, "arch_str", keys, fix)
    out = {}
    for name, v in values.items():
        _csv.check_finite(path, name, v, fix)
        out[name] = np.full(NUM_ARCHS, np.nan)
        out[name][keys] = v
    return out


def _key_of_string(text: str, path: Path, line: int) -> int:
    m = _ARCH_RE.fullmatch(text)
    codes = [_OP_CODE.get(op, -1) for op in m.groups()] if m else [-1]
    if min(codes) < 0:  # let the space's parser say what is wrong with the string
        space = get_space("nb201")
        try:
            return space.key(space.from_genotype(text))
        except TnasError as e:
            raise TnasError(f"'{path}' line {line}, column 'arch_str': {e}") from None
    return sum(c * 5 ** (5 - i) for i, c in enumerate(codes))


def _as_index(index: int | Tensor) -> Tensor:
    if isinstance(index, Tensor) and not index.dtype.is_floating_point and index.dtype != torch.bool:
        return index.long()
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        return torch.tensor(int(index))
    raise TnasError(f"An architecture index must be an integer 0..{NUM_ARCHS - 1} (or an integer tensor), "
                    f"got {index!r}.")


def _check_rows(path: Path, rows: int, strict: bool) -> None:
    if rows == NUM_ARCHS or (not strict and 0 < rows <= NUM_ARCHS):
        return
    what = "a partial table" if 0 < rows < NUM_ARCHS else "not an NB201 table"
    allow = " Pass strict=False to use a partial table (e.g. a conversion of part of the official files)." \
        if 0 < rows < NUM_ARCHS else ""
    raise TnasError(f"'{path}' has {rows} data rows; expected {NUM_ARCHS} (one per NB201 cell), so it is "
                    f"{what}.{allow} {HOW}")


def _check_unique(path: Path, what: str, values: np.ndarray, fix: str) -> None:
    uniq, first, counts = np.unique(values, return_index=True, return_counts=True)
    if (counts > 1).any():
        v = uniq[counts > 1][0]
        lines = [int(r) + 2 for r in np.flatnonzero(values == v)]
        raise TnasError(f"'{path}': the same {what} appears on lines {lines}; each NB201 cell must appear once. {fix}")


def parse_arch(text: str, space: SearchSpace, table: NB201Table | None = None) -> Tensor:
    """An NB201 string or an official index (needs `table`) -> long [6]."""
    s = text.strip()
    if re.fullmatch(r"[+-]?\d+", s):
        if table is None:
            raise TnasError(f"'{s}' is an architecture index; turning an index into a cell needs the NB201 table "
                            f"(the official order is stored only there). Pass the table, or give the NB201 string.")
        return table.arch_of(int(s))
    try:
        return space.from_genotype(s)
    except TnasError as e:
        raise TnasError(f"{e} (An official index 0..{NUM_ARCHS - 1} is accepted too.)") from None


def locate_table(path: str | Path | None = None) -> Path:
    """The table file to use, in this order:

    1. `path`: an nb201_all.csv, a bundle .npz, or a folder holding nb201_all.csv (or nb201/nb201_all.csv);
    2. `$TNAS_DATA/nb201/nb201_all.csv` when `$TNAS_DATA/nb201` exists (a folder there without the CSV is an error);
    3. the copy bundled with tnas (`tnas.bench.bundle.BUNDLE_FILE`).
    """
    if path is None:
        env = os.environ.get(ENV_VAR)
        if not env or not (Path(env).expanduser() / "nb201").exists():
            return BUNDLE_FILE
        path, where = Path(env).expanduser() / "nb201", f"${ENV_VAR}/nb201"
    else:
        where = "the given path"
    p = Path(path).expanduser()
    if p.is_file():
        return p.resolve()
    if not p.exists():
        raise TnasError(f"Could not find the NB201 table. Looked in: {p} ({where}). Pass an existing nb201_all.csv "
                        f"or its folder, or leave the path out to use the table bundled with tnas. {CONVERT_HOW}")
    for candidate in (p / TABLE_FILE, p / "nb201" / TABLE_FILE):
        if candidate.is_file():
            return candidate.resolve()
    raise TnasError(f"'{p}' holds no {TABLE_FILE} (it was named by {where}). {HOW}")


def load_nb201(path: str | Path | None = None, strict: bool = True) -> NB201Table:
    """Load (once per process and file version) the NB201 ground-truth table.

    Args:
        path: nb201_all.csv, its folder, or a bundle .npz; default $TNAS_DATA/nb201 when that exists,
            else the copy bundled with tnas (all columns, ~10 ms).
        strict: require all 15,625 cells. strict=False accepts a partial table (e.g. converted from
            part of the official files); looking up a missing cell then raises TnasError.
    Raises:
        TnasError: table not found (names the places tried), or corrupt (names line, column, value).
    """
    file = locate_table(path)
    stat = file.stat()
    return _load_cached(file, stat.st_mtime_ns, stat.st_size, strict)


@functools.lru_cache(maxsize=8)
def _load_cached(file: Path, mtime_ns: int, size: int, strict: bool) -> NB201Table:
    # mtime/size are part of the cache key so a rewritten file is reloaded, not served stale.
    return NB201Table.from_bundle(file) if file.suffix == ".npz" else NB201Table.from_csv(file, strict=strict)
