"""The NAS-Bench-201 / NATS-Bench (topology) API that research code already calls, on the tnas table.

Change one import and code written against `nas_201_api` or `nats_bench` runs on the bundled table::

    from tnas.bench.api import NASBench201API as API        # was: from nas_201_api import ...
    api = API(None, verbose=False)
    from tnas.bench.api import create                        # was: from nats_bench import create
    api = create(None, 'tss', fast_mode=True, verbose=False)

Names, arguments, dataset names ('cifar10-valid', 'cifar10', 'cifar100', 'ImageNet16-120'), set names
and dict keys are upstream's, with upstream's meaning. Where tnas differs (docs/nb201-api.md):

* Defaults as upstream: hp='12', is_random=True. The table holds the mean over seeds at the last
  epoch, so is_random=True (upstream: one random seed) is answered with the mean and says so once per API
  object (a UserWarning); a seed (is_random=777) or an iepoch other than None / hp-1 raise TnasError.
* Returned dicts hold what the table has. A missing upstream key raises `MissingBenchKey` (both a
  TnasError and a KeyError) saying why and what to use instead; `.get(key)` still returns None.
* No weights and no per-seed results (`get_net_param`, `query_by_index(i, dataset)`, ...): clear errors.
  `query_meta_info_by_index` / `query_by_index(i)` return a `TableArchResults` (api_results.py).
* The first argument is a tnas table (file or folder) or None. Upstream file names
  ('NAS-Bench-201-v1_1-096897.pth', 'NATS-tss-v1_0-3ffb9-simple', ...) are ignored with a warning.
* `query_index_by_arch` also takes a tnas arch (long [6]); an out-of-range int raises (a ValueError,
  as upstream). Latency is known for the CIFAR-10 network only: `simulate_train_eval` returns None as
  latency on cifar100 / ImageNet16-120 (said once).

Which table column serves each key, and where it comes from: the docstring of `tnas.bench.api_keys`.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from tnas.bench.api_keys import (
    C10_COST, DATASET_NAMES, EVAL_NAMES, FIELDS, HPS, INFO_COLUMNS, INPUT_SIZE, NUM_CLASSES, SET_TO_KEY, SETS,
    BenchInfo, MissingBenchKey, remap_dataset_set_names, time_columns, why_missing,
)
from tnas.bench.api_checks import count_costs, limit, no_raw, short, str2lists, str2matrix, table_path, warn_user
from tnas.bench.api_results import TableArchResults, info_string
from tnas.bench.nb201 import NB201Table, load_nb201
from tnas.errors import TnasError, unknown
from tnas.space.nb201 import NB201_OPS

logger = logging.getLogger(__name__)

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
        self._table: NB201Table = load_nb201(table_path(file_path_or_dict))
        self.filename = self._table.path.name
        self._have = set(self._table.columns())
        self._cols: dict[Any, np.ndarray] = {}  # per-index arrays, filled on first use
        self._meta: list[str] | None = None
        self._said: set[str] = set()  # notices already given by this object (each once)

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

    @property
    def full_train_epochs(self) -> int:
        """Epochs of the full schedule (200; hp='12' is the cheap proxy), as `nats_bench`'s topology API."""
        return 200

    @property
    def full_epochs_in_paper(self) -> int:
        return 200

    def is_topology(self) -> bool:
        return True

    def is_size(self) -> bool:
        return False

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
    def get_more_info(self, index: Any, dataset: str, iepoch: int | None = None, hp: str | int = "12",
                      is_random: bool | int = True) -> BenchInfo:
        """Final-epoch results of architecture `index` (index, string or arch) trained on `dataset`.

        Keys as upstream: '{train,valid,test,valtest}-{loss,accuracy,per-time,all-time}' as the table
        has them (accuracy %, loss cross-entropy, times seconds; module docstring: which column).
        Upstream meaning per dataset: 'cifar10-valid' valid = x-valid, test = ori-test (both of the
        25k-train run); 'cifar10' test = ori-test (50k train), no valid keys; 'cifar100' /
        'ImageNet16-120' valid = x-valid, test = x-test, valtest = ori-test (not in the table).
        Defaults as upstream: hp='12' (the 12-epoch schedule; pass hp='200' for the full one) and
        is_random=True, answered with the seed mean (what is_random=False gives upstream), said once.
        Raises:
            TnasError: unknown dataset/hp/arch; is_random a seed; iepoch not None or hp-1.
        """
        dataset, hp = self._dataset(dataset), self._hp(hp)
        self._check_seed_epoch(hp, iepoch, is_random)
        i = self._index(index)
        self._log("get_more_info", index=index, dataset=dataset, hp=hp)
        upstream = tuple(f"{s}-{f}" for s in SETS[dataset] for f in FIELDS)
        columns = {**time_columns(dataset, hp, info=True), **INFO_COLUMNS[(dataset, hp)]}
        return self._info(columns, i, upstream, dataset, hp, f"get_more_info({i}, '{dataset}', hp='{hp}')")

    def get_cost_info(self, index: Any, dataset: str, hp: str | int = "12") -> BenchInfo:
        """Costs of architecture `index` on `dataset`: 'flops' (MFLOPs = M multiply-accumulates),
        'params' (millions), 'latency' (s, CIFAR-10 only) and the upstream time keys 'T-train@epoch',
        'T-train@total', 'T-<set>@epoch', 'T-<set>@total' (s; totals over the hp epochs).

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
        return self._info(time_columns(dataset, hp, info=False), i, upstream, dataset, hp,
                          f"get_cost_info({i}, '{dataset}', hp='{hp}')", costs=True)

    def get_latency(self, index: Any, dataset: str, hp: str | int = "12") -> float:
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
                  Param_max: float | None = None, hp: str | int = "12", enforce_all: bool | None = None, *,  # noqa: N803
                  flop_max: float | None = None, param_max: float | None = None) -> tuple[int, float | None]:
        """(index, accuracy %) of the best cell on `metric_on_set`, among cells with FLOPs <= FLOP_max
        (MFLOPs) and params <= Param_max (millions); (-1, None) when none qualifies. Ties go to the
        lowest index, as upstream. Sets as upstream: 'cifar10-valid': 'x-valid' | 'valid' | 'ori-test' |
        'train'; 'cifar10': 'ori-test' | 'train'; 'cifar100' / 'ImageNet16-120': 'x-valid' | 'x-test' |
        'ori-test' | 'train'; plus the shorthand of `remap_dataset_set_names` ('valid', 'test').
        `flop_max` / `param_max` are `nats_bench`'s spellings; `enforce_all` is accepted and moot (every
        cell is in the table).
        """
        hp = self._hp(hp)
        limits = {"flops": limit("FLOP_max", FLOP_max, "flop_max", flop_max, "MFLOPs, e.g. 100.0"),
                  "params": limit("Param_max", Param_max, "param_max", param_max, "millions of parameters, e.g. 0.8")}
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
        for what, bound in limits.items():
            if bound is not None:
                ok &= self._cost(dataset, what) <= bound
        if not ok.any():
            return -1, None
        best = int(np.argmax(np.where(ok, acc, -np.inf)))  # first maximum = lowest index
        return best, float(acc[best])

    def simulate_train_eval(self, arch: Any, dataset: str, iepoch: int | None = None, hp: str | int = "12",
                            account_time: bool = True) -> tuple[float, float | None, float, float]:
        """(valid accuracy %, latency s, time cost s, total used time s) of training `arch` on `dataset`, as
        upstream: 'cifar10' means the cifar10-valid run (x-valid accuracy), 'cifar100' / 'ImageNet16-120'
        their x-valid; time cost = train-all-time + valid-per-time (hp epochs of training, one evaluation).

        Upstream draws one seed (is_random=True); the table gives the seed mean (said once). Latency is
        the CIFAR-10 network's; None for cifar100 / ImageNet16-120, which the table has no latency for.
        `nas_201_api`'s positional order (arch, dataset, hp) works too: a third argument '12' / '200' is hp.
        """
        if dataset not in ("cifar10", "cifar100", "ImageNet16-120"):
            raise unknown("simulate_train_eval dataset", dataset, ("cifar10", "cifar100", "ImageNet16-120"))
        if isinstance(iepoch, str) and iepoch in HPS:  # nas_201_api's order: (arch, dataset, hp, account_time)
            hp, iepoch = iepoch, None
        index = self._index(arch)
        info = self.get_more_info(index, "cifar10-valid" if dataset == "cifar10" else dataset, iepoch=iepoch,
                                  hp=hp, is_random=True)
        cost = info["train-all-time"] + info["valid-per-time"]
        latency = self.get_cost_info(index, dataset, hp=hp).get("latency")
        if latency is None:
            self._say_once("latency", f"simulate_train_eval(..., '{dataset}') returns None as latency: the table "
                           "has latencies only for the CIFAR-10 network.")
        if account_time:
            self._used_time += cost
        return info["valid-accuracy"], latency, cost, self._used_time

    def reload(self, archive_root: str | None = None, index: int | None = None) -> None:
        """No-op: the whole table is in memory."""

    def clear_params(self, index: int, hp: str | None = None) -> None:
        """No-op: tnas holds no trained weights."""

    def get_net_param(self, index: int, dataset: str, seed: int | None, hp: str = "200") -> Any:
        raise no_raw("get_net_param", "trained weights",
                      "Build the network with get_net_config() and tnas.supernet.nb201.NB201Network, then train it.")

    def query_meta_info_by_index(self, arch_index: Any, hp: str | int = "12") -> TableArchResults:
        """Upstream's ArchResults of one cell for schedule `hp`, with its query methods (`get_metrics`,
        `get_compute_costs`, ...) answered from the table (`tnas.bench.api_results.TableArchResults`)."""
        hp = self._hp(hp)
        self._log("query_meta_info_by_index", arch_index=arch_index, hp=hp)
        return TableArchResults(self, self._index(arch_index), hp)

    def query_by_index(self, arch_index: Any, dataname: str | None = None, hp: str | int = "12") -> TableArchResults:
        """`query_meta_info_by_index(arch_index, hp)` when `dataname` is None; a dataset's per-seed results
        (`dataname` given) are not in the table."""
        if dataname is not None:
            raise no_raw("query_by_index", f"per-seed ResultsCount objects (dataname={short(dataname)})",
                         "Call it without dataname, or use get_more_info(index, dataname, hp=hp, is_random=False).")
        return self.query_meta_info_by_index(arch_index, hp)

    def query_info_str_by_arch(self, arch: Any, hp: str | int = "12") -> str:
        """A text summary of `arch` for schedule `hp`: per dataset FLOPs, params, latency and the table's
        accuracies and losses (the table's own layout, not upstream's per-seed one)."""
        hp, index = self._hp(hp), self._index(arch)
        self._log("query_info_str_by_arch", arch=arch, hp=hp)
        return info_string(self, index, hp)

    def query_by_arch(self, arch: Any, hp: str | int = "12") -> str:
        return self.query_info_str_by_arch(arch, hp)

    def show(self, index: int = -1) -> None:
        raise no_raw("show", "per-run summaries", "Use get_more_info() and get_cost_info().")

    def statistics(self, dataset: str, hp: str | int) -> dict[int, int]:
        raise no_raw("statistics", "seed counts", "Every value is a mean over 1-3 seeds.")

    str2lists = staticmethod(str2lists)
    str2matrix = staticmethod(str2matrix)

    # ---- internals ---------------------------------------------------------------------
    def _info(self, columns: dict[str, str | tuple[str, float]], i: int, upstream: tuple[str, ...], dataset: str,
              hp: str, what: str, costs: bool = False) -> BenchInfo:
        """The dict of `upstream` keys for cell `i`; a column is a name or (name, factor) (a derived time)."""
        names = {k: c if isinstance(c, str) else c[0] for k, c in columns.items()}
        values = {k: float(self._by_index(names[k])[i]) * (1.0 if isinstance(c, str) else c[1])
                  for k, c in columns.items() if names[k] in self._have}
        if costs:
            for k in ("flops", "params", "latency"):
                if dataset in ("cifar10", "cifar10-valid") and C10_COST[k] in self._have:
                    values[k] = float(self._by_index(C10_COST[k])[i])
                elif k != "latency" and C10_COST[k] in self._have:
                    values[k] = float(self._cost(dataset, k)[i])
        values = {k: values[k] for k in upstream if k in values}  # upstream's key order
        return BenchInfo(values, what, dataset, hp, upstream, names)

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
            here, c10 = count_costs(self._archs(), what, dataset), count_costs(self._archs(), what, "cifar10")
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

    def _check_seed_epoch(self, hp: str, iepoch: int | None, is_random: bool | int) -> None:
        if isinstance(is_random, (bool, np.bool_)):
            if is_random:
                self._say_once("is_random", "is_random=True (upstream's default: one randomly chosen seed's run) is "
                               "answered with the mean over the cell's seeds, the only value the tnas table holds "
                               "(upstream's is_random=False). Pass is_random=False to say so yourself.")
        else:
            raise TnasError(f"is_random={short(is_random)} (one seed's run) is not available: the table holds only "
                            "the mean over each cell's seeds. Pass is_random=False (the mean) or True.")
        if iepoch is not None and iepoch != int(hp) - 1:
            raise TnasError(f"iepoch={short(iepoch)} is not available: the table holds only the last epoch of each "
                            f"run (iepoch=None or {int(hp) - 1} for hp='{hp}'), no per-epoch curves. For a cheap "
                            "low-fidelity score use hp='12' (final numbers of the 12-epoch schedule).")

    def _say_once(self, what: str, message: str) -> None:
        """A UserWarning the first time this API object meets `what`."""
        if what not in self._said:
            self._said.add(what)
            warn_user(message)

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
