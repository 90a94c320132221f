"""Convert the official NATS-Bench / NAS-Bench-201 topology files into the compact `nb201_all.csv`.

Reads, through the official `nats_bench` package (`pip install 'tnas[nats]'`):

* a NATS-Bench topology *directory* (`NATS-tss-v1_0-3ffb9-simple` or `-full`): `meta.pickle.pbz2`
  plus one `{index:06d}.pickle.pbz2` per architecture (the layout `nats_bench.create(dir, 'tss',
  fast_mode=True)` reads);
* the single-file NATS-Bench benchmark `NATS-tss-v1_0-3ffb9.pickle.pbz2`;
* the NAS-Bench-201 v1.1 file `NAS-Bench-201-v1_1-096897.pth` (a `torch.save`d dict whose
  per-architecture entries are `{'less': 12-epoch, 'full': 200-epoch}` ArchResults states).

For each architecture it takes the 200-epoch results (hp='200'), averaged over the seeds present
(`ArchResults.get_metrics(..., is_random=False)`), on the splits of `tnas.bench.PROTOCOL`, plus the
CIFAR-10 FLOPs / params / latency of `ArchResults.get_compute_costs('cifar10')`. Architectures are
converted one at a time so the directory formats never hold more than one in memory.

What was tested here: the official files cannot be downloaded on the development machine, so
`tests/unit/test_bench.py` writes small files in all three formats with `nats_bench`'s own classes
(`ResultsCount`, `ArchResults`, `pickle_save`), checks the official API reads them, converts them and
compares the rows with the real table. A conversion of the real multi-GB files has *not* been run.

A source with results for fewer than 15,625 architectures gives a partial table (a warning says
so); `load_nb201` rejects it unless called with `strict=False`.

Safety: both formats are pickles, which can run code when loaded. They are read with a loader
that accepts plain data only (`tnas.data.formats.PlainUnpickler`, `torch.load(weights_only=True)`);
a file holding anything else is refused unless the caller passes `allow_unsafe_pickle=True`
(`tnas table convert --unsafe-pickle`), which loads it with Python's full unpickler.
"""
from __future__ import annotations

import bz2
import csv
import logging
import math
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tnas.bench.protocol import COST_COLUMNS, NUM_ARCHS, OP_COLUMNS, TABLE_FILE
from tnas.data.formats import PlainUnpickler
from tnas.errors import TnasError
from tnas.space import get_space

logger = logging.getLogger(__name__)

# (table column, NATS dataset, NATS eval set): the splits of tnas.bench.PROTOCOL.
SPLIT_SOURCES = (
    ("c10_valid", "cifar10-valid", "x-valid"),
    ("c10_test", "cifar10", "ori-test"),
    ("c100_valid", "cifar100", "x-valid"),
    ("c100_test", "cifar100", "x-test"),
    ("in16_valid", "ImageNet16-120", "x-valid"),
    ("in16_test", "ImageNet16-120", "x-test"),
)
OUT_COLUMNS = ("index", "arch_str", *OP_COLUMNS, *(c for c, _, _ in SPLIT_SOURCES), *COST_COLUMNS.values())
_NB201_HP = {"200": "full", "12": "less"}  # NAS-Bench-201 .pth keys per training schedule


def _nats() -> Any:
    try:
        import nats_bench
    except ImportError as e:
        raise TnasError(
            "Converting official NATS-Bench files needs the `nats_bench` package: pip install 'tnas[nats]' "
            "(or pip install nats_bench)."
        ) from e
    return nats_bench


