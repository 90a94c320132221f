"""report.md and its plots for a finished run directory."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from tnas.run.report_plots import plot_ranking, plot_search  # noqa: E402
from tnas.run.rundir import read_jsonl  # noqa: E402
from tnas.safeio import atomic_text, atomic_write  # noqa: E402


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path)[0]


def plot_training(run: Path, history: list[dict[str, Any]]) -> str | None:
    """Loss, accuracy and eps per epoch -> training.png."""
    if not history:
        return None
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
    ax[0].plot(ep, [h["loss"] for h in history], marker="o")
    ax[0].set(title="training loss", xlabel="epoch")
    ax[1].plot(ep, [h["acc"] for h in history], marker="o", label="train batch")
    ax[1].plot(ep, [h["score"] for h in history], marker="s", label="held-out (sampled archs)")
    ax[1].set(title="supernet accuracy (%)", xlabel="epoch")
    ax[1].legend()
    ax[2].plot(ep, [h["eps"] for h in history], marker="o", label="eps (VAE share of Gamma)")
    ax[2].plot(ep, [h["vae_share"] for h in history], marker="x", label="VAE samples (measured)")
    ax[2].set(title="eps schedule", xlabel="epoch", ylim=(-0.05, 1.05))
    ax[2].legend()
    fig.tight_layout()
    atomic_write(run / "training.png", lambda f: fig.savefig(f, format="png", dpi=110))  # never through a link
    plt.close(fig)
    return "training.png"


def plot_scores(run: Path) -> str | None:
    """Held-out scores of uniform vs VAE samples over training -> scores.png."""
    rows = [r for r in _read_jsonl(run / "archs.jsonl") if r.get("phase") == "train"]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for src, color in (("uniform", "tab:gray"), ("vae", "tab:red")):
        pts = [(r["step"], r["score"]) for r in rows if r.get("source") == src]
        if pts:
            ax.scatter(*zip(*pts), s=4, alpha=0.4, color=color, label=f"{src} samples ({len(pts)})")
    ax.set(title="held-out score of sampled architectures", xlabel="training step", ylabel="score")
    ax.legend(markerscale=3)
    fig.tight_layout()
    atomic_write(run / "scores.png", lambda f: fig.savefig(f, format="png", dpi=110))  # never through a link
    plt.close(fig)
    return "scores.png"


def final_record(result: dict[str, Any], step: int) -> dict[str, Any]:
    """The metrics.jsonl event (phase 'eval') of a finished search: the found cell's supernet
    accuracies, its ground truth and Kendall tau when known, for TensorBoard / MLflow / W&B."""
    record: dict[str, Any] = {"phase": "eval", "step": step, "supernet_valid_acc": result["supernet_valid_acc"],
                              "supernet_test_acc": result["supernet_test_acc"]}
    gt = result.get("ground_truth") or {}
    record.update({f"ground_truth_{k}": gt[k] for k in ("valid", "test") if isinstance(gt.get(k), (int, float))})
    kd = result.get("kendall") or {}
    record.update({f"kendall_{k}": kd[k] for k in ("tau", "tau_top10") if isinstance(kd.get(k), (int, float))})
    ks = result.get("kendall_score") or {}
    record.update({f"kendall_score_{k}": ks[k] for k in ("tau", "tau_top10") if isinstance(ks.get(k), (int, float))})
    return record


def summary_lines(result: dict[str, Any], title_cell: str, rows: list[str]) -> list[str]:
    """Heading, found cell and the metric table shared by every search report: supernet
    accuracies, `rows` (strategy-specific), ground truth and Kendall tau when known."""
    lines = [f"# tnas search: {result['strategy']} on {result['dataset']}", "", f"{title_cell}: `{result['genotype']}`",
             "", "| metric | value |", "|---|---|",
             f"| supernet valid accuracy (BN recalibrated) | {result['supernet_valid_acc']:.2f}% |",
             f"| supernet test accuracy (inherited weights) | {result['supernet_test_acc']:.2f}% |", *rows]
    gt = result.get("ground_truth")
    if gt:
        lines += [f"| ground truth valid / test ({gt['dataset']}) | {gt['valid']:.2f}% / {gt['test']:.2f}% |"]
    kd = result.get("kendall")
    if kd:
        lines += [f"| Kendall tau, {kd['cells']} cells (all / top 10%) | {kd['tau']:.3f} / {kd['tau_top10']:.3f} |"]
    ks = result.get("kendall_score")
    if ks:
        lines += [f"| Kendall tau of score {ks['score']} (all / top 10%) | {ks['tau']:.3f} / {ks['tau_top10']:.3f} |"]
    if gt:
        lines += ["", f"Ground-truth protocol: {gt['protocol']}"]
    return lines


def _rejection_rows(rejection: dict[str, Any] | None) -> list[str]:
    """Rows for the rejection sampling under hard limits (training and GA), if any."""
    return [f"| rejection sampling, {stage}: accept rate / ms per accepted arch | {r['accept_rate']:.3f} / "
            f"{r['ms_per_accepted']:.3f} ({r['accepted']} accepted of {r['drawn']} drawn) |"
            for stage, r in (rejection or {}).items()]


def ranking_section(run: Path, result: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The report section of the supernet-vs-ground-truth scatter (NB201 with eval.tau_cells > 0)."""
    return [("Supernet score vs ground truth", plot_ranking(run, result))]


def write_report(run: Path, result: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """A short human-readable report with the found cell, its accuracies and the plots."""
    lines = summary_lines(result, "Found cell", [
        f"| architectures evaluated in search | {result['evaluated']} |",
        f"| epochs | {result['epochs']} |", f"| wall time | {result['wall_seconds']:.1f} s |",
        *_rejection_rows(result.get("rejection"))])
    score = (result.get("score") or {}).get("name", "accuracy")
    lines += ["", f"## Top 5 by search score ({score})", ""]
    lines += [f"{k + 1}. `{t['genotype']}` ({t['supernet_valid_acc']:.2f}%)" if "supernet_valid_acc" in t else
              f"{k + 1}. `{t['genotype']}` ({score} {t['score']:.4g})" for k, t in enumerate(result["top5"])]
    for title, name in (("Training", plot_training(run, history)), ("Sampled architectures", plot_scores(run)),
                        ("Search stage", plot_search(run, history)), *ranking_section(run, result)):
        if name:
            lines += ["", f"## {title}", "", f"![{title}]({name})"]
    atomic_text(run / "report.md", "\n".join(lines) + "\n")
