"""ShuffleNet (SPOS) space benchmark: supernet step throughput, FLOPs-counter speed and accuracy,
and sampling within a FLOPs budget (uniform vs the TNAS sampler).

    nice python benchmarks/shufflenet_space.py            # ~2-3 min on one CPU thread

Writes docs/results/shufflenet_space.md (and prints the same Markdown).
"""
from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

from tnas.supernet.shufflenet_cost import (
    count_by_hooks,
    network_cost,
    shufflenet_cost,
    shufflenet_costs,
    shufflenet_min_flops,
)
from tnas.sampler.tnas import TNASConfig, TNASSampler
from tnas.space import get_space
from tnas.sampler.budget import sample_within_budget
from tnas.supernet.registry import NetSize
from tnas.supernet.shufflenet import ShuffleNetSupernet
from tnas.supernet.shufflenet_net import shufflenet_v2_layout, spos_layout, spos_network

SPOS_ARCH = "[0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1, 3, 2]"  # megvii ShuffleNet-Series OneShot
SPOS_SCALES = [1.4, 1.2, 0.8, 1.2, 0.6, 1.4, 0.8, 1.0, 0.6, 1.2, 1.6, 1.2, 1.0, 1.4, 1.6, 1.0, 1.0, 1.2, 1.0, 0.8]
IMAGENET = NetSize(C=64, N=1, num_classes=1000, in_channels=3, image_size=224)


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    except (OSError, subprocess.CalledProcessError):
        model = platform.processor() or "?"
    return f"{model}, {torch.get_num_threads()} torch thread(s) of {len(os.sched_getaffinity(0))} cores"


