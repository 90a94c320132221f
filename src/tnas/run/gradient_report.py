"""The end of a gradient-based search: derive the final cell, score it on the supernet, look it up
in the NB201 table, write result.json, report.md and the op-probability plot (op_probs.png).

Every derivation the distribution offers (`derive_candidates`: DARTS / GDAS 'argmax' of alpha;
TNAS-G 'mode' = argmax p(a | z = 0) and 'best-of' = the best by search.score of the per-z modes for
z = 0 and `gradient.best_of` prior draws) is computed and recorded; `gradient.derive` picks the
reported one (the only one where there is one).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import matplotlib
import torch

from tnas.evaluate import SupernetEvaluator, eval_batches
from tnas.errors import TnasError
from tnas.evaluate.score import MemoScore
from tnas.evaluate.batches import pass_batches
from tnas.run.report import final_record, ranking_section, summary_lines
from tnas.run.rundir import RunDir
from tnas.safeio import atomic_text, atomic_write
from tnas.run.scoring import run_scorer
from tnas.run.truth import ground_truth, kendall, score_kendall
from tnas.sampler.softmax import categorical_entropy
from tnas.seeds import stream

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

_log = logging.getLogger(__name__)


def distribution(run: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The current architecture distribution: op probabilities float [D, K] and entropy per decision
    float [D] (nats). TNAS-G: the marginal E_z p(a|z) over a fixed set of z draws (the stream
    'marginals'), so epochs compare."""
    p = run.parts
    probs = p.sampler.marginals(p.cfg.gradient.marginal_samples, stream(p.cfg.seed, "marginals"))
    return probs, categorical_entropy(probs)


def _evaluator(run: Any) -> SupernetEvaluator:
    """Supernet valid accuracy (%) after BN recalibration, on fixed batches (as the one-shot search)."""
    p, s = run.parts, run.parts.cfg.search
    calib, valid = eval_batches(p.data.train, p.data.valid, s.eval_batch_size, s.bn_batches, s.eval_batches,
                                stream(p.cfg.seed, "search"))
    return SupernetEvaluator(p.supernet, p.supernet.space, calib, valid)


def derive(run: Any, ev: SupernetEvaluator) -> tuple[str, dict[str, dict[str, Any]]]:
    """All derivations of the final cell for this strategy -> (the configured one's name, {name: info})."""
    p = run.parts
    space, cfg = p.supernet.space, p.cfg

    def info(arch: torch.Tensor) -> dict[str, Any]:
        return {"genotype": space.to_genotype(arch), "arch": arch.tolist(),
                "supernet_valid_acc": float(ev(arch[None])[0])}

    score = ev if run.scorer is None else MemoScore(space, run.scorer)
    out = {}
    for name, cands in p.sampler.derive_candidates(cfg.gradient.best_of, stream(cfg.seed, "derive")).items():
        if cands.shape[0] == 1:  # a derivation that names one cell
            out[name] = info(cands[0])
            continue
        values = score(cands).to(torch.float64).reshape(-1)  # best-of: the best of several by search.score
        if torch.isnan(values).any():
            raise TnasError(f"The {name} derivation got NaN scores; cannot pick a best architecture.")
        out[name] = {**info(cands[int(values.argmax())]), "candidates": int(cands.shape[0]), "draws": cfg.gradient.best_of}
    return (cfg.gradient.derive if cfg.gradient.derive in out else next(iter(out))), out


def finish(run: Any, rd: RunDir, t0: float) -> dict[str, Any]:
    """Derive, score and report the final cell; `t0` = perf_counter() when the derivation started.

    result.json: genotype/arch (the configured derivation), supernet valid/test accuracy (%),
    `derivations` (every derivation with its supernet and ground-truth accuracy), ground truth,
    the final op probabilities and entropy per decision, and wall_seconds (search steps over all
    sessions of the run + this derivation; start-up and data loading excluded).
    """
    p = run.parts
    space, cfg = p.supernet.space, p.cfg
    ev = _evaluator(run)
    run.scorer = None if cfg.search.score == "accuracy" else run_scorer(
        cfg, "search.score", space, p.data.train, p.device, supernet=p.supernet, init_params=p.init_params,
        calib=ev.calib, valid=ev.valid)  # best-of picks by this score
    name, derivations = derive(run, ev)
    best = torch.tensor(derivations[name]["arch"], dtype=torch.long)
    test_batches = pass_batches(p.data.test, cfg.search.eval_batch_size)
    probs, ent = distribution(run)
    result: dict[str, Any] = {
        "genotype": derivations[name]["genotype"], "arch": best.tolist(), "strategy": cfg.strategy,
        "derive": name, "dataset": cfg.data.name, "split": p.data.split_info,
        "supernet_valid_acc": derivations[name]["supernet_valid_acc"],
        "supernet_test_acc": ev.accuracy(best, test_batches), "derivations": derivations,
        "evaluated": len(ev.memo), "epochs": p.state.epoch, "steps": p.state.step,
        "decisions": [d.name for d in space.decisions], "choices": [list(d.choices) for d in space.decisions],
        "final_probs": probs.tolist(), "final_entropy": ent.tolist(),
    }
    result["score"] = {"name": cfg.search.score, "value": result["supernet_valid_acc"] if run.scorer is None
                       else float(run.scorer(best[None])[0])}
    gt, table = ground_truth(cfg, space.name, best)
    result["ground_truth"] = gt
    if table is not None:
        for d in derivations.values():
            arch = torch.tensor(d["arch"], dtype=torch.long)[None]
            d["ground_truth_test"] = float(table.lookup(arch, gt["dataset"], "test")[0])
        if cfg.eval.tau_cells > 0:
            result["kendall"] = kendall(cfg, ev, table, gt["dataset"])
            if run.scorer is not None:
                result["kendall_score"] = score_kendall(cfg, run.scorer, table, gt["dataset"])
    run.seconds += time.perf_counter() - t0
    result["wall_seconds"] = run.seconds
    p.phase = "done"
    rd.log_metrics(final_record(result, p.state.step))
    rd.write_result(result)
    if rd.enabled:  # rank 0 writes the run directory
        write_gradient_report(rd.path, result, p.state.history)
    return result


