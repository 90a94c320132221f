"""`tnas search [PRESET] [key=value ...]`: a one-shot (TNAS-OS, SPOS) or gradient-based (DARTS, GDAS,
TNAS-G) search end to end."""
from __future__ import annotations

import argparse
import os
import re
import sys
from importlib import resources
from pathlib import Path

from tnas.cli._intermixed import intermixed
from tnas.errors import TnasError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="train a supernet with the TNAS sampler and search it (default: digits, ~50 s of one core)",
        description=(
            "One-shot NAS on a weight-sharing supernet (space=nb201|darts|shufflenet or your own, see README). Training samples each step's architecture from "
            "Gamma = (1-eps)*Uniform + eps*p(a|z) (TNAS-OS; strategy=spos keeps eps=0), the VAE is retrained "
            "on the best architectures each epoch, then a genetic algorithm seeded from the VAE searches the "
            "trained supernet. With no arguments it runs the 'digits-quick' preset on the digits bundled with tnas "
            "(UCI optdigits, the data of scikit-learn's load_digits; no download). strategy=darts|darts-v2|gdas|tnas-g instead runs a gradient-based search (DARTS, "
            "GDAS, or TNAS-G: the VAE decoder p(a|z) as the distribution; options under gradient.*) and derives "
            "the final cell from the learned distribution; strategy=zero-cost searches without training. "
            "search.score=NAME sets what ranks the cells: accuracy (default), loss, angle, naswot, synflow, snip, "
            "grad_norm, jacov, or a rank ensemble rank:A+B[+...]; sampler.feedback_score=NAME what the learned "
            "sampler observes; sampler.role=steer|seed|reject|steer-unbiased how it takes part in training "
            "(docs/scores.md, docs/sampler.md). "
            "Results go to a run directory (config, metrics, checkpoints, result.json, report.md)."
        ),
        epilog=(
            "examples:\n  tnas search\n  tnas search nb201-cifar10-cpu-proxy seed=1\n"
            "  tnas search train.epochs=3 sampler.eps_inc=0.2 search.budget=50\n"
            "  tnas search strategy=spos\n  tnas search strategy=gdas train.epochs=20\n  tnas search --resume runs/20261128-101500-nb201-tnas-os-s0\n"
            "  tnas search --resume runs/20261128-101500-nb201-tnas-os-s0 search.budget=300\n"
            "  tnas search nb201-cifar10-cpu-proxy seeds=0-4 workers=2   # 5 seeds, 2 at a time, summary.md\n"
            "  tnas search track.mlflow=sqlite:///mlflow.db   # also log to MLflow (track.wandb=PROJECT: W&B)\n"
            "  tnas search --list-presets\n  tnas search --show-config digits-quick"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("args", nargs="*", metavar="PRESET|key=value",
                   help="an optional preset name or YAML file, then config overrides such as train.epochs=3; "
                        "seeds=0-4 (or 0,3,7) runs every seed in its own run directory and writes a summary, "
                        "workers=N runs N of them at a time")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its last checkpoint; overrides may change only the "
                        "settings read after training (search.budget, population, parents, mutations, crossovers, "
                        "mutate_prob, eval.*, track.*)")
    p.add_argument("--list-presets", action="store_true", help="list the built-in presets and exit")
    p.add_argument("--show-config", action="store_true", help="print the resolved config as YAML and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    intermixed(p)


def run(args: argparse.Namespace) -> int:
    if args.list_presets:  # before the imports below: listing needs neither torch nor YAML
        print(preset_list())
        return 0
    import yaml

    from tnas.run.config import resolve_config
    from tnas.run.multiseed import axis_args, is_axis
    from tnas.run.overrides import parse_override_args, split_preset_args, to_dict
    preset, overrides = split_preset_args(args.args, "tnas search digits-quick train.epochs=3")
    if args.resume:
        if preset:
            raise TnasError(f"--resume takes no preset ('{preset}'): the run's saved config is used; only overrides "
                            "of the search stage may follow, e.g. `tnas search --resume RUN_DIR search.budget=200`.")
        cfg = None
        if is_axis(args.resume):
            return _axis(args.resume, parse_override_args(overrides))
    else:
        rest, seeds, sweep, workers = axis_args(parse_override_args(overrides), lambda o: resolve_config(preset, o))
        cfg = resolve_config(preset, rest)
        if args.show_config:
            print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
            return 0
        if seeds is not None:
            return _axis(None, {}, lambda s, extra: resolve_config(preset, {**rest, **extra, "seed": str(s)}), seeds,
                         sweep, workers)
    from tnas.run.search import Interrupted, run_search  # heavy imports only when a run starts

    try:
        result, path = run_search(cfg, resume=args.resume, overrides=parse_override_args(overrides) if args.resume else None,
                                  progress_bar=not args.no_progress and sys.stderr.isatty())
    except Interrupted as e:
        print(f"tnas: {e}", file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
        return 0
    print(f"found cell: {result['genotype']}")
    score = result.get("score") or {}
    if score.get("name", "accuracy") != "accuracy":
        print(f"search score {score['name']}: {score['value']:.6g}")
    if "supernet_valid_acc" in result:  # strategy=zero-cost trains no supernet
        print(f"supernet accuracy: valid {result['supernet_valid_acc']:.2f}%  test {result['supernet_test_acc']:.2f}% "
              f"({result['dataset']}, inherited weights, BN recalibrated)")
    cost = result.get("cost")
    if cost:
        n = cost["network"]
        print(f"stand-alone network (C={n['C']}, N={n['N']}, {n['image_size']}px): {cost['params_M']:.3f}M parameters, "
              f"{cost['flops_M']:.1f}M FLOPs")
    gt = result.get("ground_truth")
    if gt:
        print(f"ground truth ({gt['dataset']}, NB201 v1.1, 200 epochs): valid {gt['valid']:.2f}%  test {gt['test']:.2f}%")
    kd = result.get("kendall")
    if kd:
        print(f"Kendall tau over {kd['cells']} cells: {kd['tau']:.3f} (top 10%: {kd['tau_top10']:.3f})")
    print(f"run directory: {path}  (report.md, result.json)")
    return 0


def _axis(resume: str | None, overrides: dict[str, str], make=None, seeds=None, sweep=None, workers: int = 1) -> int:
    """Start a seeds axis / sweep (`make`, `seeds`, `sweep`), or finish the one in `resume`."""
    from tnas.run.axis_pool import Kind
    from tnas.run.config import config_from_dict
    from tnas.run.multiseed import report_axis, resume_axis, run_axis, workers_override
    from tnas.run.search import run_search

    kind = Kind("search", run_search, config_from_dict)
    if resume is None:
        return report_axis(kind, lambda line: run_axis(kind, make, seeds, sweep, workers, line))
    n = workers_override(overrides)
    return report_axis(kind, lambda line: (resume_axis(kind, resume, n, line), Path(resume)))


def preset_list(folder: str = "configs") -> str:
    """One line per built-in preset of `tnas/<folder>/`: its name and the summary its YAML file opens with."""
    files = sorted((p for p in (resources.files("tnas") / folder).iterdir() if p.name.endswith(".yaml")),
                   key=lambda p: p.name[:-5])
    width = max((len(p.name) - 5 for p in files), default=0)
    return "\n".join(f"{p.name[:-5]:<{width}}  {preset_summary(p.read_text())}" for p in files)


def preset_summary(text: str, limit: int = 110) -> str:
    """The one-line summary of a preset: the opening clause of its leading comment (the text before the
    first ': ', or its first sentence when that clause is too short to say anything), at most `limit` chars."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    words = " ".join(lines)
    head = words.split(": ", 1)[0]
    if len(head) < 30:
        head = re.split(r"(?<=[.;])\s", words, maxsplit=1)[0].rstrip(".;")
    return head if len(head) <= limit else head[:limit - 3].rsplit(" ", 1)[0] + "..."
