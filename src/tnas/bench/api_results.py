"""Upstream's per-architecture result objects, answered from the tnas table.

`query_meta_info_by_index(i, hp)` / `query_by_index(i, hp=hp)` return an `ArchResults` upstream; here a
`TableArchResults` with the same query methods (`get_metrics`, `get_compute_costs`, ...) backed by the API's
dicts, so code that walks those objects runs. `info_string` is the text of `query_info_str_by_arch`.
"""
from __future__ import annotations

from typing import Any

from tnas.bench.api_keys import DATASET_NAMES, SET_TO_KEY, BenchInfo, MissingBenchKey, why_missing
from tnas.errors import TnasError, unknown

_METRIC_KEYS = {"loss": "loss", "accuracy": "accuracy", "cur_time": "per-time", "all_time": "all-time"}


class MetricInfo(BenchInfo):
    """`get_metrics(...)`'s dict: 'iepoch', 'loss', 'accuracy', 'cur_time', 'all_time' where the table has them.

    A missing key raises `MissingBenchKey` (a KeyError) saying why, as `BenchInfo` does.
    """

    def __init__(self, info: BenchInfo, prefix: str, what: str, iepoch: int) -> None:
        values: dict[str, float] = {"iepoch": iepoch}
        for key, field in _METRIC_KEYS.items():
            if f"{prefix}-{field}" in info:
                values[key] = info[f"{prefix}-{field}"]
        super().__init__(values, what, info.dataset, info.hp, info.upstream, info._columns)
        self.prefix = prefix

    def __missing__(self, key: str) -> Any:
        if key not in _METRIC_KEYS:
            raise MissingBenchKey(f"{self.what}['{key}']: not a key of upstream's get_metrics() either; keys: "
                                  f"iepoch, {', '.join(_METRIC_KEYS)}.")
        full = f"{self.prefix}-{_METRIC_KEYS[key]}"
        why = why_missing(self.dataset, self.hp, full, self.upstream, self._columns.get(full))
        raise MissingBenchKey(f"{self.what}['{key}'] (get_more_info's '{full}') is not available: {why}")


class TableArchResults:
    """One architecture's results for one schedule `hp`, with upstream ArchResults' query methods.

    Values are the table's seed means at the last epoch: `get_metrics(..., is_random=False)` is the call
    the table answers exactly; `is_random=True` gives the same mean (said once, as `get_more_info` does).
    """

    def __init__(self, api: Any, index: int, hp: str) -> None:  # api: NASBench201API (which imports this)
        self._api, self.arch_index, self.hp = api, index, hp
        self.arch_str = api.arch(index)

    def __repr__(self) -> str:
        return f"TableArchResults(arch-index={self.arch_index}, hp={self.hp}, {self.arch_str})"

    def get_dataset_names(self) -> list[str]:
        return list(DATASET_NAMES)

    def get_total_epoch(self, dataset: str | None = None) -> int:
        return int(self.hp)

    def get_metrics(self, dataset: str, setname: str, iepoch: int | None = None,
                    is_random: bool | int = False) -> MetricInfo:
        """{'iepoch', 'loss', 'accuracy', 'cur_time', 'all_time'} of `setname` ('train', 'x-valid', 'ori-test',
        'x-test'; 'valid' = 'x-valid' as upstream) on `dataset`, the keys the table has (accuracy %, loss
        cross-entropy, times s: this epoch's and the total up to it)."""
        dataset = self._api._dataset(dataset)
        sets = SET_TO_KEY[dataset]
        name = "x-valid" if setname == "valid" else setname
        if name not in sets:
            raise unknown(f"set name for '{dataset}'", setname, {*sets, *(["valid"] if "x-valid" in sets else [])})
        info = self._api.get_more_info(self.arch_index, dataset, iepoch=iepoch, hp=self.hp, is_random=is_random)
        what = f"query_meta_info_by_index({self.arch_index}, hp='{self.hp}').get_metrics('{dataset}', '{setname}')"
        return MetricInfo(info, sets[name], what, int(self.hp) - 1)

    def get_compute_costs(self, dataset: str) -> BenchInfo:
        """'flops', 'params', 'latency' and the time keys, as `get_cost_info(index, dataset, hp)`."""
        return self._api.get_cost_info(self.arch_index, dataset, hp=self.hp)

    def get_latency(self, dataset: str) -> float:
        return self.get_compute_costs(dataset)["latency"]

    def get_dataset_seeds(self, dataset: str) -> list[int]:
        raise _per_seed("get_dataset_seeds")

    def query(self, dataset: str, seed: int | None = None) -> Any:
        raise _per_seed("query")

    def get_net_param(self, dataset: str, seed: int | None = None) -> Any:
        raise TnasError("get_net_param() is not available: the tnas table holds no trained weights. Build the "
                        "network with get_net_config() and tnas.supernet.nb201.NB201Network, then train it.")


def _per_seed(call: str) -> TnasError:
    return TnasError(f"{call}() is not available: the tnas table holds only each cell's mean over seeds, no per-seed "
                     "runs. Use get_metrics(dataset, setname) (the mean).")


def info_string(api: Any, index: int, hp: str) -> str:
    """`query_info_str_by_arch`'s text: per dataset the costs and every accuracy / loss the table has."""
    lines = [f"arch-index={index} hp={hp} (tnas table: NB201 v1.1 / NATS-Bench, mean over seeds, last epoch) "
             f"{api.arch(index)}"]
    for dataset in DATASET_NAMES:
        cost = api.get_cost_info(index, dataset, hp=hp)
        info = api.get_more_info(index, dataset, hp=hp, is_random=False)
        latency = f"{cost['latency'] * 1000:.2f} ms" if "latency" in cost else "n/a"
        parts = [f"{k}={info[k]:.2f}%" if k.endswith("accuracy") else f"{k}={info[k]:.3f}"
                 for k in info if k.endswith(("accuracy", "loss"))]
        lines.append(f"  {dataset:<15} FLOPs={cost['flops']:.2f}M params={cost['params']:.3f}M latency={latency}  "
                     + "  ".join(parts))
    return "\n".join(lines)
