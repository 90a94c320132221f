"""CPU cost of the TNAS sampler (issue 2 targets: one VAE update on 100 archs < 1 s on one core,
sampling 1,000 archs < 50 ms) and of one TNAS search run.

    python benchmarks/sampler_cost.py        # prints a Markdown table, writes docs/results/sampler_cost.md

Real NB201 cells and CIFAR-10 validation accuracies (the search metric) when the table is found,
else uniform cells with their index as a stand-in score (the cost does not depend on the score).
Times are medians over repeats, on one thread (`torch.set_num_threads(1)`), wall clock.
"""
from __future__ import annotations

import datetime
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from tnas.sampler import TNASConfig, TNASSampler
from tnas.space import get_space
from tnas.strategy.tnas_search import tnas_loop, tnas_seeded_ga

ROOT = Path(__file__).resolve().parents[1]


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
        cores = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("CPU(s)"))
        return f"{name}, {cores} CPU(s)"
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def main() -> int:
    torch.set_num_threads(1)
    space = get_space("nb201")
    g = torch.Generator().manual_seed(0)
    archs = space.sample_uniform(100, g)
    try:
        from tnas.bench import load_nb201

        table = load_nb201()
        evaluate, what = (lambda a: table.lookup(a, "cifar10", "valid")), "NB201 CIFAR-10 valid accuracy"
    except Exception:  # noqa: BLE001 - the cost does not depend on the metric
        evaluate, what = (lambda a: space.keys(a).double()), "stand-in score (no NB201 table found)"
    cfg = TNASConfig()
    sampler = TNASSampler(space, replace(cfg, top_k=100), seed=0)
    sampler.observe(archs, evaluate(archs))
    sampler.step()  # warm up (first call allocates optimizer state)
    heavy = TNASSampler(space, replace(cfg, top_k=100, batch_size=100, train_steps=100), seed=0)
    heavy.observe(archs, evaluate(archs))
    heavy.step()
    rows = [
        (f"`step()` on 100 archs (top_k=100, {cfg.train_steps} Adam steps, batch {cfg.batch_size})",
         median_time(sampler.step, 7), 1.0),
        ("`step()` on 100 archs, full batch, 100 Adam steps (5x the default work)",
         median_time(heavy.step, 5), 1.0),
        ("`sample(1000)`, eps=1 (all from p(a|z)), skip-seen on",
         median_time(lambda: sampler.sample(1000, generator=g, eps=1.0), 21), 0.05),
        ("`sample_vae(1000)` (no dedup)", median_time(lambda: sampler.sample_vae(1000, g), 21), 0.05),
        ("`tnas_loop`, budget 300, defaults",
         median_time(lambda: tnas_loop(space, evaluate, 300, torch.Generator().manual_seed(1)), 3), None),
        ("`tnas_seeded_ga`, budget 300, defaults",
         median_time(lambda: tnas_seeded_ga(space, evaluate, 300, torch.Generator().manual_seed(1)), 3), None),
    ]
    lines = [
        "# TNAS sampler cost (CPU, one thread)", "",
        "Command: `python benchmarks/sampler_cost.py`  ", f"Date: {datetime.date.today()}  ",
        f"Machine: {cpu_name()}; torch {torch.__version__}, 1 thread  ",
        f"Metric for the search runs: {what}. Median wall time; the machine may be shared.", "",
        "| what | seconds | target |", "|---|---:|---:|",
    ]
    for name, sec, target in rows:
        verdict = "" if target is None else (f"< {target} s: " + ("met" if sec < target else "MISSED"))
        lines.append(f"| {name} | {sec:.4f} | {verdict} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "docs" / "results" / "sampler_cost.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
