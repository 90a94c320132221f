"""The NB201 ground truth that ships inside tnas: every column of the table, as one compact `.npz`.

`src/tnas/bench/data/nb201.npz` holds all 15,625 cells x every numeric column of `nb201_all.csv`
plus the supernet estimates (`supernet_estimates_c10.csv`), each column float64 [15625] ordered by
architecture key (`space.keys(arch)`, base-5 digits of the six edge ops), and `index` int64 [15625]
(the official NB201 index of each key). float64 keeps every value bit-identical to the CSV's
parsed text; zlib brings the 42 + 2 columns to ~2.5 MB. Read with `allow_pickle=False`: nothing in
the file can execute code. Provenance and licences: `data/README.md` beside this file.

`write_bundle` rebuilds it from the CSV files (`python -m tnas.bench.bundle CSV_DIR OUT`).
"""
from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from tnas.bench import _csv
from tnas.bench.protocol import NUM_ARCHS, OP_COLUMNS, REQUIRED_COLUMNS, SUPERNET_COLUMNS, SUPERNET_FILE, TABLE_FILE
from tnas.errors import TnasError

BUNDLE_FILE = Path(__file__).resolve().parent / "data" / "nb201.npz"
BUNDLE_VERSION = 1
_META = ("_version", "_columns", "_sources", "index")
_REINSTALL = "The file ships with tnas: reinstall it (`pip install --force-reinstall tnas`) or pass a table path."


def key_of_ops(ops: np.ndarray) -> np.ndarray:
    """Architecture keys int64 [R] of op codes int [R, 6] (NB201 edge order), as `space.keys`."""
    return ops.astype(np.int64) @ np.array([5 ** (5 - i) for i in range(6)], dtype=np.int64)


def write_bundle(table_csv: Path, out: Path) -> Path:
    """Pack `table_csv` (an nb201_all.csv, all 15,625 rows) and the supernet estimates beside it into `out`.

    Returns:
        `out`. Columns are stored densely by key; `_sources` records each CSV's name and sha256.
    """
    table_csv, out = Path(table_csv), Path(out)
    header = _csv.read_header(table_csv)
    _csv.require_columns(table_csv, header, REQUIRED_COLUMNS, "Pack a complete NB201 table.")
    names = [c for c in header if c not in ("arch_str", *OP_COLUMNS)]
    cols = _csv.read_numeric(table_csv, header, [*OP_COLUMNS, *names], "Pack a complete NB201 table.")
    if len(cols["index"]) != NUM_ARCHS:
        raise TnasError(f"'{table_csv}' has {len(cols['index'])} rows; a bundle needs all {NUM_ARCHS}.")
    keys = key_of_ops(np.stack([cols[c] for c in OP_COLUMNS], axis=1))
    arrays: dict[str, np.ndarray] = {}
    for name in names:
        dense = np.full(NUM_ARCHS, np.nan)
        dense[keys] = cols[name]
        arrays[name] = dense.astype(np.int64) if name == "index" else dense
    sources = [_source(table_csv)]
    sup = table_csv.parent / SUPERNET_FILE
    if sup.is_file():
        arrays.update(_supernet_dense(sup, key_by_index=np.argsort(arrays["index"])))
        sources.append(_source(sup))
    columns = [n for n in arrays if n != "index"]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, _version=np.array(BUNDLE_VERSION), _columns=np.array(columns),
                        _sources=np.array(sources), **arrays)
    return out


def _source(path: Path) -> str:
    return f"{path.name} sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"


def _supernet_dense(path: Path, key_by_index: np.ndarray) -> dict[str, np.ndarray]:
    """The estimate columns of `path`, dense by key; each row's arch_str must match its index's cell."""
    from tnas.space import get_space

    fix = f"Use the shared copy of {SUPERNET_FILE}."
    header = _csv.read_header(path)
    names = list(SUPERNET_COLUMNS.values())
    _csv.require_columns(path, header, ["index", "arch_str", *names], fix)
    cols = _csv.read_numeric(path, header, ["index", *names], fix)
    keys = key_by_index[cols["index"].astype(np.int64)]
    strings = np.loadtxt(path, delimiter=",", skiprows=1, usecols=[header.index("arch_str")], dtype=str, ndmin=1)
    space = get_space("nb201")
    expected = [space.to_genotype(a) for a in space.from_keys(torch.from_numpy(keys))]
    if list(strings) != expected:
        raise TnasError(f"'{path}': arch_str and index disagree. {fix}")
    out = {}
    for n in names:
        out[n] = np.full(NUM_ARCHS, np.nan)
        out[n][keys] = cols[n]
    return out


