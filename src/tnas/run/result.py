"""The end of a search: the found cell's accuracies, NB201 ground truth, Kendall tau, result.json
and report.md."""
from __future__ import annotations

import logging
from typing import Any

import torch

from tnas.errors import TnasError
from tnas.run.config import TABLE_DATASETS
from tnas.run.constraints import found_cost
from tnas.run.rundir import RunDir
from tnas.run.search import Parts, _fixed_batches, _save
from tnas.evaluate import SupernetEvaluator

_log = logging.getLogger(__name__)



def _ground_truth(parts: Parts, best: torch.Tensor) -> tuple[dict[str, Any] | None, Any]:
    """NB201 ground truth of the found cell on the matching dataset (None when not applicable)."""
    dataset = TABLE_DATASETS.get(parts.cfg.data.name.lower())
    if dataset is None or parts.supernet.space.name != "nb201":  # the table covers NB201 cells only
        return None, None
    from tnas.bench import PROTOCOL, load_nb201

    try:
        table = load_nb201(parts.cfg.eval.bench_path)
    except TnasError as e:
        _log.warning("no ground truth: %s", e)
        return None, None
    gt = {"dataset": dataset, "protocol": PROTOCOL,
          "valid": float(table.lookup(best[None], dataset, "valid")[0]),
          "test": float(table.lookup(best[None], dataset, "test")[0])}
    return gt, table


def _kendall(parts: Parts, evaluator: SupernetEvaluator, table: Any, dataset: str) -> dict[str, Any]:
    """Kendall tau between supernet accuracy and ground-truth test accuracy over a fixed seeded
    cell set (`eval.tau_set`: random `eval.tau_cells` cells, or the stratified set of
    `tnas.evaluate.ranking`): overall and among the set's top-10% members; with the per-cell
    estimates (in the set's key order) so a study can recompute any statistic."""
    from tnas.evaluate.ranking import kendall_taus, random_cells, stratified_cells

    e, space = parts.cfg.eval, parts.supernet.space
    if e.tau_set == "stratified":
        tau_set = stratified_cells(table, space, dataset, n=e.tau_cells, n_top=e.tau_top_cells)
    else:
        tau_set = random_cells(table, space, dataset, n=e.tau_cells)
    ev = SupernetEvaluator(parts.supernet, space, evaluator.calib, evaluator.valid)
    est = ev(space.from_keys(tau_set.keys)).numpy()
    return {**kendall_taus(est, tau_set), "set": e.tau_set,
            "keys": tau_set.keys.tolist(), "supernet_acc": [round(float(x), 4) for x in est]}


def finish(parts: Parts, run: RunDir, history: Any, wall: float) -> dict[str, Any]:
    """result.json + report.md for a finished search."""
    from tnas.run.report import write_report

    space = parts.supernet.space
    ev: SupernetEvaluator = parts.evaluator  # type: ignore[attr-defined]
    i = history.best_index()
    best = history.archs[i]
    test_batches = _fixed_batches(parts.data.test, parts.cfg.search.eval_batch_size, 10**9)
    result: dict[str, Any] = {
        "genotype": space.to_genotype(best), "arch": best.tolist(), "strategy": parts.cfg.strategy,
        "dataset": parts.cfg.data.name, "split": parts.data.split_info,
        "supernet_valid_acc": float(history.scores[i]),
        "supernet_test_acc": ev.accuracy(best, test_batches),
        "evaluated": len(history), "epochs": parts.state.epoch, "wall_seconds": wall,
        "top5": [{"genotype": space.to_genotype(history.archs[j]), "supernet_valid_acc": float(history.scores[j])}
                 for j in torch.argsort(-history.scores)[:5].tolist()],
    }
    result["cost"] = found_cost(parts, best)
    gt, table = _ground_truth(parts, best)
    result["ground_truth"] = gt
    if table is not None and parts.cfg.eval.tau_cells > 0:
        result["kendall"] = _kendall(parts, ev, table, gt["dataset"])
    parts.phase = "done"
    run.write_result(result)
    write_report(run.path, result, parts.state.history)
    _save(parts, run)
    return result