def convert_nats(source: str | Path, out_dir: str | Path, hp: str = "200", *,
                 allow_unsafe_pickle: bool = False) -> Path:
    """Write `out_dir/nb201_all.csv` from official NATS-Bench topology / NAS-Bench-201 v1.1 files.

    Args:
        source: a NATS-tss directory (`...-simple`/`...-full`), a `NATS-tss-*.pickle.pbz2` file or a
            `NAS-Bench-201-v1_1-*.pth` file.
        out_dir: folder to write into (created if needed).
        hp: training schedule, '200' (the protocol of `tnas.bench`) or '12'.
        allow_unsafe_pickle: load files that hold more than plain data with the full unpickler,
            which runs whatever code the file contains: only for files from a trusted source.
    Returns:
        The path of the written table.
    """
    if hp not in _NB201_HP:
        raise TnasError(f"Unknown training schedule hp='{hp}'; expected '200' or '12'.")
    source, out = Path(source).expanduser(), Path(out_dir).expanduser() / TABLE_FILE
    if not source.exists():
        raise TnasError(f"'{source}' does not exist. Give the NATS-Bench topology folder (NATS-tss-v1_0-3ffb9-simple), "
                        "NATS-tss-v1_0-3ffb9.pickle.pbz2 or NAS-Bench-201-v1_1-096897.pth.")
    meta_archs, entries = _open_source(source, hp, allow_unsafe_pickle)
    space = get_space("nb201")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(out, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(OUT_COLUMNS)
        for index, state in entries:
            writer.writerow(_row(index, meta_archs, state, space, source))
            rows += 1
    if rows < NUM_ARCHS:
        logger.warning("%s: wrote a partial table (%d of %d cells); load it with load_nb201(..., strict=False)",
                       out, rows, NUM_ARCHS)
    logger.info("wrote %s (%d rows, hp=%s) from %s", out, rows, hp, source)
    return out


def _open_source(source: Path, hp: str, unsafe: bool) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """(meta_archs, iterator of (index, ArchResults state dict for `hp`)) for any supported source."""
    nb = _nats()
    if source.is_dir():
        meta_file = source / f"meta.{nb.api_utils.PICKLE_EXT}"
        if not meta_file.is_file():
            raise TnasError(f"'{source}' has no {meta_file.name}; expected a NATS-Bench topology folder "
                            "such as NATS-tss-v1_0-3ffb9-simple.")
        meta = _pickle_load(nb, meta_file, unsafe)
        if not isinstance(meta, dict) or "meta_archs" not in meta:
            raise TnasError(f"'{meta_file}' holds no meta_archs; expected the meta file of a NATS-Bench topology folder.")
        meta_archs = list(meta["meta_archs"])
        return meta_archs, _dir_entries(nb, source, len(meta_archs), hp, unsafe)
    if source.suffix == ".pth":
        data, key = _torch_load(source, unsafe), _NB201_HP[hp]
    else:
        data, key = _pickle_load(nb, source, unsafe), hp
    if not isinstance(data, dict) or not {"meta_archs", "arch2infos"} <= set(data):
        raise TnasError(f"'{source}' is not a NATS-Bench / NAS-Bench-201 benchmark file (no meta_archs/arch2infos).")
    infos = data["arch2infos"]
    return list(data["meta_archs"]), ((int(i), _hp_state(infos[i], key, i, source)) for i in sorted(infos))


def _dir_entries(nb: Any, folder: Path, count: int, hp: str, unsafe: bool) -> Iterator[tuple[int, dict]]:
    ext = nb.api_utils.PICKLE_EXT
    missing = 0
    for index in range(count):
        # the official API tries '{:06d}' then '{:d}' (NASBenchMetaAPI.reload)
        file = next((p for p in (folder / f"{index:06d}.{ext}", folder / f"{index}.{ext}") if p.is_file()), None)
        if file is None:
            missing += 1
            continue
        yield index, _hp_state(_pickle_load(nb, file, unsafe), hp, index, file)
    if missing:
        logger.warning("%s: %d of %d architectures have no file", folder, missing, count)


_UNSAFE_FIX = ("It holds Python objects beyond plain data, and loading those runs code from the file. If the file "
               "comes from a source you trust (the official NATS-Bench / NAS-Bench-201 download), pass "
               "--unsafe-pickle (convert_nats(..., allow_unsafe_pickle=True)) to load it with the full unpickler.")


def _pickle_load(nb: Any, path: Path, unsafe: bool) -> Any:
    """A NATS-Bench `.pickle.pbz2` file (bz2-compressed pickle), plain data only unless `unsafe`."""
    if unsafe:
        return nb.pickle_load(str(path))
    try:
        with bz2.BZ2File(path, "rb") as f:
            return PlainUnpickler(f).load()
    except pickle.UnpicklingError as e:
        if "refusing" in str(e):
            raise TnasError(f"Refusing to load '{path}' ({e}). {_UNSAFE_FIX}") from None
        raise TnasError(f"'{path}' is not a readable NATS-Bench pickle ({e}); re-download it.") from None
    except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise TnasError(f"'{path}' is not a readable NATS-Bench pickle ({type(e).__name__}: {e}); the file is "
                        "truncated or corrupt, re-download it.") from None


def _torch_load(path: Path, unsafe: bool) -> Any:
    import torch

    try:  # the official .pth holds only dicts, lists and numbers: the safe loader suffices
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "GLOBAL" not in str(e):
            raise TnasError(f"'{path}' is not a readable NAS-Bench-201 file; it is truncated or corrupt, "
                            "re-download it.") from None
        if not unsafe:
            refused = next((ln.strip() for ln in str(e).splitlines() if "GLOBAL" in ln), "")
            raise TnasError(f"Refusing to load '{path}' ({refused}). {_UNSAFE_FIX}") from None
        logger.warning("loading %s with the full unpickler (--unsafe-pickle)", path)
        return torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, OSError, EOFError) as e:
        raise TnasError(f"'{path}' is not a readable NAS-Bench-201 file ({type(e).__name__}); it is truncated or "
                        "corrupt, re-download it.") from None


def _hp_state(per_hp: Any, key: str, index: object, where: Path) -> dict:
    if not isinstance(per_hp, dict) or key not in per_hp:
        keys = list(per_hp) if isinstance(per_hp, dict) else type(per_hp).__name__
        raise TnasError(f"Architecture {index} in '{where}' has no results for schedule '{key}' (has: {keys}).")
    return per_hp[key]


def _row(index: int, meta_archs: list[str], state: dict, space: Any, source: Path) -> list[object]:
    nb = _nats()
    arch_str = meta_archs[index]
    ops = space.from_genotype(arch_str).tolist()  # validates the string
    result = nb.ArchResults.create_from_state_dict(state)
    if result.arch_str != arch_str:
        raise TnasError(f"'{source}': architecture {index} is '{result.arch_str}' in its results but "
                        f"'{arch_str}' in meta_archs; the file is inconsistent.")
    accs = []
    for column, dataset, split in SPLIT_SOURCES:
        try:
            accs.append(result.get_metrics(dataset, split, is_random=False)["accuracy"])
        except (KeyError, ValueError) as e:
            raise TnasError(f"'{source}': architecture {index} has no {dataset} {split} result ({e!r}), "
                            f"needed for column {column}.") from None
    costs = result.get_compute_costs("cifar10")
    cost = [costs.get(k) for k in COST_COLUMNS]
    return [index, arch_str, *ops, *(_num(v) for v in accs + cost)]


def _num(v: object) -> str:
    """Full-precision text; a missing value (None) becomes 'nan'."""
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))
