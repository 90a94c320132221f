"""The GPU path's settings measured on a CPU (issue 13): reading losses and scores back every
`sync_every` steps leaves every result bit-identical, and bf16 autocast / channels-last run
(`tnas train` accuracy and time, supernet step throughput of the paper's NB201 supernet).

    python benchmarks/accel_cpu.py            # writes docs/results/accel_cpu.md

The GPU figures come from benchmarks/gpu_check.py on a GPU machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from tnas.run.config import resolve_config
from tnas.run.search import run_search
from tnas.train import resolve_train_config, run_train

ROOT = Path(__file__).resolve().parents[1]
SEARCH = {"supernet.C": "4", "train.epochs": "3", "train.steps_per_epoch": "12", "train.batch_size": "32",
          "search.budget": "24", "search.population": "8", "search.parents": "3", "search.mutations": "4",
          "search.crossovers": "4", "search.eval_batch_size": "128", "search.bn_batches": "2",
          "search.eval_batches": "1", "sampler.min_observations": "5", "sampler.train_steps": "10",
          "sampler.eps_inc": "0.3"}
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
TRAIN = {"net.C": "8", "net.N": "1", "train.epochs": "3"}
VARIANTS = [("fp32", "auto"), ("fp32", "on"), ("bf16", "auto"), ("bf16", "on")]


def fingerprint(run: Path, weights: str) -> str:
    """Hash of result.json, metrics.jsonl (less wall times), archs.jsonl and the final weights."""
    res = json.loads((run / "result.json").read_text())
    res.pop("wall_seconds", None)
    metrics = [{k: v for k, v in json.loads(x).items() if "seconds" not in k}
               for x in (run / "metrics.jsonl").read_text().splitlines()]
    h = hashlib.sha256(json.dumps([res, metrics], sort_keys=True, default=str).encode())
    if (run / "archs.jsonl").exists():
        h.update((run / "archs.jsonl").read_bytes())
    for k, v in sorted(torch.load(run / "ckpt" / "last.pt", weights_only=True)[weights].items()):
        h.update(k.encode() + v.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def train(out: Path, **extra: str) -> tuple[dict[str, Any], Path]:
    cfg = resolve_train_config("train-quick", {**TRAIN, "out": str(out), **extra})
    return run_train(dataclasses.replace(cfg, genotype=CELL), progress_bar=False)


def same_result(out: Path) -> list[str]:
    """Rows: a search (TNAS-OS, and with a sampler whose draws depend on feedback, which then gets
    it before every draw) and a training run, each with sync_every=1 and 50."""
    rows = []
    for name, extra in (("tnas search (TNAS-OS, digits)", {}),
                        ("tnas search, sampler.local_frac=1", {"sampler.local_frac": "1"})):
        prints = [fingerprint(run_search(resolve_config(None, {**SEARCH, **extra, "out": str(out / "search"),
                                                               "sync_every": k}), progress_bar=False)[1], "supernet")
                  for k in ("1", "50")]
        rows.append(f"| {name} | {prints[0]} | {prints[1]} | {'yes' if prints[0] == prints[1] else '**no**'} |")
    prints = [fingerprint(train(out / "t", sync_every=k)[1], "model") for k in ("1", "50")]
    rows.append(f"| tnas train (digits, 3 epochs) | {prints[0]} | {prints[1]} | "
                f"{'yes' if prints[0] == prints[1] else '**no**'} |")
    return rows


def settings(out: Path) -> list[str]:
    """Rows: `tnas train` test accuracy and seconds per epoch for each precision x layout."""
    rows = []
    for precision, layout in VARIANTS:
        result, run = train(out / f"{precision}-{layout}", precision=precision, channels_last=layout)
        epochs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        rows.append(f"| {precision} | {layout} | {result['test_acc']:.2f} | "
                    f"{statistics.mean(e['seconds'] for e in epochs):.2f} |")
    return rows


def throughput(steps: int, repeats: int) -> list[str]:
    """Rows: images/s of the NB201 supernet (C=16, N=5, batch 64) in fp32 and bf16, 1 thread."""
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "benchmarks" / "throughput.py")
    tp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tp)
    rows = []
    for precision in ("fp32", "bf16"):
        args = argparse.Namespace(C=16, N=5, batch=64, size=32, steps=steps, repeats=repeats, warmup=2, seed=0,
                                  nchw=False, tnas_nchw=False, xautodl_nhwc=False, precision=precision,
                                  steps_per_epoch=391)
        rates, _ = tp.bench(args, torch.device("cpu"), None)
        for name, r in rates.items():
            rows.append(f"| {name} | {precision} | {statistics.median(r):.1f} | {', '.join(f'{x:.1f}' for x in r)} |")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=4, help="timed steps per repeat (throughput)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "docs" / "results" / "accel_cpu.md"), help="'' to skip writing")
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        same, variants = same_result(Path(tmp)), settings(Path(tmp))
    speed = throughput(args.steps, args.repeats)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    text = "\n".join([
        "# The GPU path's settings on a CPU", "",
        f"Command: `{' '.join(['python benchmarks/accel_cpu.py', *sys.argv[1:]])}`", "",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 torch thread; load "
        f"average at the end {load}; torch {torch.__version__}, Python {platform.python_version()}; "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}", "",
        "## Same seed, same result, whatever `sync_every`", "",
        "Fingerprint = hash of result.json, metrics.jsonl (less wall times), archs.jsonl and the final weights.", "",
        "| run | sync_every=1 | sync_every=50 | identical |", "|---|---|---|---|", *same, "",
        "## bf16 autocast and channels-last: `tnas train` on digits (C=8, N=1 cell, 3 epochs)", "",
        "| precision | channels_last | test acc (%) | s / epoch |", "|---|---|---|---|", *variants, "",
        f"## Supernet training throughput, NB201 C=16, N=5, batch 64, 32x32 ({args.repeats} x {args.steps} steps)", "",
        "| supernet | precision | images/s (median) | per repeat |", "|---|---|---|---|", *speed, "",
        "This CPU has no bf16 units (no AVX512-BF16 / AMX), so bf16 is emulated and slower here: hence "
        "precision=auto means fp32 on CPU. bf16 costs a little accuracy against fp32 in a short run (8-bit "
        "mantissa in the convolutions; weights, optimizer state, losses and scores stay fp32).", ""])
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
