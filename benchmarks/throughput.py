"""Training throughput of the tnas NB201 supernet vs xautodl's TinyNetworkRANDOM (NB201 RSPS).

One training step = forward + backward + SGD step on one uniformly sampled architecture. Both
supernets get the same architectures (in the same order), the same input batches, the same C, N,
batch and input size, and run interleaved in the same process (the order alternates per
repeat). Also times the TNAS sampler's per-step overhead (sample + observe + amortised
`step()`), when `tnas.sampler.tnas.TNASSampler` exists.

    pip install --no-deps xautodl==1.0.0     # only for this benchmark; not a tnas dependency
    python benchmarks/throughput.py          # writes docs/results/throughput.md

Uses CUDA (timed with CUDA events, read once per repeat: no sync between steps) when present,
else the CPU (perf_counter). `--precision bf16` runs both supernets under bf16 autocast
(tnas.accel, as `tnas search` does on CUDA); benchmarks/gpu_check.py calls `bench` for the GPU.
"""
from __future__ import annotations

import argparse
import datetime
import os
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

from tnas.accel import resolve_accel
from tnas.space import get_space
from tnas.supernet import NB201Supernet
from tnas.supernet.nb201_cost import count_flops
from tnas.timing import StepClock

ROOT = Path(__file__).resolve().parents[1]
TNAS, XAUTODL = "tnas NB201Supernet", "xautodl TinyNetworkRANDOM"


def build_xautodl(C: int, N: int, num_classes: int) -> tuple[nn.Module, Callable[[Tensor], object]]:
    """xautodl's RSPS supernet as NB201's RANDOM-NAS script builds it, and arch -> Structure."""
    from xautodl.models.cell_operations import SearchSpaceNames
    from xautodl.models.cell_searchs import CellStructure, TinyNetworkRANDOM

    net = TinyNetworkRANDOM(C, N, 4, num_classes, SearchSpaceNames["nas-bench-201"], False, True)
    space = get_space("nb201")
    return net, lambda arch: CellStructure.str2structure(space.to_genotype(arch))


Step = Callable[[Tensor, Tensor, Tensor], None]  # (images, labels, arch) -> None