def plot_op_probs(path: Path, result: dict[str, Any], history: list[dict[str, Any]]) -> str | None:
    """Probability of each op per decision (edge) over epochs, plus entropy per decision -> op_probs.png."""
    if not history:
        return None
    ep = [h["epoch"] for h in history]
    names, choices = result["decisions"], result["choices"]
    cols = 4
    rows = (len(names) + 1 + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    flat = axes.ravel()
    for d, (name, ops) in enumerate(zip(names, choices)):
        for k, op in enumerate(ops):
            flat[d].plot(ep, [h["probs"][d][k] for h in history], marker=".", label=op)
        flat[d].set(title=name, xlabel="epoch", ylim=(-0.02, 1.02))
    flat[0].set_ylabel("p(op)")
    flat[0].legend(fontsize=7)
    ax = flat[len(names)]
    for d, name in enumerate(names):
        ax.plot(ep, [h["entropy"][d] for h in history], label=name)
    ax.set(title="entropy per decision (nats)", xlabel="epoch")
    ax.legend(fontsize=6)
    for extra in flat[len(names) + 1:]:
        extra.axis("off")
    fig.tight_layout()
    atomic_write(path / "op_probs.png", lambda f: fig.savefig(f, format="png", dpi=100))  # never through a link
    plt.close(fig)
    return "op_probs.png"


def write_gradient_report(path: Path, result: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """report.md: the derived cell, its accuracies, all derivations, the final distribution, the plot."""
    lines = summary_lines(result, f"Derived cell ({result['derive']})", [
        f"| epochs / steps | {result['epochs']} / {result['steps']} |",
        f"| search wall time | {result['wall_seconds']:.1f} s |"])
    lines += ["", "## Derivations", "", "| derivation | cell | supernet valid | ground-truth test |",
              "|---|---|---|---|"]
    for name, d in result["derivations"].items():
        gtt = d.get("ground_truth_test")
        lines += [f"| {name} | `{d['genotype']}` | {d['supernet_valid_acc']:.2f}% | "
                  f"{'-' if gtt is None else f'{gtt:.2f}%'} |"]
    lines += ["", "## Final distribution", "", *distribution_table(result)]
    plot = plot_op_probs(path, result, history)
    if plot:
        lines += ["", "## Op probability per edge over epochs", "", f"![op probabilities]({plot})"]
    for title, name in ranking_section(path, result):
        if name:
            lines += ["", f"## {title}", "", f"![{title}]({name})"]
    atomic_text(path / "report.md", "\n".join(lines) + "\n")


def distribution_table(result: dict[str, Any]) -> list[str]:
    """Markdown rows of the final distribution: one column per op when every decision has the
    same choices (NB201), else each decision's own choices in one cell (DARTS: 8 ops, input pairs)."""
    choices = result["choices"]
    rows = zip(result["decisions"], choices, result["final_entropy"], result["final_probs"])
    if all(c == choices[0] for c in choices):
        lines = [f"| decision | entropy (nats) | {' | '.join(choices[0])} |", "|---|---|" + "---|" * len(choices[0])]
        return lines + [f"| {name} | {e:.3f} | " + " | ".join(f"{x:.3f}" for x in pr[: len(c)]) + " |"
                        for name, c, e, pr in rows]
    lines = ["| decision | entropy (nats) | probability per choice |", "|---|---|---|"]
    return lines + [f"| {name} | {e:.3f} | " + ", ".join(f"{op} {x:.3f}" for op, x in zip(c, pr)) + " |"
                    for name, c, e, pr in rows]
