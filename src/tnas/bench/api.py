"""The NAS-Bench-201 / NATS-Bench (topology) API that research code already calls, on the tnas table.

Change one import and code written against `nas_201_api` or `nats_bench` runs on the bundled table::

    from tnas.bench.api import NASBench201API as API        # was: from nas_201_api import ...
    api = API(None, verbose=False)
    from tnas.bench.api import create                        # was: from nats_bench import create
    api = create(None, 'tss', fast_mode=True, verbose=False)

Names, arguments, dataset names ('cifar10-valid', 'cifar10', 'cifar100', 'ImageNet16-120'), set names
and dict keys are upstream's, with upstream's meaning. Where tnas differs (docs/nb201-api.md):

* Defaults hp='200', is_random=False (upstream: hp='12', is_random=True, i.e. one random seed). The
  table holds the mean over seeds at the last epoch, so is_random=True, a seed, or an iepoch other than
  None / hp-1 raise TnasError saying so.
* Returned dicts hold what the table has. A missing upstream key raises `MissingBenchKey` (both a
  TnasError and a KeyError) saying why and what to use instead; `.get(key)` still returns None.
* No weights and no per-seed results (`get_net_param`, `query_by_index`, ...): clear errors.
* The first argument is a tnas table (file or folder) or None. Upstream file names
  ('NAS-Bench-201-v1_1-096897.pth', 'NATS-tss-v1_0-3ffb9-simple', ...) are ignored with a warning.
* `query_index_by_arch` also takes a tnas arch (long [6]); an out-of-range int raises (a ValueError,
  as upstream). `simulate_train_eval` works for 'cifar10' only and uses seed means.

Which column serves each key (v1.1: NB201 v1.1 seed mean; NATS: NATS-Bench tss seed mean; ST: the Syne Tune
export of NB201; columns as described in shared/data/README.md):

    get_more_info, hp='200'
      cifar10-valid    valid-accuracy (x-valid, 25k-train run)   c10_valid                    v1.1
                       valid-loss, valid-per-time, -all-time     nats_c10v_valid_*            NATS
                       test-* (ori-test of that same run)        nats_c10v_oritest_*          NATS
                       train-*                                   nats_c10v_train_*            NATS
      cifar10          test-accuracy (ori-test, 50k-train run)   c10_test                     v1.1
                       train-per-time, train-all-time            st_c10_train_time_*          ST
      cifar100         valid-/test-accuracy (x-valid / x-test)   c100_valid / c100_test       v1.1
      ImageNet16-120   valid-/test-accuracy (x-valid / x-test)   in16_valid / in16_test       v1.1
    get_more_info, hp='12': valid-/test-accuracy from e12_* (v1.1); cifar10-valid: valid only, cifar10: test only
    get_cost_info
      cifar10(-valid)  flops (M), params (M), latency (s)        c10_flops_M, c10_params_M, c10_latency_s   ST
      cifar10-valid    T-{train,x-valid,ori-test}@{epoch,total}  nats_c10v_*time* (hp='200')               NATS
      cifar10          T-train@epoch, T-train@total              st_c10_train_time_* (hp='200')            ST
      cifar100, IN16   flops, params                             tnas.supernet.nb201_cost counter    analytic
"""
from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from tnas.bench.api_keys import (
    DATASET_NAMES, HPS, NUM_CLASSES, INPUT_SIZE, SETS, FIELDS, EVAL_NAMES, SET_TO_KEY, INFO_COLUMNS, C10_COST, TIME_COLUMNS, MissingBenchKey, BenchInfo, why_missing, remap_dataset_set_names,
)
from tnas.bench.nb201 import NB201Table, load_nb201
from tnas.errors import TnasError, unknown
from tnas.space.nb201 import NB201_OPS

logger = logging.getLogger(__name__)

_UPSTREAM_FILE = re.compile(r"NAS-Bench-201-v1_[01]-[0-9a-f]+(\.pth)?|NAS-Bench-201-v1_1-archive|"
                            r"NATS-tss-v1_0-3ffb9(-simple|-full)?(\.pickle\.pbz2)?")
