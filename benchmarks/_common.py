"""Pieces every benchmark script shares: the machine line, mean ± std, one search per worker.

Scripts run as `python benchmarks/<name>.py`, so this folder is on sys.path (also in the
spawned worker processes, which inherit the parent's sys.path).
"""
from __future__ import annotations

import json
import multiprocessing as mp
import platform
import statistics
import subprocess
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from lscpu (platform.processor() where lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def machine_line() -> str:
    """'Machine: <cpu>, <n> cores, torch <v>, Python <v>' for a results file."""
    import torch

    return f"Machine: {cpu_model()}, {mp.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}"


def fmt(xs: list[float], digits: int = 2) -> str:
    """'mean ± std' of xs (std 0 for one value, 'n/a' for none)."""
    if not xs:
        return "n/a"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.{digits}f} ± {sd:.{digits}f}"


def search_job(job: tuple[str, int, str, list[str], str]) -> dict:
    """One `run_search` in a worker process with one torch thread: (method, seed, preset,
    overrides, out folder) -> result.json's content plus method, seed, wall (s) and run path."""
    method, seed, preset, sets, out = job
    import torch

    torch.set_num_threads(1)
    from tnas.run.config import resolve_config
    from tnas.run.overrides import parse_override_args
    from tnas.run.search import run_search

    overrides = parse_override_args([*sets, f"strategy={method}", f"seed={seed}", f"out={out}"])
    t0 = time.perf_counter()
    result, path = run_search(resolve_config(preset, overrides), progress_bar=False)
    return {"method": method, "seed": seed, "wall": time.perf_counter() - t0, "run": str(path), **result}


def train_or_resume(folder: Path, preset: str, overrides: list[str]) -> tuple[dict, Path]:
    """The one `tnas search PRESET OVERRIDES out=FOLDER` run of a study job: its result when a run in
    `folder` already finished, resumed from its checkpoint when one stopped, else started."""
    from tnas.run.config import resolve_config
    from tnas.run.overrides import parse_override_args
    from tnas.run.search import run_search

    earlier = sorted(p.parent.parent for p in folder.glob("*/ckpt/last.pt")) if folder.exists() else []
    if earlier and (earlier[-1] / "result.json").exists():
        return json.loads((earlier[-1] / "result.json").read_text()), earlier[-1]
    if earlier:
        return run_search(resume=earlier[-1], progress_bar=False)
    return run_search(resolve_config(preset, parse_override_args([*overrides, f"out={folder}"])), progress_bar=False)


def run_pool(fn, jobs: list, workers: int) -> list:
    """`fn` on every job, in `workers` spawned processes (in this one for a single worker or job);
    results in completion order. Jobs write their own records, so a stop loses only unfinished ones."""
    if workers > 1 and len(jobs) > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            return list(pool.imap_unordered(fn, jobs))
    return [fn(job) for job in jobs]
