"""`tnas bench sampler`: the sampler-quality benchmark on NAS-Bench-201 ground truth; `tnas bench
score`: how well a training-free score ranks NB201 cells (`tnas.harness.score_quality`).

The same code runs `python benchmarks/sampler_quality.py` (a thin wrapper around this command).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from tnas.errors import TnasError, write_error

# --quick: a smoke run (about a minute on 2 cores); explicit options still override it.
QUICK = {"seeds": 3, "budgets": "10,50,100", "sweep_seeds": 2, "dist_seeds": 1, "eps_incs": "0,0.1,0.5"}
DEFAULTS = {"seeds": 20, "budgets": "10,50,100,300", "sweep_seeds": 20, "dist_seeds": 5,
            "eps_incs": "0,0.04,0.05,0.0625,0.1,0.2,0.5"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench", help="benchmarks on NAS-Bench-201 ground truth",
        description="Benchmarks on NAS-Bench-201 ground truth. `tnas bench sampler` compares random search, "
                    "REA, the SPOS GA and the two TNAS searches (paper section 5.3, figures 2-3, table 4).")
    sub = p.add_subparsers(dest="bench", metavar="BENCHMARK")
    s = sub.add_parser(
        "sampler", help="sampler-quality benchmark (paper section 5.3)",
        description="Query-based searches on the real NB201 table: ground-truth validation accuracy (or a real "
                    "supernet's CIFAR-10 estimate) drives each search, the test accuracy of the best architecture "
                    "found after N evaluations is reported (mean ± std over seeds), plus the eps_inc sweep "
                    "(table 4), VAE-vs-random distributions (figure 2) and best-so-far curves (figure 3). Writes "
                    "sampler_quality.md and PNGs into --out.")
    s.add_argument("--quick", action="store_true", help="smoke run: 3 seeds, budgets up to 100, a short sweep")
    s.add_argument("--seeds", type=int, help="seeds per (dataset, method) (default 20; --quick 3)")
    s.add_argument("--datasets", nargs="+", help="cifar10 cifar100 ImageNet16-120 (default: all three)")
    s.add_argument("--methods", nargs="+", help="random rea spos-ga tnas tnas-ga (default: all)")
    s.add_argument("--budgets", help="comma-separated numbers of evaluated archs (default 10,50,100,300)")
    s.add_argument("--supernets", nargs="*", help="supernet estimates driving CIFAR-10 searches "
                                                  "(default: oneshot fewshot; give none to skip)")
    s.add_argument("--eps-incs", help="comma-separated eps_inc values for the sweep ('' skips it)")
    s.add_argument("--sweep-seeds", type=int, help="seeds per eps_inc value (default 20; --quick 2)")
    s.add_argument("--dist-seeds", type=int, help="seeds pooled for the figure-2 distributions (default 5; 0 skips)")
    s.add_argument("--out", default="docs/results", help="output folder (default docs/results)")
    s.add_argument("--workers", type=int, default=2, help="worker processes, 1 torch thread each (default 2)")
    s.add_argument("--device", default="cpu",
                   help="where the TNAS VAEs train (default cpu: the 6-token VAE is launch-bound on a GPU)")
    s.add_argument("--table", help="NB201 table directory (default: $TNAS_DATA/nb201 when it exists, else the bundled table)")
    s.set_defaults(func=run_sampler)
    z = sub.add_parser(
        "score", help="how well a training-free score ranks NB201 cells",
        description="Score uniformly drawn NB201 cells with a zero-cost proxy (naswot, synflow, snip, grad_norm, "
                    "jacov) or a rank ensemble of them (rank:naswot+synflow) on the stand-alone network at "
                    "initialisation and one batch of real training images; print Kendall tau and Spearman rho with "
                    "the NB201 test accuracy, the best-scored cell and the CPU seconds per cell.")
    z.add_argument("score", help="the score, as search.score takes it (e.g. naswot, rank:naswot+synflow)")
    z.add_argument("--cells", type=int, default=200, help="uniformly drawn cells (default 200)")
    z.add_argument("--dataset", default="cifar10", help="cifar10 | cifar100 | imagenet16-120 (default cifar10)")
    z.add_argument("--batch-size", type=int, default=64, help="images in the scoring batch (default 64)")
    z.add_argument("--seed", type=int, default=0, help="cells, batch and initial weights (default 0)")
    z.add_argument("--root", help="dataset location (default: $TNAS_DATA, then the shared data)")
    z.add_argument("--json", action="store_true", help="print the result as JSON")
    z.set_defaults(func=run_score)
    p.set_defaults(func=lambda args: p.print_help() or 0)


def run_score(args: argparse.Namespace) -> int:
    import json

    from tnas.bench import load_nb201
    from tnas.harness.score_quality import ScoreBench, measure

    for name, low in (("--cells", 3), ("--batch-size", 2)):
        value = getattr(args, name[2:].replace("-", "_"))
        if not low <= value <= 15_625 * (1 if name == "--cells" else 100):
            raise TnasError(f"{name} {value}: expected an integer from {low} to "
                            f"{15_625 if name == '--cells' else 1_562_500}.")
    table = load_nb201()
    res = measure(ScoreBench(args.score, args.cells, args.dataset, args.batch_size, seed=args.seed, root=args.root),
                  table)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"{res['score']} on {res['cells']} uniform NB201 cells ({res['dataset']}, C={res['network']['C']}, "
          f"N={res['network']['N']}, {res['network']['image_size']}px, batch {res['batch_size']}):")
    print(f"  Kendall tau {res['kendall_tau']:.3f}, Spearman rho {res['spearman_rho']:.3f} vs NB201 test accuracy")
    print(f"  best-scored cell {res['best_genotype']}: {res['best_gt_test']:.2f}% "
          f"(best of the sample {res['table_best_gt_test']:.2f}%)")
    print(f"  {res['cpu_s_per_cell']:.3f} CPU s per cell")
    return 0


def _list(values: list[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    return tuple(v for item in values for v in item.split(",") if v)


def _numbers(text: str, kind: type, what: str) -> tuple:
    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise TnasError(f"{what} '{text}' is not a comma-separated list of numbers; e.g. 10,50,100,300.") from None


def settings_from_args(args: argparse.Namespace):
    """Resolve --quick and the defaults into BenchSettings; returns (settings, canonical command)."""
    from tnas.harness.sampler_quality import BenchSettings

    base = QUICK if args.quick else DEFAULTS
    pick = {k: getattr(args, k) if getattr(args, k) is not None else base[k] for k in base}
    seeds = pick["seeds"]
    s = BenchSettings(seeds=seeds, budgets=_numbers(pick["budgets"], int, "--budgets"),
                      eps_incs=_numbers(pick["eps_incs"], float, "--eps-incs"),
                      sweep_seeds=pick["sweep_seeds"],
                      dist_seeds=pick["dist_seeds"], table=args.table, device=args.device)
    for name in ("datasets", "methods", "supernets"):
        if getattr(args, name) is not None:
            setattr(s, name, _list(getattr(args, name)))
    if args.device.startswith("cuda") and not __import__("torch").cuda.is_available():
        raise TnasError(f"--device {args.device}: CUDA is not available on this machine. Use --device cpu.")
    if args.workers < 1:
        raise TnasError(f"--workers {args.workers}: expected an integer >= 1.")
    s.validate()
    cmd = (f"tnas bench sampler --seeds {s.seeds} --datasets {' '.join(s.datasets)} --methods {' '.join(s.methods)} "
           f"--budgets {','.join(map(str, s.budgets))} --supernets {' '.join(s.supernets)} "
           f"--eps-incs '{','.join(f'{e:g}' for e in s.eps_incs)}' --sweep-seeds {s.sweep_seeds} "
           f"--dist-seeds {s.dist_seeds} --workers {args.workers} --out {args.out}")
    cmd += f" --device {args.device}" if args.device != "cpu" else ""
    return s, cmd + (f" --table {args.table}" if args.table else "")


def _check_out(out: Path) -> None:
    """The report folder must be writable before minutes of benchmarking, not after."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".tnas-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise write_error(out, e) from None


def run_sampler(args: argparse.Namespace) -> int:
    from tnas.bench import PROTOCOL, load_nb201
    from tnas.harness import sampler_report
    from tnas.harness.sampler_quality import run_benchmark

    settings, command = settings_from_args(args)
    table = load_nb201(settings.table)  # fail fast (and name the fix) before starting workers
    _check_out(Path(args.out))
    print(f"$ {command}")
    t0 = time.perf_counter()
    results = run_benchmark(settings, workers=args.workers)
    wall = time.perf_counter() - t0
    path = sampler_report.write_report(results, settings, Path(args.out), command=command, wall_s=wall,
                                       workers=args.workers, table=table, protocol=PROTOCOL)
    print(path.read_text())
    print(f"wrote {path} ({wall:.0f} s)")
    return 0