# ---- 1. counter validation --------------------------------------------------------------------
def validation(space, facts: dict[str, str]) -> list[str]:
    rows = ["| network | params (ours) | params (published) | MFLOPs (ours) | MFLOPs (published) |",
            "|---|---:|---:|---:|---:|"]
    published = {0.5: (1_366_792, 41), 1.0: (2_278_604, 146), 1.5: (3_503_624, 299), 2.0: (7_393_996, 591)}
    below = []
    for mult, (params, mflops) in published.items():
        p, f = network_cost(shufflenet_v2_layout(mult), ["shufflenet_3x3"] * 16)
        below.append(100 * (1 - f / 1e6 / mflops))
        rows.append(f"| ShuffleNetV2 {mult}x | {p:,} | {params:,} (torchvision) | {f / 1e6:.1f} | {mflops} (paper) |")
    arch = space.from_genotype(SPOS_ARCH)
    p, f = shufflenet_cost(space, arch, IMAGENET)
    rows.append(f"| SPOS arch {SPOS_ARCH}, block widths x1.0 (our space) | {p:,} | 3.3M (paper, block search) "
                f"| {f / 1e6:.1f} | 319 (paper, block search) |")
    layout = spos_layout(64)
    mids = [int(c_out // 2 * s) for (_, c_out, _, _), s in zip(layout.blocks(), SPOS_SCALES)]
    p, f = network_cost(layout, space.decode(arch), mids=mids)
    rows.append(f"| same arch with megvii's searched channel scales | {p:,} | 3.4M (megvii README) | {f / 1e6:.1f} "
                "| 328 (megvii README) |")
    lo = shufflenet_min_flops(space, IMAGENET)
    _, fl = shufflenet_costs(space, space.sample_uniform(100_000, torch.Generator().manual_seed(0)), IMAGENET)
    rows.append(f"\nSPOS space at C=64, 224x224: min {lo / 1e6:.1f} MFLOPs (exact), uniform 100k samples: "
                f"max {fl.max().item() / 1e6:.1f}, median {fl.median().item() / 1e6:.1f} MFLOPs.")
    facts["below"] = f"{min(below):.1f}-{max(below):.1f}%"
    facts["span"] = f"{lo / 1e6:.0f}-{fl.max().item() / 1e6:.0f} MFLOPs"
    return rows


def limit_shares(space) -> list[str]:
    """Share of the space under each FLOPs limit (100k uniform draws, C=64, 224x224): which limits bind."""
    _, fl = shufflenet_costs(space, space.sample_uniform(100_000, torch.Generator().manual_seed(1)), IMAGENET)
    mf = fl.double() / 1e6
    rows = ["| limit (MFLOPs) | what it is | share of uniform draws within it (= uniform accept rate) |",
            "|---:|---|---:|"]
    marks = {300: "", 310: "", 320: "", 330: "`shufflenet-imagenet` preset", 340: "",
             365: "the paper's table-2 TNAS-OS model", 400: "the paper's limit (table 2: 200-400M)"}
    for limit, what in marks.items():
        rows.append(f"| {limit} | {what} | {float((mf <= limit).double().mean()):.4f} |")
    return rows


# ---- 2. train-step throughput -----------------------------------------------------------------
def _step_rate(model: nn.Module, forward, batch: int, size: int, steps: int) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch, 3, size, size), torch.randint(0, 10, (batch,))
    model.train()
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(forward(x, i), y).backward()
        opt.step()
    return batch * steps / (time.perf_counter() - start)


def throughput(space, steps: int, reps: int = 3) -> list[str]:
    C, size, batch = 16, 64, 32
    torch.manual_seed(0)
    sup = ShuffleNetSupernet(space, C=C, num_classes=10)
    archs = space.sample_uniform(steps + 2, torch.Generator().manual_seed(0))
    fixed = archs[0]
    net = spos_network(space, fixed, C=C, num_classes=10, dropout=0.0)
    w = torch.nn.functional.one_hot(fixed, 4).float()
    runs = {"stand-alone network of arch 0": (net, lambda x, i: net(x), steps),
            "supernet, single path = arch 0": (sup, lambda x, i: sup(x, fixed), steps),
            "supernet, a new uniform arch every step (SPOS)": (sup, lambda x, i: sup(x, archs[i]), steps),
            "supernet, mixed forward (all 4 blocks, one-hot weights)": (sup, lambda x, i: sup(x, w), max(2, steps // 4))}
    # the machine is shared: interleave the models over `reps` rounds and keep each one's best round
    rates: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(reps):
        for name, (model, fwd, n) in runs.items():
            rates[name].append(_step_rate(model, fwd, batch, size, n))
    best = {k: max(v) for k, v in rates.items()}
    r_net = best["stand-alone network of arch 0"]
    setting = (f"C={C} (widths {spos_layout(C).widths}), {size}x{size} inputs, batch {batch}, SGD step "
               f"(forward + backward + update), {steps} timed steps after 2 warm-up steps, random inputs; "
               f"{reps} interleaved rounds.")
    return [setting, "",
            "| model | img/s (best of rounds) | img/s (all rounds) | vs stand-alone (best) |", "|---|---:|---|---:|",
            *(f"| {k} | {best[k]:.0f} | {', '.join(f'{r:.0f}' for r in rates[k])} | {best[k] / r_net:.2f} |"
              for k in runs)]


# ---- 3. counter speed --------------------------------------------------------------------------
def counter_speed(space) -> list[str]:
    archs = space.sample_uniform(2000, torch.Generator().manual_seed(1))
    shufflenet_cost(space, archs[0], IMAGENET)  # fill the per-layer table
    t = time.perf_counter()
    for a in archs:
        shufflenet_cost(space, a, IMAGENET)
    single = len(archs) / (time.perf_counter() - t)
    t = time.perf_counter()
    shufflenet_costs(space, archs, IMAGENET)
    batched = len(archs) / (time.perf_counter() - t)
    n_hook, same = 10, 0
    t = time.perf_counter()
    for a in archs[:n_hook]:
        with torch.device("meta"):
            net = spos_network(space, a)
        same += count_by_hooks(net) == shufflenet_cost(space, a, IMAGENET)
    hook = n_hook / (time.perf_counter() - t)
    return ["| counter (C=64, 224x224) | archs/s | vs hooks |", "|---|---:|---:|",
            f"| analytic, one arch per call (`shufflenet_cost`) | {single:,.0f} | {single / hook:,.0f}x |",
            f"| analytic, batched (`shufflenet_costs`, 2000 archs) | {batched:,.0f} | {batched / hook:,.0f}x |",
            f"| forward hooks on a meta-device network (build + run) | {hook:.1f} | 1x |",
            f"\nAnalytic == hook count (params and FLOPs) for {same}/{n_hook} random architectures."]


# ---- 4. sampling within a budget ----------------------------------------------------------------
def _train_tnas(space, budget: float, rounds: int, per_round: int, seed: int) -> tuple[TNASSampler, float, float]:
    """TNAS sampler trained on the proxy score -|FLOPs - (budget - 5M)| (no accuracy involved)."""
    smp = TNASSampler(space, TNASConfig(), seed=seed)
    g = torch.Generator().manual_seed(100 + seed)
    seen = under = 0
    t = time.perf_counter()
    for _ in range(rounds):
        archs = smp.sample(per_round, generator=g)
        flops = shufflenet_costs(space, archs, IMAGENET)[1].double()
        seen, under = seen + len(archs), under + int((flops <= budget).sum())
        smp.observe(archs, -(flops - (budget - 5e6)).abs() / 1e6)
        smp.step()
    return smp, time.perf_counter() - t, 1 - under / seen


def budget_sampling(space, n: int, seeds: int, facts: dict[str, str]) -> list[str]:
    cost = functools.partial(shufflenet_cost, space, size=IMAGENET)
    rows = ["| budget (MFLOPs) | source | rejection rate | ms per valid sample | sampler training |",
            "|---:|---|---:|---:|---|"]
    for budget in (400e6, 310e6, 300e6):
        _, st = sample_within_budget(space, n, cost=cost, max_flops=budget, generator=torch.Generator().manual_seed(3))
        rows.append(f"| {budget / 1e6:.0f} | uniform | {st.rejection_rate:.3f} | {st.seconds_per_valid * 1e3:.3f} | - |")
        uniform, tnas = st.rejection_rate, []
        for seed in range(seeds):
            smp, secs, train_rej = _train_tnas(space, budget, rounds=8, per_round=50, seed=seed)
            _, st = sample_within_budget(smp, n, cost=cost, max_flops=budget,
                                         generator=torch.Generator().manual_seed(3 + seed))
            rows.append(f"| {budget / 1e6:.0f} | TNAS seed {seed} (eps={smp.sampling_eps:.1f}) | "
                        f"{st.rejection_rate:.3f} | {st.seconds_per_valid * 1e3:.3f} | 8 x (50 samples + step), "
                        f"{secs:.1f} s, rejection {train_rej:.3f} while training |")
            tnas.append(st.rejection_rate)
        facts[f"rej{budget / 1e6:.0f}"] = f"{uniform:.2f} -> {min(tnas):.2f}-{max(tnas):.2f}"
    return rows


LIMITS_NOTE = """
The paper's 400M is table 2's upper end (200-400M) and its TNAS-OS model has 365M: both lie above
(nearly) all of this block space, so the paper's limit can only have bound in a wider space (SPOS's
channel search scales widths 0.2-2.0x). The `shufflenet-imagenet` preset uses 330M, the level of
SPOS's own searched models (319M block search, 328M with channels; docs/results/shufflenet_space.md).
A run under a limit logs its rejection sampling: `rejection_accept_rate` and
`rejection_ms_per_accepted` per epoch in metrics.jsonl, `rejection` (training, GA) in result.json.
"""


def notes(facts: dict[str, str]) -> str:
    """The Notes section; every number in it comes from this run's measurements (`facts`)."""
    return f"""
## Notes

- Counter: parameters are exact against torchvision for all four ShuffleNetV2 sizes (built from the
  same blocks as the SPOS space: `shufflenet_v2_layout`); FLOPs are {facts['below']} below the ShuffleNetV2
  paper's rounded figures (we count conv and linear multiply-accumulates only, no BN/ReLU/pooling).
  The SPOS arch list is from megvii's ShuffleNet-Series/OneShot/network.py; compare its rows with the
  SPOS paper's block-search result (319M, 3.3M) and megvii's README (328M, 3.4M) in the table.
- The SPOS block space at C=64, 224x224 spans about {facts['span']}, so a 400M limit (the paper's)
  rejects nothing there when the span ends below it; the 310M and 300M rows make the limit bind.
  Which limits bind: docs/results/shufflenet_limits.md (`--limits-only`).
- TNAS rows: the sampler (default TNASConfig) is trained on a proxy score, -|FLOPs - (budget - 5M)|,
  over 8 rounds of 50 samples + `step()`; no accuracy is involved. Rejection rate, uniform -> TNAS
  (range over seeds): {facts['rej310']} at 310M, {facts['rej300']} at 300M. 'ms per valid sample'
  excludes that training (listed separately); TNAS `sample` also skips already-observed architectures.
- Throughput uses random input tensors (speed only); the mixed forward computes all 4 blocks per layer.
  On a shared machine rates vary between rounds (see the all-rounds column); the best round is the
  least disturbed one.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed train steps per model")
    ap.add_argument("--n", type=int, default=200, help="valid samples per budget-sampling row")
    ap.add_argument("--seeds", type=int, default=3, help="TNAS sampler seeds per budget")
    ap.add_argument("--out", default="docs/results/shufflenet_space.md")
    ap.add_argument("--limits-only", action="store_true",
                    help="only the table of which FLOPs limits bind (seconds; e.g. --out docs/results/shufflenet_limits.md)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    space = get_space("shufflenet")
    t0 = time.perf_counter()
    facts: dict[str, str] = {}
    limits = {"Which FLOPs limits bind (C=64, 224x224, 1000 classes)": limit_shares(space)}
    parts = limits if args.limits_only else {
        "Counter validation (C=64, 224x224, 1000 classes)": validation(space, facts),
        "Train-step throughput (one thread)": throughput(space, args.steps), **limits,
        "FLOPs-counter speed": counter_speed(space),
        f"Sampling {args.n} architectures within a FLOPs budget (C=64, 224x224)": budget_sampling(space, args.n, args.seeds, facts)}
    head = ["# ShuffleNet (SPOS) space benchmark\n",
            f"- command: `nice python {' '.join(sys.argv)}`",
            f"- machine: {machine()}", f"- torch {torch.__version__}, date {datetime.date.today()}",
            f"- total runtime {time.perf_counter() - t0:.0f} s\n"]
    text = "\n".join(head + [line for title, rows in parts.items() for line in (f"\n## {title}\n", *rows)]) + "\n"
    text += LIMITS_NOTE if args.limits_only else notes(facts)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
