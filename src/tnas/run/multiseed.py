"""Seeds as an axis: `tnas search PRESET seeds=0-4 workers=2` (and `tnas train ... seeds=...`).

Each seed is an ordinary run in its own run directory (resumable with `--resume` like any other);
runs go one after another, or as `workers` parallel processes (one torch thread pool each, the
cores shared out). At the end a summary (found cells, accuracies, ground truth where known, mean
± sd over seeds) is written as `summary.md` and `summary.json` into
`<out>/<date>-<space>-<tag>-seeds<spec>/`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import multiprocessing as mp
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tnas.errors import TnasError

_log = logging.getLogger(__name__)
MAX_SEEDS = 1000
AXIS_KEYS = ("seeds", "workers")


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0..4]; '0,3,7' and '0-2,9' likewise; a bad spec raises naming it and the syntax."""
    how = "Write seeds=0-4 (a range), seeds=0,3,7 (a list) or a mix such as seeds=0-2,9."
    out: list[int] = []
    for part in str(text).split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            a = int(lo)
            b = int(hi) if dash else a
        except ValueError:
            raise TnasError(f"Bad value '{text}' for 'seeds': '{part}' is not a seed or a range. {how}") from None
        if a < 0 or b < a or b - a >= MAX_SEEDS:
            raise TnasError(f"Bad value '{text}' for 'seeds': '{part}' must be N or A-B with 0 <= A <= B and at most "
                            f"{MAX_SEEDS} seeds. {how}")
        out.extend(range(a, b + 1))
    if len(set(out)) != len(out) or len(out) > MAX_SEEDS:
        raise TnasError(f"Bad value '{text}' for 'seeds': each seed once, at most {MAX_SEEDS}. {how}")
    return out


def pop_axis(overrides: dict[str, str]) -> tuple[dict[str, str], list[int] | None, int]:
    """Split `seeds=` and `workers=` off the overrides: (the rest, seeds or None, workers)."""
    rest = {k: v for k, v in overrides.items() if k not in AXIS_KEYS}
    seeds = parse_seeds(overrides["seeds"]) if "seeds" in overrides else None
    text = overrides.get("workers", "1")
    try:
        workers = int(text)
    except ValueError:
        workers = -1
    if not 1 <= workers <= 64:
        raise TnasError(f"Bad value '{text}' for 'workers': expected an integer in [1, 64] (parallel runs of the "
                        "seeds axis; each gets its share of the cores). Set it with workers=2.")
    if "workers" in overrides and seeds is None:
        raise TnasError("workers= runs several seeds in parallel; give the seeds too, e.g. seeds=0-3 workers=2.")
    if "seed" in rest and seeds is not None:
        raise TnasError(f"Both seed={rest['seed']} and seeds={overrides['seeds']}: give one of them.")
    return rest, seeds, workers


def _one(job: tuple[str, Any, int]) -> dict[str, Any]:
    """One seed's run in this process: (command, config, torch threads) -> summary row."""
    command, cfg, threads = job
    import torch

    import tnas.run.gradient_search  # noqa: F401  (these modules register the search jobs)
    import tnas.run.search  # noqa: F401
    from tnas.run.job import STRATEGIES, run_job

    if threads:
        torch.set_num_threads(threads)
    # 'train' is registered by tnas.train, imported with the config class of a train run
    result, path = run_job(STRATEGIES.get("train" if command == "train" else cfg.strategy), cfg, progress_bar=False)
    return {"seed": cfg.seed, "run": str(path), **_row(command, result)}


def _row(command: str, result: dict[str, Any]) -> dict[str, Any]:
    if command == "train":
        return {"genotype": result["genotype"], "test_acc": result["test_acc"], "params_M": result["params_M"]}
    gt = result.get("ground_truth") or {}
    kd = result.get("kendall") or {}
    return {"genotype": result["genotype"], "supernet_valid_acc": result.get("supernet_valid_acc"),
            "supernet_test_acc": result.get("supernet_test_acc"), "gt_valid": gt.get("valid"), "gt_test": gt.get("test"),
            "tau": kd.get("tau"), "tau_top10": kd.get("tau_top10")}


