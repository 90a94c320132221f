"""Fast, validating reads of numeric columns from the benchmark CSV files.

The fast path is `numpy.loadtxt` on only the requested columns (the C parser reads the 7 MB NB201
table's 16 needed columns in ~20 ms). When it fails, a slow pass with the `csv` module finds the
first bad cell so the error can name the file, line, column and value.
"""
from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tnas.errors import TnasError


def read_header(path: Path) -> list[str]:
    """Column names from the first line of `path` (a CSV file)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            first = f.readline()
    except OSError as e:
        raise TnasError(f"Could not read '{path}': {e}. Check the file exists and is readable.") from e
    except UnicodeDecodeError as e:
        raise TnasError(f"'{path}' is not a UTF-8 text CSV file ({e}). Point tnas at the CSV table itself.") from e
    names = [n.strip() for n in next(csv.reader([first]), [])]
    if not names or names == [""]:
        raise TnasError(f"'{path}' is empty; expected a CSV header line. Re-create it (see `tnas table --help`).")
    return names


def require_columns(path: Path, header: Sequence[str], required: Sequence[str], fix: str) -> None:
    """Raise TnasError naming every column of `required` missing from `header`."""
    missing = [c for c in required if c not in header]
    if missing:
        raise TnasError(
            f"'{path}' lacks the column(s) {', '.join(missing)} (it has: {', '.join(header)}). {fix}"
        )


def read_numeric(path: Path, header: Sequence[str], names: Sequence[str], fix: str) -> dict[str, np.ndarray]:
    """Parse the columns `names` of `path` as float64 arrays [R] (R data rows).

    Raises:
        TnasError: naming the line, column and value of the first cell that is not a number, or the
            first line with the wrong number of fields.
    """
    cols = [header.index(n) for n in names]
    try:
        with warnings.catch_warnings():  # an empty table is reported by the caller's row-count check
            warnings.simplefilter("ignore", UserWarning)
            data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=cols, dtype=np.float64, ndmin=2,
                              quotechar='"', encoding="utf-8")
    except (ValueError, IndexError) as e:
        _diagnose(path, header, names, fix)
        raise TnasError(f"Could not parse '{path}' ({e}). {fix}") from e  # _diagnose found nothing
    return {n: data[:, i].copy() for i, n in enumerate(names)}


def _diagnose(path: Path, header: Sequence[str], names: Sequence[str], fix: str) -> None:
    """Slow pass: raise TnasError for the first short row or non-numeric cell in `names`."""
    cols = {n: header.index(n) for n in names}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        for line, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise TnasError(
                    f"'{path}' line {line} has {len(row)} fields; the header has {len(header)}. "
                    f"The file is truncated or corrupt. {fix}"
                )
            for n, c in cols.items():
                try:
                    float(row[c])
                except ValueError:
                    raise TnasError(
                        f"'{path}' line {line}, column '{n}': value '{row[c]}' is not a number. {fix}"
                    ) from None


def check_finite(path: Path, name: str, values: np.ndarray, fix: str) -> None:
    """Raise TnasError naming the first NaN/inf in `values` (column `name` of `path`)."""
    bad = ~np.isfinite(values)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise TnasError(
            f"'{path}' line {r + 2}, column '{name}': value {values[r]} is not a finite number "
            f"(missing result?). {fix}"
        )


def check_integers(path: Path, name: str, values: np.ndarray, low: int, high: int, fix: str) -> None:
    """Raise TnasError naming the first value of `values` that is not an integer in low..high."""
    bad = (values != np.round(values)) | (values < low) | (values > high) | ~np.isfinite(values)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        v = values[r]
        shown = int(v) if math.isfinite(v) and v == round(v) else v
        raise TnasError(
            f"'{path}' line {r + 2}, column '{name}': value {shown} is out of range; expected an integer "
            f"in {low}..{high}. {fix}"
        )
