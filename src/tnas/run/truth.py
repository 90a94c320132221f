"""Ground truth for a search's result: the found cell's NB201 table accuracy and the supernet's
Kendall tau against the table, when the run's space and dataset are covered by the table."""
from __future__ import annotations

import logging
from typing import Any

import torch

from tnas.errors import TnasError
from tnas.evaluate import SupernetEvaluator, supernet_taus
from tnas.run.config import TABLE_DATASETS, RunConfig

_log = logging.getLogger(__name__)


def ground_truth(cfg: RunConfig, space_name: str, best: torch.Tensor) -> tuple[dict[str, Any] | None, Any]:
    """(NB201 ground truth of the found cell on the matching dataset, the table), or (None, None)
    when the table does not cover the run (another space or dataset, or no table found)."""
    dataset = TABLE_DATASETS.get(cfg.data.name.lower())
    if dataset is None or space_name != "nb201":  # the table covers NB201 cells only
        return None, None
    from tnas.bench import PROTOCOL, load_nb201

    try:
        table = load_nb201(cfg.eval.bench_path)
    except TnasError as e:
        _log.warning("no ground truth: %s", e)
        return None, None
    gt = {"dataset": dataset, "protocol": PROTOCOL,
          "valid": float(table.lookup(best[None], dataset, "valid")[0]),
          "test": float(table.lookup(best[None], dataset, "test")[0])}
    return gt, table


def kendall(cfg: RunConfig, evaluator: SupernetEvaluator, table: Any, dataset: str) -> dict[str, Any]:
    """Kendall tau of the supernet vs the table over the run's `eval.tau_set` (see
    `tnas.evaluate.ranking.supernet_taus`)."""
    e = cfg.eval
    return supernet_taus(evaluator, table, dataset, tau_set=e.tau_set, n=e.tau_cells, n_top=e.tau_top_cells)


def score_kendall(cfg: RunConfig, scorer: Any, table: Any, dataset: str) -> dict[str, Any]:
    """Kendall tau of the run's `search.score` (a `tnas.evaluate.score.Scorer`) vs the table over
    the run's `eval.tau_set`, with the per-cell values (in the set's key order)."""
    from tnas.evaluate.ranking import kendall_taus, random_cells, stratified_cells

    e = cfg.eval
    space = scorer.inputs.space
    if e.tau_set == "stratified":
        cells = stratified_cells(table, space, dataset, n=e.tau_cells, n_top=e.tau_top_cells)
    else:
        cells = random_cells(table, space, dataset, n=e.tau_cells)
    values = scorer(space.from_keys(cells.keys)).numpy()
    return {**kendall_taus(values, cells), "set": e.tau_set, "score": scorer.name, "keys": cells.keys.tolist(),
            "values": [round(float(v), 6) for v in values]}