_SIZE_FILE = re.compile(r"NATS-sss-v1_0-50262.*")
_RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


class NASBench201API:
    """NAS-Bench-201 (v1.1) answered from the tnas table, with the `nas_201_api` / `nats_bench` names.

    Args:
        file_path_or_dict: None (the default table lookup, see `load_nb201`), or a tnas table file or
            folder. Upstream benchmark files are ignored with a warning (tnas reads its own table);
            NATS size-space files and upstream dicts raise TnasError.
        verbose: log each call at INFO level (upstream prints).
        fast_mode: accepted for `nats_bench` compatibility; the table is always in memory.
    """

    def __init__(self, file_path_or_dict: str | Path | dict | None = None, verbose: bool = True,
                 fast_mode: bool = False) -> None:
        self.verbose, self.fast_mode, self._used_time = verbose, fast_mode, 0.0
        self.search_space_name, self.archive_dir, self.avaliable_hps = "topology", None, list(HPS)  # sic
        self._table: NB201Table = load_nb201(_table_path(file_path_or_dict))
        self.filename = self._table.path.name
        self._have = set(self._table.columns())
        self._cols: dict[Any, np.ndarray] = {}  # per-index arrays, filled on first use
        self._meta: list[str] | None = None

    # ---- architectures -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        n = len(self)
        return f"{type(self).__name__}({n}/{n} architectures, fast_mode={self.fast_mode}, file={self.filename})"

    def __getitem__(self, index: int) -> str:
        return self.meta_archs[index]

    @property
    def meta_archs(self) -> list[str]:
        """The NB201 string of every architecture, in official index order (list of 15,625 str)."""
        if self._meta is None:
            ops = np.asarray(NB201_OPS)[self._archs().numpy()].tolist()
            self._meta = [f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|" for a, b, c, d, e, f in ops]
        return self._meta

    @property
    def archstr2index(self) -> dict[str, int]:
        """NB201 string -> official index."""
        return {s: i for i, s in enumerate(self.meta_archs)}

    @property
    def evaluated_indexes(self) -> set[int]:
        return set(range(len(self)))

    @property
    def used_time(self) -> float:
        """Seconds of simulated training accumulated by `simulate_train_eval`."""
        return self._used_time

    def reset_time(self) -> None:
        self._used_time = 0.0

    def arch(self, index: int) -> str:
        """The NB201 string of architecture `index` (0..15624)."""
        return self.meta_archs[self._check_index(index)]

    def query_index_by_arch(self, arch: Any) -> int:
        """Official index of `arch`, or -1 when it is not an NB201 cell.

        Args:
            arch: an NB201 string; an object with `.tostr()` (upstream CellStructure); an index (returned
                as is; out of range raises TnasError, a ValueError, as upstream); or a tnas arch, long [6].
        """
        self._log("query_index_by_arch", arch=arch)
        if isinstance(arch, Tensor) and arch.dim() == 0 and not arch.dtype.is_floating_point:
            arch = int(arch)
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            return self._check_index(int(arch))
        if not isinstance(arch, (str, Tensor)) and hasattr(arch, "tostr"):
            arch = arch.tostr()
        try:
            if isinstance(arch, str):
                arch = self._table.space.from_genotype(arch)
            elif not isinstance(arch, Tensor) or arch.dtype != torch.long or arch.shape != (6,):
                return -1
            return int(self._table.index_of(arch.cpu()))
        except TnasError:
            return -1

    def random(self, generator: torch.Generator | None = None) -> int:
        """A uniformly random index (upstream uses Python's global RNG; pass `generator` to avoid global state)."""
        return int(torch.randint(len(self), (1,), generator=generator))

    # ---- results -----------------------------------------------------------------------
    def get_more_info(self, index: Any, dataset: str, iepoch: int | None = None, hp: str | int = "200",
                      is_random: bool | int = False) -> BenchInfo:
        """Final-epoch results of architecture `index` (index, string or arch) trained on `dataset`.

        Keys as upstream: '{train,valid,test,valtest}-{loss,accuracy,per-time,all-time}' as the table
        has them (accuracy %, loss cross-entropy, times seconds; module docstring: which column).
        Upstream meaning per dataset: 'cifar10-valid' valid = x-valid, test = ori-test (both of the
        25k-train run); 'cifar10' test = ori-test (50k train), no valid keys; 'cifar100' /
        'ImageNet16-120' valid = x-valid, test = x-test, valtest = ori-test (not in the table).
        Raises:
            TnasError: unknown dataset/hp/arch; is_random not False; iepoch not None or hp-1.
        """
        dataset, hp = self._dataset(dataset), self._hp(hp)
        self._check_seed_epoch(hp, iepoch, is_random)
        i = self._index(index)
        self._log("get_more_info", index=index, dataset=dataset, hp=hp)
        upstream = tuple(f"{s}-{f}" for s in SETS[dataset] for f in FIELDS)
        return self._info(INFO_COLUMNS[(dataset, hp)], i, upstream, dataset, hp,
                          f"get_more_info({i}, '{dataset}', hp='{hp}')")

    def get_cost_info(self, index: Any, dataset: str, hp: str | int = "200") -> BenchInfo:
        """Costs of architecture `index` on `dataset`: 'flops' (MFLOPs = M multiply-accumulates),
        'params' (millions), 'latency' (s, CIFAR-10 only) and, for hp='200', the upstream time keys
        'T-train@epoch', 'T-train@total', 'T-<set>@epoch', 'T-<set>@total' the table has (s).

        CIFAR-10 costs are the table's; CIFAR-100 / ImageNet16-120 FLOPs/params come from
        `tnas.supernet.nb201_cost` (100 / 120 classes, 32 / 16 px input), shifted by the table's own CIFAR-10
        deviation from that count for the 150 cells where it differs (one conv op), so every dataset's
        network differs from CIFAR-10's only in its classifier and input size, as upstream's do.
        """
        dataset, hp = self._dataset(dataset), self._hp(hp)
        i = self._index(index)
        self._log("get_cost_info", index=index, dataset=dataset, hp=hp)
        upstream = ("flops", "params", "latency", "T-train@epoch", "T-train@total",
                    *(f"T-{n}@{w}" for n in EVAL_NAMES[dataset] for w in ("epoch", "total")))
        return self._info(TIME_COLUMNS.get(dataset, {}) if hp == "200" else {}, i, upstream, dataset, hp,
                          f"get_cost_info({i}, '{dataset}', hp='{hp}')", costs=True)

    def get_latency(self, index: Any, dataset: str, hp: str | int = "200") -> float:
        """Inference latency in seconds (CIFAR-10 network; as upstream's `get_cost_info(...)['latency']`)."""
        return self.get_cost_info(index, dataset, hp)["latency"]

    def get_net_config(self, index: Any, dataset: str) -> dict[str, Any]:
        """Upstream's network config: {'name': 'infer.tiny', 'C': 16, 'N': 5, 'arch_str', 'num_classes'}.

        Build it in tnas with `NB201Network(api_arch_tensor, C, N, num_classes)` (tnas.supernet.nb201).
        """
        dataset = self._dataset(dataset)
        return {"name": "infer.tiny", "C": 16, "N": 5, "arch_str": self.arch(self._index(index)),
                "num_classes": NUM_CLASSES[dataset]}

    def find_best(self, dataset: str, metric_on_set: str, FLOP_max: float | None = None,  # noqa: N803
                  Param_max: float | None = None, hp: str | int = "200") -> tuple[int, float | None]:  # noqa: N803
        """(index, accuracy %) of the best cell on `metric_on_set`, among cells with FLOPs <= FLOP_max
        (MFLOPs) and params <= Param_max (millions); (-1, None) when none qualifies. Ties go to the
        lowest index, as upstream. Sets as upstream: 'cifar10-valid': 'x-valid' | 'valid' | 'ori-test' |
        'train'; 'cifar10': 'ori-test' | 'train'; 'cifar100' / 'ImageNet16-120': 'x-valid' | 'x-test' |
        'ori-test' | 'train'; plus the shorthand of `remap_dataset_set_names` ('valid', 'test').
        """
        hp = self._hp(hp)
        dataset, metric_on_set = remap_dataset_set_names(self._dataset(dataset), metric_on_set)
        sets = SET_TO_KEY[dataset]
        if metric_on_set not in sets:
            raise unknown(f"metric_on_set for '{dataset}'", metric_on_set, sets,
                          "('valid' / 'test' are upstream's shorthand, see remap_dataset_set_names.)")
        key = f"{sets[metric_on_set]}-accuracy"
        self._log("find_best", dataset=dataset, metric_on_set=metric_on_set, hp=hp)
        upstream = tuple(f"{s}-accuracy" for s in SETS[dataset])
        column = INFO_COLUMNS[(dataset, hp)].get(key)
        if column is None or column not in self._have:
            why = why_missing(dataset, hp, key, upstream, column)
            raise MissingBenchKey(f"find_best('{dataset}', '{metric_on_set}', hp='{hp}') needs '{key}': {why}")
        acc = self._by_index(column)
        ok = np.ones(len(acc), dtype=bool)
        for limit, what in ((FLOP_max, "flops"), (Param_max, "params")):
            if limit is not None:
                ok &= self._cost(dataset, what) <= limit
        if not ok.any():
            return -1, None
        best = int(np.argmax(np.where(ok, acc, -np.inf)))  # first maximum = lowest index
        return best, float(acc[best])

    def simulate_train_eval(self, arch: Any, dataset: str, iepoch: int | None = None, hp: str | int = "200",
                            account_time: bool = True) -> tuple[float, float, float, float]:
        """(valid accuracy %, latency s, time cost s, total used time s) as upstream, for dataset 'cifar10'.

        Upstream samples one seed; tnas returns the seed mean (cifar10-valid x-valid, 200 epochs).
        Time cost = train-all-time + valid-per-time of the cifar10-valid run.
        """
        if dataset not in ("cifar10", "cifar100", "ImageNet16-120"):
            raise unknown("simulate_train_eval dataset", dataset, ("cifar10", "cifar100", "ImageNet16-120"))
        if dataset != "cifar10" or self._hp(hp) != "200":
            raise TnasError(f"simulate_train_eval('{dataset}', hp='{hp}') needs training times, which the table "
                            "has only for dataset 'cifar10' (its cifar10-valid run) with hp='200'. Use "
                            "get_more_info(index, dataset)['valid-accuracy'] and count cost yourself.")
        index = self._index(arch)
        info = self.get_more_info(index, "cifar10-valid", iepoch=iepoch, hp="200")
        cost = info["train-all-time"] + info["valid-per-time"]
        if account_time:
            self._used_time += cost
        return info["valid-accuracy"], self.get_latency(index, "cifar10"), cost, self._used_time

    # ---- upstream calls without data here --------------------------------------------------
    def reload(self, archive_root: str | None = None, index: int | None = None) -> None:
        """No-op: the whole table is in memory."""

    def clear_params(self, index: int, hp: str | None = None) -> None:
        """No-op: tnas holds no trained weights."""

    def get_net_param(self, index: int, dataset: str, seed: int | None, hp: str = "200") -> Any:
        raise _no_raw("get_net_param", "trained weights",
                      "Build the network with get_net_config() and tnas.supernet.nb201.NB201Network, then train it.")

    def query_meta_info_by_index(self, arch_index: int, hp: str = "200") -> Any:
        raise _no_raw("query_meta_info_by_index", "per-seed ArchResults objects", "Use get_more_info().")

    def query_by_index(self, arch_index: int, dataname: str | None = None, hp: str = "200") -> Any:
        raise _no_raw("query_by_index", "per-seed ArchResults / ResultsCount objects", "Use get_more_info().")

    def query_info_str_by_arch(self, arch: Any, hp: str = "200") -> str:
        raise _no_raw("query_info_str_by_arch", "per-run summaries", "Use get_more_info().")

    def query_by_arch(self, arch: Any, hp: str = "200") -> str:
        raise _no_raw("query_by_arch", "per-run summaries", "Use get_more_info().")

    def show(self, index: int = -1) -> None:
        raise _no_raw("show", "per-run summaries", "Use get_more_info() and get_cost_info().")

    def statistics(self, dataset: str, hp: str | int) -> dict[int, int]:
        raise _no_raw("statistics", "seed counts", "Every value is a mean over 1-3 seeds.")

    @staticmethod
    def str2lists(arch_str: str) -> list[tuple[tuple[str, int], ...]]:
        """'|a~0|+|b~0|c~1|+...' -> [((a, 0),), ((b, 0), (c, 1)), ...]: each node's (op, input node) pairs."""
        return [tuple((op, int(src)) for op, src in re.findall(r"\|([^|~]+)~(\d+)(?=\|)", node))
                for node in arch_str.split("+")]

    @staticmethod
    def str2matrix(arch_str: str, search_space: Iterable[str] = NB201_OPS) -> np.ndarray:
        """The cell as a 4x4 matrix: [i, j] = index in `search_space` of the op on edge j -> i (0: none)."""
        names = list(search_space)
        nodes = NASBench201API.str2lists(arch_str)
        out = np.zeros((len(nodes) + 1, len(nodes) + 1))
        for i, node in enumerate(nodes, start=1):
            for op, j in node:
                if op not in names:
                    raise unknown("NB201 operation", op, names)
                out[i, j] = names.index(op)
        return out

    # ---- internals ---------------------------------------------------------------------
    def _info(self, columns: dict[str, str], i: int, upstream: tuple[str, ...], dataset: str, hp: str,
              what: str, costs: bool = False) -> BenchInfo:
        values = {k: float(self._by_index(c)[i]) for k, c in columns.items() if c in self._have}
        if costs:
            for k in ("flops", "params", "latency"):
                if dataset in ("cifar10", "cifar10-valid") and C10_COST[k] in self._have:
                    values[k] = float(self._by_index(C10_COST[k])[i])
                elif k != "latency" and C10_COST[k] in self._have:
                    values[k] = float(self._cost(dataset, k)[i])
            values = {k: values[k] for k in upstream if k in values}  # upstream's key order
        return BenchInfo(values, what, dataset, hp, upstream, columns)

    def _by_index(self, column: str) -> np.ndarray:
        """float64 [15625] of `column`, ordered by official index (cached per API object)."""
        if column not in self._cols:
            self._cols[column] = self._table.column(column).numpy()[self._keys()]
        return self._cols[column]

    def _keys(self) -> np.ndarray:
        if "keys" not in self._cols:
            self._cols["keys"] = self._table.space.keys(self._archs()).numpy()
        return self._cols["keys"]

    def _archs(self) -> Tensor:
        """long [15625, 6], row i = architecture i."""
        return self._table.arch_of(torch.arange(len(self)))

    def _cost(self, dataset: str, what: str) -> np.ndarray:
        """'flops' (M) or 'params' (M) of every cell for `dataset`: float64 [15625] by index."""
        table = self._by_index(C10_COST[what])
        if NUM_CLASSES[dataset] == 10:
            return table
        if (dataset, what) not in self._cols:
            here, c10 = _count(self._archs(), what, dataset), _count(self._archs(), what, "cifar10")
            scale = 1.0 if what == "params" else (INPUT_SIZE[dataset] / 32) ** 2  # conv MACs scale with H*W
            self._cols[(dataset, what)] = (here + scale * (table * 1e6 - c10)) / 1e6
        return self._cols[(dataset, what)]

    def _index(self, arch: Any) -> int:
        i = self.query_index_by_arch(arch)
        if i < 0:
            raise TnasError(f"{arch!r} is not an NB201 architecture. Pass an index 0..{len(self) - 1}, an NB201 "
                            f"string such as '{_RESNET}', an object with .tostr(), or a long tensor [6].")
        return i

    def _check_index(self, index: Any) -> int:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < len(self):
            raise TnasError(f"Invalid architecture index {index!r}; expected an integer in 0..{len(self) - 1}.")
        return int(index)

    @staticmethod
    def _dataset(name: str) -> str:
        if name not in DATASET_NAMES:
            raise unknown("NB201 API dataset", name, DATASET_NAMES,
                          "These are upstream's names ('cifar10-valid' = trained on 25k images, with x-valid; "
                          "'cifar10' = trained on 50k, ori-test only).")
        return name

    @staticmethod
    def _hp(hp: str | int) -> str:
        if str(hp) not in HPS:
            raise unknown("hp (training epochs)", hp, HPS,
                          "Pass hp='200' or hp='12': the topology benchmark's 200- and 12-epoch schedules.")
        return str(hp)

    @staticmethod
    def _check_seed_epoch(hp: str, iepoch: int | None, is_random: bool | int) -> None:
        if is_random is not False:
            what = "is_random=True (one randomly chosen seed, upstream's default)" if is_random is True \
                else f"is_random={is_random!r} (one seed's run)"
            raise TnasError(f"{what} is not available: the table holds only the mean over each cell's seeds. "
                            "Pass is_random=False, which upstream also answers with the seed mean.")
        if iepoch is not None and iepoch != int(hp) - 1:
            raise TnasError(f"iepoch={iepoch!r} is not available: the table holds only the last epoch of each run "
                            f"(iepoch=None or {int(hp) - 1} for hp='{hp}'), no per-epoch curves. For a cheap "
                            "low-fidelity score use hp='12' (final numbers of the 12-epoch schedule).")

    def _log(self, call: str, **kw: Any) -> None:
        if self.verbose and logger.isEnabledFor(logging.INFO):
            logger.info("%s(%s)", call, ", ".join(f"{k}={v!r}" for k, v in kw.items()))


class NATStopology(NASBench201API):
    """`nats_bench.NATStopology` (argument order: file_path_or_dict, fast_mode, verbose)."""

    def __init__(self, file_path_or_dict: str | Path | dict | None = None, fast_mode: bool = False,
                 verbose: bool = True) -> None:
        super().__init__(file_path_or_dict, verbose=verbose, fast_mode=fast_mode)


def create(file_path_or_dict: str | Path | dict | None, search_space: str, fast_mode: bool = False,
           verbose: bool = True) -> NATStopology:
    """`nats_bench.create`: search_space 'tss' / 'topology' (the NB201 space); 'sss' / 'size' is not in tnas."""
    if search_space in ("sss", "size"):
        raise TnasError(f"search_space='{search_space}' (NATS-Bench size space) is not available: tnas has only the "
                        "topology space (NB201). Use create(None, 'tss').")
    if search_space not in ("tss", "topology"):
        raise unknown("NATS-Bench search space", search_space, ("tss", "topology", "sss", "size"))
    return NATStopology(file_path_or_dict, fast_mode=fast_mode, verbose=verbose)


def _table_path(file_path_or_dict: str | Path | dict | None) -> str | Path | None:
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
        warnings.warn(f"Ignoring '{file_path_or_dict}': tnas answers from its own table (NB201 v1.1, i.e. "
                      "NAS-Bench-201-v1_1-096897, seed means), found by the default lookup. Pass None to silence "
                      "this, or convert the official file with `tnas table convert`.", UserWarning, stacklevel=3)
        return None
    return file_path_or_dict


def _no_raw(call: str, what: str, instead: str) -> TnasError:
    return TnasError(f"{call}() is not available: the tnas table holds only final-epoch seed means, no {what}. "
                     f"{instead}")


def _count(archs: Tensor, what: str, dataset: str) -> np.ndarray:
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
