"""The end of `tnas train`: result.json (accuracy, params, FLOPs, wall time), report.md, curves.png."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from tnas.run.rundir import RunDir
from tnas.safeio import atomic_text, atomic_write
from tnas.supernet.registry import get_family

_log = logging.getLogger(__name__)


def network_cost(tr: Any) -> tuple[int, int | None]:
    """(parameters, FLOPs as multiply-accumulates) of the trained network, by the family's counter
    at the trained size and image size; without a counter, the module's parameters and no FLOPs."""
    cost = get_family(tr.space.name).cost
    if cost is None:
        return sum(p.numel() for p in tr.model.parameters()), None
    params, flops = cost(tr.space, tr.arch, tr.size)
    return int(params), int(flops)


def build_result(tr: Any) -> dict[str, Any]:
    """The result of a finished run: the final network's one test evaluation (`tr.state.test`),
    the validation curve's final and best epoch when the protocol has one (data.split=valid), costs."""
    cfg, st, info = tr.cfg, tr.state, tr.source.info
    test = st.test
    params, flops = network_cost(tr)
    s = tr.size
    result: dict[str, Any] = {
        "genotype": tr.space.to_genotype(tr.arch), "arch": tr.arch.tolist(), "space": tr.space.name,
        "dataset": cfg.data.name, "split": cfg.data.split, "protocol": info.record.get("protocol_used"),
        "train_images": info.train_images, "test_images": test["test_images"],
        "test_acc": test["test_acc"], "test_loss": test["test_loss"], "epochs": st.epoch,
        "params": params, "flops": flops, "params_M": params / 1e6, "flops_M": None if flops is None else flops / 1e6,
        "module_params": sum(p.numel() for p in tr.model.parameters()),  # incl. an auxiliary head
        "net": {"C": s.C, "N": s.N, "num_classes": s.num_classes, "in_channels": s.in_channels,
                "image_size": s.image_size},
        "world_size": tr.dist.world, "device": str(tr.device), "wall_seconds": st.seconds,
    }
    if "test_top5" in test:
        result["test_top5"] = test["test_top5"]
    valid = [h for h in st.history if "valid_acc" in h]
    if valid:  # selection lives on the validation set; the test set is looked at once, above
        best = max(valid, key=lambda h: h["valid_acc"])  # first of equals: the earliest epoch
        result.update({"valid_images": valid[-1]["valid_images"], "valid_acc": valid[-1]["valid_acc"],
                       "best_valid_acc": best["valid_acc"], "best_valid_epoch": best["epoch"]})
    return result


def plot_curves(run: Path, history: list[dict[str, Any]]) -> str | None:
    """Loss, accuracy (train, and validation when there is a validation set; never test) and
    learning rate per epoch -> curves.png."""
    if not history:
        return None
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
    ax[0].plot(ep, [h["loss"] for h in history], marker="o", label="train")
    valid = [h for h in history if "valid_loss" in h]
    if valid:
        ax[0].plot([h["epoch"] for h in valid], [h["valid_loss"] for h in valid], marker="s", label="validation")
    ax[0].set(title="loss", xlabel="epoch")
    ax[0].legend()
    ax[1].plot(ep, [h["train_acc"] for h in history], marker="o", label="train (augmented)")
    if valid:
        ax[1].plot([h["epoch"] for h in valid], [h["valid_acc"] for h in valid], marker="s", label="validation top-1")
    ax[1].set(title="accuracy (%)", xlabel="epoch")
    ax[1].legend()
    ax[2].plot(ep, [h["lr"] for h in history], marker="o")
    ax[2].set(title="learning rate (end of epoch)", xlabel="epoch")
    fig.tight_layout()
    atomic_write(run / "curves.png", lambda f: fig.savefig(f, format="png", dpi=110))  # never through a link
    plt.close(fig)
    return "curves.png"


def valid_rows(result: dict[str, Any]) -> list[str]:
    """The validation row of report.md (data.split=valid only)."""
    if "valid_acc" not in result:
        return []
    return [f"| validation accuracy: final / best (epoch) | {result['valid_acc']:.2f}% / "
            f"{result['best_valid_acc']:.2f}% ({result['best_valid_epoch']}) |"]


def summary(result: dict[str, Any], path: Path) -> list[str]:
    """The one summary of a finished `tnas train` run (printed by the CLI)."""
    top5 = f", top-5 {result['test_top5']:.2f}%" if "test_top5" in result else ""
    flops = "n/a" if result["flops_M"] is None else f"{result['flops_M']:.2f} M"
    lines = [f"architecture: {result['genotype']}",
             f"test accuracy: top-1 {result['test_acc']:.2f}%{top5} after {result['epochs']} epochs, evaluated once "
             f"({result['dataset']}, {result['protocol']})"]
    if "valid_acc" in result:
        lines.append(f"validation accuracy: {result['valid_acc']:.2f}% (best {result['best_valid_acc']:.2f}% at epoch "
                     f"{result['best_valid_epoch']})")
    lines += [f"parameters: {result['params_M']:.4f} M   FLOPs: {flops}   wall time: {result['wall_seconds']:.1f} s",
              f"run directory: {path}  (report.md, result.json)"]
    return lines


def write_report(run: Path, result: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """report.md: the architecture, its accuracy and cost, and the training curves."""
    top5 = f" / top-5 {result['test_top5']:.2f}%" if "test_top5" in result else ""
    flops = "n/a (no counter)" if result["flops"] is None else f"{result['flops_M']:.2f} M"
    n = result["net"]
    lines = [f"# tnas train: {result['space']} on {result['dataset']}", "", f"Architecture: `{result['genotype']}`", "",
             "| metric | value |", "|---|---|",
             f"| test accuracy (final network, evaluated once) | top-1 {result['test_acc']:.2f}%{top5} |",
             *valid_rows(result),
             f"| protocol | {result['protocol']} ({result['train_images']} train / {result['test_images']} test images) |",
             f"| parameters | {result['params_M']:.4f} M |", f"| FLOPs (multiply-accumulates) | {flops} |",
             f"| network | C={n['C']}, N={n['N']}, {n['image_size']}x{n['image_size']} input |",
             f"| epochs | {result['epochs']} |", f"| processes | {result['world_size']} on {result['device']} |",
             f"| wall time | {result['wall_seconds']:.1f} s |"]
    name = plot_curves(run, history)
    if name:
        lines += ["", "## Training", "", f"![Training curves]({name})"]
    atomic_text(run / "report.md", "\n".join(lines) + "\n")


def finish(tr: Any, run: RunDir) -> dict[str, Any]:
    """result.json + report.md (rank 0) for a run whose epochs are all done."""
    result = build_result(tr)
    run.write_result(result)
    if run.enabled:
        write_report(run.path, result, tr.state.history)
    # the numbers are printed once, by the caller (`tnas train` prints `summary`); the log keeps a line
    _log.debug("finished: %s", "; ".join(summary(result, run.path)))
    return result
