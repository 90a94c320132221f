"""Training throughput of the tnas NB201 supernet vs xautodl's TinyNetworkRANDOM (NB201 RSPS).

One training step = forward + backward + SGD step on one uniformly sampled architecture. Both
supernets get the same architectures (in the same order), the same input batches, the same C, N,
batch and input size, and run interleaved in the same process (the order alternates per
repeat). Also times the TNAS sampler's per-step overhead (sample + observe + amortised
`step()`), when `tnas.sampler.tnas.TNASSampler` exists.

    pip install --no-deps xautodl==1.0.0     # only for this benchmark; not a tnas dependency
    python benchmarks/throughput.py          # writes docs/results/throughput.md

Uses CUDA (timed with CUDA events) when present, else the CPU (perf_counter).
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tnas.space import get_space
from tnas.supernet import NB201Supernet

ROOT = Path(__file__).resolve().parents[1]


def build_xautodl(C: int, N: int, num_classes: int) -> tuple[nn.Module, Callable[[Tensor], object]]:
    """xautodl's RSPS supernet as NB201's RANDOM-NAS script builds it, and arch -> Structure."""
    from xautodl.models.cell_operations import SearchSpaceNames
    from xautodl.models.cell_searchs import CellStructure, TinyNetworkRANDOM

    net = TinyNetworkRANDOM(C, N, 4, num_classes, SearchSpaceNames["nas-bench-201"], False, True)
    space = get_space("nb201")
    return net, lambda arch: CellStructure.str2structure(space.to_genotype(arch))


class Timer:
    """Wall time of a block: CUDA events on GPU, perf_counter on CPU (seconds)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __enter__(self) -> "Timer":
        if self.cuda:
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            self.end.record()
            torch.cuda.synchronize()
            self.seconds = self.start.elapsed_time(self.end) / 1e3
        else:
            self.seconds = time.perf_counter() - self.t0


