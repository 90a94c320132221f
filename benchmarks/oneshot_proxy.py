"""CPU proxy of the paper's NB201 one-shot experiment: SPOS (uniform) vs TNAS-OS on CIFAR-10.

Both methods use the same preset (reduced supernet, CIFAR-10 subset from the shared JPEG copy),
the same training budget and the same search budget; only the sampler differs. Per method and
seed we report the NB201 ground-truth CIFAR-10 test accuracy of the found cell (NB201 v1.1,
200 epochs, mean over seeds), Kendall tau between supernet accuracy and ground truth over a fixed
seeded sample of cells (all and top 10%), and wall time. Runs go in parallel worker processes,
one torch thread each; each run's randomness depends only on its seed.

    python benchmarks/oneshot_proxy.py                      # 3 seeds x 2 methods, docs/results/oneshot_proxy.md
    python benchmarks/oneshot_proxy.py --seeds 1 --set train.epochs=2   # smoke run
"""
from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path

from _common import fmt, machine_line, search_job

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("spos", "tnas-os")


def table(rows: list[dict]) -> list[str]:
    lines = ["| method | seeds | GT test acc of found cell (%) | supernet valid acc (%) | Kendall tau (all) | "
             "Kendall tau (top 10%) | wall (s) |", "|---|---|---|---|---|---|---|"]
    for m in METHODS:
        rs = [r for r in rows if r["method"] == m]
        if not rs:
            continue
        gt = [r["ground_truth"]["test"] for r in rs if r.get("ground_truth")]
        tau = [r["kendall"]["tau"] for r in rs if r.get("kendall")]
        top = [r["kendall"]["tau_top10"] for r in rs if r.get("kendall")]
        lines.append(f"| {m} | {len(rs)} | {fmt(gt)} | {fmt([r['supernet_valid_acc'] for r in rs])} | "
                     f"{fmt(tau).replace(' ± ', ' ± ')} | {fmt(top)} | {statistics.mean(r['wall'] for r in rs):.0f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="nb201-cifar10-cpu-proxy")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for both methods")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        jobs = [(m, s, args.preset, args.set, runs) for s in range(args.seeds) for m in METHODS]
        with mp.get_context("spawn").Pool(args.workers) as pool:
            rows = []
            for r in pool.imap_unordered(search_job, jobs):
                rows.append(r)
                print(f"{r['method']:8s} seed {r['seed']}: GT test {r.get('ground_truth', {}).get('test', float('nan')):.2f}"
                      f"  tau {r.get('kendall', {}).get('tau', float('nan')):.3f}  {r['wall']:.0f}s", flush=True)
    rows.sort(key=lambda r: (r["method"], r["seed"]))
    cmd = "python benchmarks/oneshot_proxy.py " + " ".join(
        [f"--preset {args.preset}", f"--seeds {args.seeds}", f"--workers {args.workers}", *[f"--set {s}" for s in args.set]])
    lines = ["# One-shot CPU proxy: SPOS vs TNAS-OS on CIFAR-10 (NB201 space)", "",
             f"Command: `{cmd}`  ", f"{machine_line()}  ", f"Date: {datetime.datetime.now():%Y-%m-%d %H:%M}  ",
             f"Total wall time: {time.perf_counter() - t0:.0f} s ({args.workers} workers, 1 thread each)", "",
             *table(rows), "", "Ground truth: NB201 v1.1, CIFAR-10 test (`cifar10`, 50k train, ori-test), 200 epochs, mean "
             "over seeds. Tau: supernet accuracy (BN recalibrated, validation batches) vs ground-truth test accuracy.", "",
             "## Per run", "", "| method | seed | found cell | GT test | supernet valid | tau | tau top10 | wall (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gt, kd = r.get("ground_truth") or {}, r.get("kendall") or {}
        lines.append(f"| {r['method']} | {r['seed']} | `{r['genotype']}` | {gt.get('test', float('nan')):.2f} | "
                     f"{r['supernet_valid_acc']:.2f} | {kd.get('tau', float('nan')):.3f} | "
                     f"{kd.get('tau_top10', float('nan')):.3f} | {r['wall']:.0f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "oneshot_proxy.md").write_text("\n".join(lines) + "\n")
    (out / "oneshot_proxy.json").write_text(json.dumps(rows, indent=1, default=str))
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