def run_seeds(command: str, make_cfg: Callable[[int], Any], seeds: list[int], workers: int = 1,
              progress: Callable[[dict[str, Any]], None] | None = None) -> tuple[dict[str, Any], Path]:
    """Run `make_cfg(seed)` for every seed (`command` 'search' or 'train'); write the summary.

    Every config is built (and so validated) before the first run starts. Returns (summary,
    summary folder). A failing seed stops a sequential axis; in parallel the others finish first.
    """
    cfgs = [make_cfg(s) for s in seeds]
    threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else 0
    jobs = [(command, c, c.threads or threads) for c in cfgs]
    t0, rows = time.perf_counter(), []
    if workers == 1:
        for job in jobs:
            rows.append(_one(job))
            if progress:
                progress(rows[-1])
    else:
        with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            for row in pool.imap_unordered(_one, jobs):
                rows.append(row)
                if progress:
                    progress(row)
    rows.sort(key=lambda r: r["seed"])
    tag = "train" if command == "train" else cfgs[0].strategy
    summary = {"command": command, "space": cfgs[0].space, "tag": tag, "seeds": seeds, "workers": workers,
               "wall_seconds": time.perf_counter() - t0, "runs": rows, "mean_sd": _stats(rows)}
    folder = _folder(Path(cfgs[0].out), cfgs[0].space, tag, seeds)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (folder / "summary.md").write_text(markdown(summary, dataclasses.asdict(cfgs[0])))
    return summary, folder


def _stats(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    """{column: [mean, sd]} over the seeds for every numeric column (sd 0 for one seed)."""
    out = {}
    for key in rows[0]:
        vals = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and key != "seed"]
        vals = [v for v in vals if not math.isnan(v)]
        if vals and len(vals) == len(rows):
            out[key] = [statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0]
    return out


def _folder(out: Path, space: str, tag: str, seeds: list[int]) -> Path:
    spec = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else f"{len(seeds)}x"
    base = out / f"{time.strftime('%Y%m%d-%H%M%S')}-{space}-{tag}-seeds{spec}"
    folder, k = base, 0
    while True:  # claimed atomically, like run directories
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            k += 1
            folder = base.with_name(f"{base.name}-{k}")


def markdown(summary: dict[str, Any], cfg: dict[str, Any]) -> str:
    """The summary as a Markdown page: one row per seed, then mean ± sd."""
    rows = summary["runs"]
    cols = [k for k in rows[0] if k not in ("seed", "run", "genotype")]
    lines = [f"# tnas {summary['command']}: {summary['tag']} on {summary['space']}, seeds {summary['seeds']}", "",
             f"{len(rows)} runs, {summary['workers']} at a time, {summary['wall_seconds']:.0f} s wall. Config of the "
             f"first seed: space={cfg.get('space')}, strategy={cfg.get('strategy', 'train')}.", "",
             "| seed | " + " | ".join(cols) + " | genotype | run |", "|---" * (len(cols) + 3) + "|"]
    for r in rows:
        cells = ["n/a" if r[c] is None else f"{r[c]:.4g}" for c in cols]
        lines.append(f"| {r['seed']} | " + " | ".join(cells) + f" | `{r['genotype']}` | {Path(r['run']).name} |")
    ms = summary["mean_sd"]
    lines.append("| mean ± sd | " + " | ".join(f"{ms[c][0]:.4g} ± {ms[c][1]:.2g}" if c in ms else "" for c in cols)
                 + " | | |")
    return "\n".join(lines) + "\n"


def report_seeds(command: str, make_cfg: Callable[[int], Any], seeds: list[int], workers: int) -> int:
    """`run_seeds` for the CLI: a line per finished seed, then the summary table; exit code 0."""
    def line(row: dict[str, Any]) -> None:
        print(f"seed {row['seed']}: {row['genotype']}  ({row['run']})", flush=True)

    summary, folder = run_seeds(command, make_cfg, seeds, workers, progress=line)
    ms = summary["mean_sd"]
    shown = [k for k in ("gt_test", "supernet_test_acc", "test_acc", "tau") if k in ms]
    print("mean ± sd over seeds: " + ", ".join(f"{k} {ms[k][0]:.2f} ± {ms[k][1]:.2f}" for k in shown))
    print(f"summary: {folder / 'summary.md'}  (and summary.json)")
    return 0