def make_step(model: nn.Module, forward: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor, Tensor], None]:
    """One SGD training step (NB201's search optimiser settings) on a given architecture."""
    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=5e-4, nesterov=True)

    def step(x: Tensor, y: Tensor, arch: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(forward(x, arch), y).backward()
        opt.step()

    return step


def build_steps(args: argparse.Namespace, device: torch.device) -> dict[str, Callable[[Tensor, Tensor, Tensor], None]]:
    ours = NB201Supernet(C=args.C, N=args.N, num_classes=10, in_channels=3).to(device)
    if args.channels_last:
        ours = ours.to(memory_format=torch.channels_last)
    steps = {"tnas NB201Supernet": make_step(ours, ours)}
    try:
        xnet, to_structure = build_xautodl(args.C, args.N, 10)
    except ImportError:
        print("xautodl not installed (pip install --no-deps xautodl==1.0.0): timing tnas only", file=sys.stderr)
        return steps
    xnet = xnet.to(device)

    def xforward(x: Tensor, arch: Tensor) -> Tensor:
        xnet.arch_cache = to_structure(arch)  # what random_genotype(True) would set
        return xnet(x)[1]

    steps["xautodl TinyNetworkRANDOM"] = make_step(xnet, xforward)
    return steps


def bench(args: argparse.Namespace, device: torch.device) -> dict[str, list[float]]:
    """images/s per repeat for each supernet, interleaved."""
    g = torch.Generator().manual_seed(args.seed)
    space = get_space("nb201")
    total = args.warmup + args.repeats * args.steps
    archs = space.sample_uniform(total, g)
    xs = torch.randn(4, args.batch, 3, args.size, args.size, generator=g).to(device)
    ys = torch.randint(0, 10, (4, args.batch), generator=g).to(device)
    if args.channels_last:
        xs = torch.stack([x.contiguous(memory_format=torch.channels_last) for x in xs])
    steps = build_steps(args, device)
    for step in steps.values():  # warm-up: allocator, oneDNN primitive caches, cudnn autotune
        for s in range(args.warmup):
            step(xs[s % 4], ys[s % 4], archs[s])
    rates: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for r in range(args.repeats):
        chunk = range(args.warmup + r * args.steps, args.warmup + (r + 1) * args.steps)
        for name in names if r % 2 == 0 else names[::-1]:
            with Timer(device) as t:
                for s in chunk:
                    steps[name](xs[s % 4], ys[s % 4], archs[s])
            rates[name].append(args.steps * args.batch / t.seconds)
            print(f"  repeat {r}: {name:28s} {rates[name][-1]:8.1f} img/s", file=sys.stderr)
    return rates


def sampler_overhead(args: argparse.Namespace, step_seconds: float) -> str:
    """Markdown section: TNAS sampler cost per training step as % of the supernet step time."""
    try:
        from tnas.sampler.tnas import TNASSampler
    except ImportError:
        return ("## TNAS sampler overhead\n\n**TODO (lead):** `tnas.sampler.tnas.TNASSampler` did not exist when "
                "this was run; rerun `python benchmarks/throughput.py` to fill this section.\n")
    space = get_space("nb201")
    g = torch.Generator().manual_seed(args.seed)
    sampler = TNASSampler(space, seed=args.seed)
    spe = args.steps_per_epoch
    # One epoch of observations, then retrain twice so eps > 0 and sampling really uses the VAE.
    sampler.observe(space.sample_uniform(spe, g), torch.rand(spe, generator=g))
    t0 = time.perf_counter()
    for _ in range(2):
        sampler.step()
    t_step = (time.perf_counter() - t0) / 2
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        arch = sampler.sample(1, generator=g)
        sampler.observe(arch, torch.rand(1, generator=g))
    t_draw = (time.perf_counter() - t0) / n
    per_step = t_draw + t_step / spe
    eps = getattr(sampler, "sampling_eps", float("nan"))
    return (
        "## TNAS sampler overhead\n\n"
        f"Per training step: `sample(1)` + `observe(1)` = {t_draw * 1e3:.2f} ms; `step()` (VAE retraining, once per "
        f"epoch of {spe} steps) = {t_step * 1e3:.0f} ms, amortised {t_step / spe * 1e3:.2f} ms; eps at timing = {eps:.2f}.\n"
        f"Total {per_step * 1e3:.2f} ms per step = **{100 * per_step / step_seconds:.2f}%** of the tnas supernet step "
        f"({step_seconds * 1e3:.0f} ms; target < 2%).\n"
    )


def environment(device: torch.device) -> str:
    if device.type == "cuda":
        machine = torch.cuda.get_device_name(device)
    else:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), platform.processor())
        machine = f"{model}, {torch.get_num_threads()} torch threads ({subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores)"
    return (f"- Machine: {machine}\n- torch {torch.__version__}, Python {platform.python_version()}\n"
            f"- Date: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}\n")


def report(args: argparse.Namespace, device: torch.device, rates: dict[str, list[float]]) -> str:
    med = {name: statistics.median(v) for name, v in rates.items()}
    lines = ["| supernet | images/s (median) | per repeat | step time (ms) |", "|---|---|---|---|"]
    for name, v in rates.items():
        lines.append(f"| {name} | {med[name]:.1f} | {', '.join(f'{r:.1f}' for r in v)} | {1e3 * args.batch / med[name]:.0f} |")
    names = list(rates)
    if len(names) == 2:
        ratios = [a / b for a, b in zip(rates[names[0]], rates[names[1]])]
        lines.append(f"\n**Ratio tnas / xautodl: {med[names[0]] / med[names[1]]:.2f}x** (per repeat: "
                     f"{', '.join(f'{r:.2f}' for r in ratios)}; target >= 1.3x)")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--N", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda if present), cpu or cuda")
    p.add_argument("--channels-last", action="store_true", help="run tnas in channels_last memory format")
    p.add_argument("--steps-per-epoch", type=int, default=391, help="for amortising sampler.step() (25k/64)")
    p.add_argument("--out", default=str(ROOT / "docs" / "results" / "throughput.md"), help="'' to skip writing")
    args = p.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    rates = bench(args, device)
    table = report(args, device, rates)
    step_s = args.batch / statistics.median(rates["tnas NB201Supernet"])
    text = (f"# Training throughput: tnas NB201 supernet vs xautodl RSPS\n\n"
            f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`\n\n{environment(device)}"
            f"- Device: {device}; C={args.C}, N={args.N}, batch {args.batch}, {args.size}x{args.size}x3, 10 classes; "
            f"{args.repeats} interleaved repeats x {args.steps} steps (after {args.warmup} warm-up steps each)\n\n"
            f"{table}\n{sampler_overhead(args, step_s)}")
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
