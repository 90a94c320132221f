"""The end of a one-shot search: the found cell's accuracies, NB201 ground truth, Kendall tau,
result.json and report.md."""
from __future__ import annotations

import logging
from typing import Any

import torch

from tnas.evaluate import SupernetEvaluator
from tnas.evaluate.batches import pass_batches
from tnas.run.constraints import found_cost, rejection_summary
from tnas.run.parts import Parts
from tnas.run.report import final_record, write_report
from tnas.run.rundir import RunDir
from tnas.run.truth import ground_truth, kendall, score_kendall

_log = logging.getLogger(__name__)


def finish(parts: Parts, run: RunDir, history: Any, wall: float) -> dict[str, Any]:
    """result.json + report.md for a finished search (the caller writes the final checkpoint)."""
    space = parts.supernet.space
    ev: SupernetEvaluator = parts.evaluator
    i = history.best_index()
    best = history.archs[i]
    test_batches = pass_batches(parts.data.test, parts.cfg.search.eval_batch_size)
    score = parts.cfg.search.score
    # with another search.score the GA's fitness is that score; the supernet accuracies are measured here
    valid_acc = float(history.scores[i]) if score == "accuracy" else ev.accuracy(best)
    fitness = "supernet_valid_acc" if score == "accuracy" else "score"
    result: dict[str, Any] = {
        "genotype": space.to_genotype(best), "arch": best.tolist(), "strategy": parts.cfg.strategy,
        "dataset": parts.cfg.data.name, "split": parts.data.split_info,
        "score": {"name": score, "value": float(history.scores[i])},
        "supernet_valid_acc": valid_acc,
        "supernet_test_acc": ev.accuracy(best, test_batches),
        "evaluated": len(history), "epochs": parts.state.epoch, "wall_seconds": wall,
        "top5": [{"genotype": space.to_genotype(history.archs[j]), fitness: float(history.scores[j])}
                 for j in torch.argsort(-history.scores)[:5].tolist()],
    }
    result["cost"] = found_cost(parts, best)
    result["rejection"] = rejection_summary(parts.state.history, parts.rejection)
    gt, table = ground_truth(parts.cfg, space.name, best)
    result["ground_truth"] = gt
    if table is not None and parts.cfg.eval.tau_cells > 0:
        result["kendall"] = kendall(parts.cfg, ev, table, gt["dataset"])
        if parts.scorer is not None:  # the ranking of the score the search used, beside the supernet's
            result["kendall_score"] = score_kendall(parts.cfg, parts.scorer, table, gt["dataset"])
    run.log_metrics(final_record(result, parts.state.step))  # a resume drops the old one (truncate_logs)
    parts.phase = "done"
    run.write_result(result)
    if run.enabled:  # rank 0 writes the run directory (two ranks racing on one report.md lost a rename)
        write_report(run.path, result, parts.state.history)
    return result