def make_step(model: nn.Module, forward: Callable[[Tensor, Tensor], Tensor]) -> Step:
    """One SGD training step (NB201's search optimiser settings) on a given architecture."""
    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=5e-4, nesterov=True)

    def step(x: Tensor, y: Tensor, arch: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(forward(x, arch), y).backward()
        opt.step()

    return step


def build_steps(args: argparse.Namespace, device: torch.device) -> dict[str, Step]:
    """name -> training step, for tnas and (when installed) xautodl, same C, N and classes, all
    in `args.precision` (fp32 or bf16 autocast, applied by `tnas.accel` as in `tnas search`)."""
    torch.manual_seed(args.seed)  # xautodl initialises from the global RNG; this script owns it
    precision = getattr(args, "precision", "fp32")
    # 'auto': the supernet's default (NHWC on CPU; on CUDA NHWC with bf16, as tnas search does)
    layouts = [(TNAS, "off" if args.nchw else "auto")] + ([(TNAS + " NCHW", "off")] if getattr(args, "tnas_nchw", False)
                                                          else [])
    steps = {}
    for name, layout in layouts:
        net = NB201Supernet(C=args.C, N=args.N, num_classes=10, in_channels=3).to(device)
        ours = resolve_accel(device, precision, layout).prepare(net)
        steps[name] = make_step(ours, ours)
    try:
        import xautodl  # noqa: F401
    except ImportError:
        print("xautodl not installed (pip install --no-deps xautodl==1.0.0): timing tnas only", file=sys.stderr)
        return steps
    variants = [(XAUTODL, "off")] + ([(XAUTODL + " + NHWC input", "on")] if args.xautodl_nhwc else [])
    for name, layout in variants:
        xnet, to_structure = build_xautodl(args.C, args.N, 10)
        xnet = resolve_accel(device, precision, layout).prepare(xnet.to(device))
        steps[name] = make_step(xnet, _xforward(xnet, to_structure))
    return steps


def _xforward(xnet: nn.Module, to_structure: Callable[[Tensor], object]) -> Callable[[Tensor, Tensor], Tensor]:
    def forward(x: Tensor, arch: Tensor) -> Tensor:
        xnet.arch_cache = to_structure(arch)  # what xnet.random_genotype(True) would set
        return xnet(x)[1]

    return forward


class SamplerProbe:
    """Times the TNAS sampler's work per training step inside the training loop, so that it sees
    the same machine load as the supernet steps it is compared with."""

    def __init__(self, args: argparse.Namespace) -> None:
        from tnas.sampler.tnas import TNASSampler

        self.space, self.spe = get_space("nb201"), args.steps_per_epoch
        self.g = torch.Generator().manual_seed(args.seed)
        self.sampler = TNASSampler(self.space, seed=args.seed)
        # One epoch of observations, then a retraining so that eps > 0 and sampling uses the VAE.
        self.sampler.observe(self.space.sample_uniform(self.spe, self.g), torch.rand(self.spe, generator=self.g))
        self.sampler.step()
        self.draws: list[float] = []
        self.retrains: list[float] = []

    def draw(self) -> None:
        """What TNAS-OS does per step: sample one arch, later observe its validation score."""
        t0 = time.perf_counter()
        arch = self.sampler.sample(1, generator=self.g)
        self.sampler.observe(arch, torch.rand(1, generator=self.g))
        self.draws.append(time.perf_counter() - t0)

    def retrain(self) -> None:
        """What TNAS-OS does per epoch: retrain the VAE on the top-k and raise eps."""
        t0 = time.perf_counter()
        self.sampler.step()
        self.retrains.append(time.perf_counter() - t0)

    def report(self, step_seconds: float) -> str:
        t_draw, t_step = statistics.mean(self.draws), statistics.mean(self.retrains)
        per_step = t_draw + t_step / self.spe
        return (
            "## TNAS sampler overhead\n\n"
            f"Per training step: `sample(1)` + `observe(1)` = {t_draw * 1e3:.2f} ms (mean of {len(self.draws)}); "
            f"`step()` (VAE retraining, once per epoch of {self.spe} steps; mean of {len(self.retrains)}) = "
            f"{t_step * 1e3:.0f} ms, amortised {t_step / self.spe * 1e3:.2f} ms; eps at the end = "
            f"{getattr(self.sampler, 'sampling_eps', float('nan')):.2f}. Timed interleaved with the supernet steps.\n"
            f"Total {per_step * 1e3:.2f} ms per step = **{100 * per_step / step_seconds:.2f}%** of the tnas supernet "
            f"step ({step_seconds * 1e3:.0f} ms, mean over the same repeats; target < 2%).\n"
        )


def make_probe(args: argparse.Namespace) -> SamplerProbe | None:
    try:
        return SamplerProbe(args)
    except ImportError:
        return None


NO_SAMPLER = ("## TNAS sampler overhead\n\n**TODO (lead):** `tnas.sampler.tnas.TNASSampler` did not exist when "
              "this was run; rerun `python benchmarks/throughput.py` to fill this section.\n")


def bench(
    args: argparse.Namespace, device: torch.device, probe: SamplerProbe | None
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """images/s per repeat, and seconds of every timed step, for each supernet. The supernets
    alternate step by step (the order rotates every step), so load from other processes hits
    all of them alike; the sampler probe (if any) runs in the same loop. A step's time is the
    interval between marks of the device's stream (CUDA events; no sync between steps, read
    once per repeat), so a GPU queue that never drains is measured as it runs in training."""
    g = torch.Generator().manual_seed(args.seed)
    archs = get_space("nb201").sample_uniform(args.warmup + args.repeats * args.steps, g)
    xs = torch.randn(4, args.batch, 3, args.size, args.size, generator=g).to(device)
    ys = torch.randint(0, 10, (4, args.batch), generator=g).to(device)
    steps = build_steps(args, device)
    for step in steps.values():  # warm-up: allocator, oneDNN primitive caches, cudnn autotune
        for s in range(args.warmup):
            step(xs[s % 4], ys[s % 4], archs[s])
    names = list(steps)
    rates: dict[str, list[float]] = {name: [] for name in names}
    per_step: dict[str, list[float]] = {name: [] for name in names}  # seconds of every timed step
    args.timed_archs = []  # the architectures of the timed steps, in order (for model FLOPs)
    for r in range(args.repeats):
        clock, order = StepClock(device), []
        for s in range(args.warmup + r * args.steps, args.warmup + (r + 1) * args.steps):
            k = s % len(names)
            for name in names[k:] + names[:k]:
                steps[name](xs[s % 4], ys[s % 4], archs[s])
                clock.mark()
                order.append(name)
            if probe is not None:
                probe.draw()
                clock.mark()
                order.append("probe")  # host work between steps: its interval is not a step's
            args.timed_archs.append(archs[s])
        seconds = dict.fromkeys(names, 0.0)
        for name, t in zip(order, clock.intervals()):
            if name != "probe":
                seconds[name] += t
                per_step[name].append(t)
        if probe is not None:
            probe.retrain()
        for name in names:
            rates[name].append(args.steps * args.batch / seconds[name])
        print(f"  repeat {r}: " + ", ".join(f"{n} {rates[n][-1]:.1f} img/s" for n in names), file=sys.stderr)
    return rates, per_step


def model_tflops(args: argparse.Namespace, per_step: list[float]) -> float:
    """Model TFLOP/s of one supernet's timed steps: 6 x MACs x batch per step (forward 2 FLOPs
    per MAC, backward twice that), with MACs as NB201 counts them for the sampled cell
    (`count_flops`, every chosen op: also the dead edges tnas skips)."""
    macs = sum(count_flops(a, C=args.C, N=args.N, input_size=args.size) for a in args.timed_archs)
    return 6 * macs * args.batch / sum(per_step) / 1e12


def environment(device: torch.device) -> str:
    """Markdown lines: machine, torch version, date."""
    if device.type == "cuda":
        machine = torch.cuda.get_device_name(device)
    else:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        names = [ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")]
        cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
        machine = f"{names[0] if names else platform.processor()}, {cores} cores"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"- Machine: {machine}; load average at the end (1, 5, 15 min): {load}\n"
            f"- torch {torch.__version__}, Python {platform.python_version()}\n"
            f"- Date: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}\n")


def report(args: argparse.Namespace, rates: dict[str, list[float]], per_step: dict[str, list[float]]) -> str:
    """Markdown table of images/s and the tnas / xautodl ratios."""
    med = {name: statistics.median(v) for name, v in rates.items()}
    lines = ["| supernet | images/s (median) | per repeat | step time (ms) | model TFLOP/s |", "|---|---|---|---|---|"]
    for name, v in rates.items():
        per_repeat = ", ".join(f"{r:.1f}" for r in v)
        lines.append(f"| {name} | {med[name]:.1f} | {per_repeat} | {1e3 * args.batch / med[name]:.1f} | "
                     f"{model_tflops(args, per_step[name]):.3g} |")
    if XAUTODL in rates:
        ratios = [a / b for a, b in zip(rates[TNAS], rates[XAUTODL])]
        lines.append(f"\n**Ratio tnas / xautodl: {med[TNAS] / med[XAUTODL]:.2f}x** (median of images/s; per repeat: "
                     f"{', '.join(f'{r:.2f}' for r in ratios)}; target >= 1.3x)")
        # Same arch and batch, timed back to back: robust to load that changes between repeats.
        step_ratios = [x / t for x, t in zip(per_step[XAUTODL], per_step[TNAS])]
        q = statistics.quantiles(step_ratios, n=4)
        lines.append(f"Per-step ratio (same architecture, adjacent in time), median over {len(step_ratios)} steps: "
                     f"**{statistics.median(step_ratios):.2f}x** (quartiles {q[0]:.2f}, {q[2]:.2f})")
    return "\n".join(lines) + "\n"


NOTES = """How to read this: both supernets train the same sampled path per step (NB201's RSPS), with
the same optimiser (SGD, lr 0.025, momentum 0.9, nesterov, wd 5e-4). tnas is faster because (a) it
runs on NHWC activations on CPU, where oneDNN's convolution backward and the
`count_include_pad=False` average pool are much faster than in NCHW (the "+ NHWC input" row gives
xautodl the same layout, isolating this share), and (b) it computes only the live edges of the
sampled cell: 'none' edges, edges reading an all-zero node and edges whose output cannot reach the
cell output are skipped (xautodl runs them, e.g. `x.mul(0.)` for 'none'), and one ReLU is shared by
the convolutions reading the same node. The machine is shared by other jobs: the load average is
printed above; with 2 torch threads on 2 busy cores, OpenMP threads wait for each other and the
timings swing widely (compare the per-repeat columns), so the 1-thread table is the cleaner one.
The per-step ratio compares both on the same architecture back to back (robust to load changes
between repeats); its spread is mostly the architecture's: a cell with many 'none' or dead edges
costs tnas little and xautodl nearly a full cell.
"""


def parse_args() -> argparse.Namespace:
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
    p.add_argument("--threads", default="0", help="torch CPU threads, comma-separated for several runs (0: default)")
    p.add_argument("--nchw", action="store_true", help="run tnas in NCHW (its default: NHWC on CPU, and on CUDA with bf16)")
    p.add_argument("--tnas-nchw", action="store_true", help="also time tnas in NCHW (a row of its own)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="bf16: autocast, as tnas on CUDA")
    p.add_argument("--xautodl-nhwc", action="store_true",
                   help="also time xautodl fed NHWC input (isolates the memory-format share of the gain)")
    p.add_argument("--steps-per-epoch", type=int, default=391, help="for amortising sampler.step() (25k/64)")
    p.add_argument("--out", default=str(ROOT / "docs" / "results" / "throughput.md"), help="'' to skip writing")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    default_threads = torch.get_num_threads()
    sections, sampler_text = [], NO_SAMPLER
    for i, threads in enumerate(int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads or default_threads)
        probe = make_probe(args) if i == 0 else None  # the sampler is timed with the first setting
        rates, per_step = bench(args, device, probe)
        sections.append(f"### {torch.get_num_threads()} torch thread(s)\n\n{report(args, rates, per_step)}")
        if probe is not None:
            sampler_text = probe.report(statistics.mean(per_step[TNAS]))
    text = (f"# Training throughput: tnas NB201 supernet vs xautodl RSPS\n\n"
            f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`\n\n{environment(device)}"
            f"- Device: {device}, {args.precision}; C={args.C}, N={args.N}, batch {args.batch}, {args.size}x{args.size}x3, 10 classes; "
            f"{args.repeats} repeats x {args.steps} steps (after {args.warmup} warm-up steps each), the supernets "
            "alternating step by step on the same architectures and batches\n\n"
            + "\n".join(sections) + f"\n{NOTES}\n{sampler_text}")
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
