"""Step-time overhead of TNAS-G against GDAS (and DARTS-V1) at the same supernet size.

Both strategies are built by the run pipeline (`build_gradient`) from the same preset and seed
and step on the same training/validation batches; only the distribution differs (alpha vs the
VAE decoder). The cells each strategy samples differ, so a per-step comparison mixes the
distribution's cost with the cost of the sampled cells. Two numbers separate them:

* end to end: mean step time over `--steps` steps (after `--warmup`), strategies interleaved in
  blocks of 10 steps so machine load hits both alike; includes TNAS-G's periodic ELBO refits;
* same cells: TNAS-G's own extra work per step (z draw, decoder forward + backward, observe,
  amortised refit) timed around a GDAS step that trains the very cell TNAS-G sampled, i.e.
  (GDAS step on cell a + TNAS-G overhead) / (GDAS step on cell a).

    python benchmarks/gradient_step_cost.py                 # nb201-cifar10-cpu-proxy, 1 thread
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from pathlib import Path

import torch

from _common import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def _runs(preset: str, sets: list[str], strategies: list[str]) -> dict:
    from tnas.run.config import resolve_config
    from tnas.run.gradient_search import build_gradient
    from tnas.run.overrides import parse_override_args

    out = {}
    for s in strategies:
        cfg = resolve_config(preset, parse_override_args([*sets, f"strategy={s}", "device=cpu"]))
        out[s] = build_gradient(cfg)
    return out


def _batches(run, n: int, seed: int) -> list:
    p = run.parts
    g = torch.Generator().manual_seed(seed)
    bs = p.cfg.train.batch_size
    return [(p.data.train.random_batch(bs, g), p.data.valid.random_batch(bs, g)) for _ in range(n)]


def _time_block(run, batches) -> list[float]:
    from tnas.run.gradient_search import search_step

    times = []
    for tb, vb in batches:
        t0 = time.perf_counter()
        search_step(run, tb, vb)
        times.append(time.perf_counter() - t0)
        run.parts.state.step += 1
    return times


def _overhead(run, batches) -> tuple[float, float]:
    """(mean GDAS-style step on TNAS-G's sampled cells, mean TNAS-G step) on the same batches,
    both on one supernet copy: the difference is the decoder's own work."""
    from tnas.sampler.softmax import ArchParameters
    from tnas.strategy.gradient import gdas_step

    p = run.parts
    g = torch.Generator().manual_seed(1)
    alpha = ArchParameters(p.supernet.space, 1e-3, generator=g)
    a_opt = torch.optim.Adam(alpha.parameters(), lr=3e-4)
    plain, tnas = [], []
    from tnas.run.gradient_search import search_step

    for tb, vb in batches:
        t0 = time.perf_counter()
        out = search_step(run, tb, vb)
        tnas.append(time.perf_counter() - t0)
        run.parts.state.step += 1
        arch = out["arch"]
        with torch.no_grad():  # alpha = a huge logit on TNAS-G's cell: GDAS then samples that cell
            alpha.alpha.fill_(-30.0)
            alpha.alpha[torch.arange(len(arch)), arch] = 30.0
        t0 = time.perf_counter()
        gdas_step(p.supernet, alpha, p.optimizer, a_opt, tb, vb, generator=g, tau=1.0)
        plain.append(time.perf_counter() - t0)
    return statistics.mean(plain), statistics.mean(tnas)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="nb201-cifar10-cpu-proxy")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    strategies = ["gdas", "tnas-g", "darts"]
    runs = _runs(args.preset, args.set, strategies)
    batches = _batches(runs["gdas"], args.steps + args.warmup, seed=0)
    times: dict[str, list[float]] = {s: [] for s in strategies}
    for s in strategies:
        _time_block(runs[s], batches[: args.warmup])
    for i in range(args.warmup, args.warmup + args.steps, 10):
        for s in strategies:
            if s == "darts" and (i - args.warmup) >= args.steps // 4:
                continue  # DARTS is ~4x slower: a quarter of the steps is enough for its mean
            times[s] += _time_block(runs[s], batches[i: i + 10])
    mean = {s: statistics.mean(t) * 1e3 for s, t in times.items()}
    same_plain, same_tnas = _overhead(runs["tnas-g"], batches[: min(60, len(batches))])
    cpu = cpu_model()
    cfg = runs["gdas"].parts.cfg
    size = f"C={cfg.supernet.C}, N={cfg.supernet.N}, batch {cfg.train.batch_size}, {cfg.data.image_size or 32}px"
    cmd = "python benchmarks/gradient_step_cost.py " + " ".join(
        [f"--preset {args.preset}", f"--steps {args.steps}", f"--threads {args.threads}", *[f"--set {s}" for s in args.set]])
    table = ["| strategy | steps timed | mean step (ms) | ratio to GDAS |", "|---|---|---|---|"]
    for s in strategies:
        table.append(f"| {s} | {len(times[s])} | {mean[s]:.1f} | {mean[s] / mean['gdas']:.2f}x |")
    same = (f"Same cells: a GDAS step on the cell TNAS-G sampled {same_plain * 1e3:.1f} ms, the TNAS-G step "
            f"{same_tnas * 1e3:.1f} ms -> ratio {same_tnas / same_plain:.2f}x "
            f"(TNAS-G's own work {(same_tnas - same_plain) * 1e3:.1f} ms per step; target <= 1.2x: "
            f"{'PASS' if same_tnas / same_plain <= 1.2 else 'FAIL'}).")
    lines = ["# Step time: TNAS-G vs GDAS vs DARTS-V1 (same supernet)", "", f"Command: `{cmd}`  ",
             f"Machine: {cpu}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}, "
             f"Python {platform.python_version()}  ", f"Date: {datetime.datetime.now():%Y-%m-%d %H:%M}  ",
             f"Supernet: NB201 {size}, preset {args.preset}", "", *table, "", same, "",
             "End to end each strategy trains the cells it samples (GDAS samples from alpha, TNAS-G from the "
             "decoder), so its ratio also reflects which cells were sampled (cells with more convs cost more); the "
             "same-cells ratio isolates the distribution's cost. TNAS-G steps include the ELBO refit every "
             "`gradient.tnas_g.refit_every` steps, amortised."]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gradient_step_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(table))
    print(same)


if __name__ == "__main__":
    main()