class Bundle:
    """A bundle opened lazily: `index` and the column list at once, each column on first `read`.

    Reading one column decompresses only that member (~1 ms), so loading the table costs only
    the columns a caller uses.

    Raises:
        TnasError: the file is missing, not a bundle, of another version, or damaged.
    """

    def __init__(self, path: Path = BUNDLE_FILE) -> None:
        self.path = Path(path)
        meta = self._load(list(_META))
        if int(meta["_version"]) != BUNDLE_VERSION:
            raise TnasError(f"'{self.path}' is an NB201 bundle of version {int(meta['_version'])}; this tnas "
                            f"reads version {BUNDLE_VERSION}. {_REINSTALL}")
        self.columns: list[str] = [str(n) for n in meta["_columns"]]
        self.sources: list[str] = [str(s) for s in meta["_sources"]]
        self.index: np.ndarray = meta["index"].astype(np.int64)  # official index by key, int64 [15625]
        if np.sort(self.index).tolist() != list(range(NUM_ARCHS)):
            raise TnasError(f"'{self.path}' is damaged: its index is not a permutation of 0..{NUM_ARCHS - 1}. "
                            f"{_REINSTALL}")

    def read(self, name: str) -> np.ndarray:
        """Column `name` as float64 [15625] by key (NaN where unknown)."""
        values = self._load([name])[name]
        if values.shape != (NUM_ARCHS,) or values.dtype != np.float64:
            raise TnasError(f"'{self.path}' is damaged: column '{name}' is {values.dtype} {values.shape}, expected "
                            f"float64 ({NUM_ARCHS},). {_REINSTALL}")
        return values

    def _load(self, names: list[str]) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path, allow_pickle=False) as z:
                missing = [n for n in names if n not in z.files]
                if missing:
                    raise TnasError(f"'{self.path}' is not an NB201 bundle (it lacks {', '.join(missing)}). "
                                    f"{_REINSTALL}")
                return {n: z[n] for n in names}
        except FileNotFoundError:
            raise TnasError(f"The NB201 bundle '{self.path}' is missing. {_REINSTALL}") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise TnasError(f"'{self.path}' is not a readable NB201 bundle ({type(e).__name__}: {e}). "
                            f"{_REINSTALL}") from None


def write_csv(out_dir: Path, bundle: Path = BUNDLE_FILE) -> Path:
    """Write a bundle back as `out_dir/nb201_all.csv` (+ `supernet_estimates_c10.csv`), rows by index.

    The CSVs have the shared data's layout, so code that reads the CSV works on a machine that only
    has tnas. Floats are written as Python's shortest repr, so parsing them gives the same float64.
    Returns the table CSV's path.
    """
    from tnas.space import get_space

    b, out_dir = Bundle(bundle), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = np.argsort(b.index)  # row i = the cell with official index i
    space = get_space("nb201")
    ops = space.from_keys(torch.from_numpy(keys)).numpy()
    strings = [space.to_genotype(torch.from_numpy(a)) for a in ops]
    sup = [n for n in SUPERNET_COLUMNS.values() if n in b.columns]
    main = [n for n in b.columns if n not in sup]
    _write(out_dir / TABLE_FILE, ["index", "arch_str", *OP_COLUMNS, *main], strings,
           [ops[:, i] for i in range(6)] + [b.read(n)[keys] for n in main])
    if sup:
        _write(out_dir / SUPERNET_FILE, ["index", "arch_str", *sup], strings, [b.read(n)[keys] for n in sup])
    return out_dir / TABLE_FILE


def _write(path: Path, header: list[str], strings: list[str], columns: list[np.ndarray]) -> None:
    cells = [[str(int(v)) if c.dtype.kind in "iu" else _num(float(v)) for v in c] for c in columns]
    lines = [",".join(header)]
    lines += [",".join([str(i), s, *(col[i] for col in cells)]) for i, s in enumerate(strings)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _num(v: float) -> str:
    text = repr(v)
    return text[:-2] if text.endswith(".0") else text  # '10', as the shared CSV writes whole numbers


def main(argv: list[str] | None = None) -> int:
    """`python -m tnas.bench.bundle CSV_DIR OUT`: rebuild the bundle from the CSV files."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(f"usage: python -m tnas.bench.bundle DIR_WITH_{TABLE_FILE} OUT.npz", file=sys.stderr)
        return 2
    out = write_bundle(Path(args[0]) / TABLE_FILE, Path(args[1]))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
