"""Streamed vs in-memory training data for `tnas search`, on CIFAR-10 saved as a folder of JPEG files.

The shared CIFAR-10 copy (60,000 JPEGs, quality 75) is written once as FOLDER/train/<class>/*.jpg and
FOLDER/test/<class>/*.jpg (bytes unchanged; default /tmp, never the repository). Then, in one run:

* in memory (`load_dataset('imagefolder')`, the default path): decoding every image up front, then
  training batches (uint8 on the device, pad-crop + flip as batched tensor ops);
* streamed (`data.stream=true`, `tnas.data.stream_split.open_stream`) with 0, 1 and 2 worker
  processes: JPEG decode + random resized crop + flip per image in the workers.

For each: start-up seconds (until the first batch can be drawn), data-only images/s over the same
number of batches, one-shot training steps/s (NB201 supernet, uniform architectures: data + forward
+ backward + SGD), and the image bytes held in memory. Ratios are against the in-memory path.

    python benchmarks/stream_throughput.py     # writes docs/results/stream_throughput.md
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from _common import machine_line
from tnas.data import load_dataset
from tnas.data.formats import write_jpeg_folder
from tnas.data.stream import PREFETCH, StreamedImageSet
from tnas.data.stream_split import open_stream
from tnas.paths import find_data
from tnas.space import get_space
from tnas.supernet import NB201Supernet


def write_folder(out: Path) -> int:
    """The shared CIFAR-10 as out/train/<class>/*.jpg + out/test/<class>/*.jpg (once)."""
    if (out / "train").is_dir() and (out / "test").is_dir():
        return sum(1 for _ in out.glob("*/*/*.jpg"))
    src = find_data("cifar10", what="the shared CIFAR-10 copy")
    return sum(write_jpeg_folder(src / f"cifar10_jpeg_q75_{s}.npz", out) for s in ("train", "test"))


def batches_of(train, batch: int, steps: int, g: torch.Generator):
    """`steps` augmented training batches of either kind of set."""
    if isinstance(train, StreamedImageSet):
        return train.epoch_batches(batch, generator=g, steps=steps, augment=True)

    def cycle():
        while True:
            yield from train.batches(batch, generator=g, shuffle=True, augment=True)
    it = cycle()
    return (next(it) for _ in range(steps))


def data_rate(train, batch: int, steps: int) -> float:
    """Images/s of drawing `steps` augmented batches (no training)."""
    t0 = time.perf_counter()
    n = sum(x.shape[0] for x, _ in batches_of(train, batch, steps, torch.Generator().manual_seed(0)))
    return n / (time.perf_counter() - t0)


def train_rate(train, batch: int, steps: int) -> float:
    """One-shot training steps/s: data + forward + backward + SGD on uniform NB201 architectures."""
    space = get_space("nb201")
    torch.manual_seed(0)
    net = NB201Supernet(space, C=8, N=1, num_classes=10, in_channels=3)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    archs = space.sample_uniform(steps, g)
    t0 = time.perf_counter()
    for arch, (x, y) in zip(archs, batches_of(train, batch, steps, torch.Generator().manual_seed(0))):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x, arch), y).backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", default="/tmp/tnas-cifar10-jpeg", help="where the JPEG folder is written")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--data-steps", type=int, default=40, help="batches timed for the data-only rate")
    ap.add_argument("--train-steps", type=int, default=15, help="training steps timed")
    ap.add_argument("--holdout", type=int, default=5000)
    ap.add_argument("--out", default="docs/results/stream_throughput.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    folder = Path(args.folder)
    t0 = time.perf_counter()
    files = write_folder(folder)
    rows, base = [], None
    for name, workers in (("in memory", None), ("streamed, 0 workers", 0), ("streamed, 1 worker", 1),
                          ("streamed, 2 workers", 2)):
        t = time.perf_counter()
        if workers is None:
            data = load_dataset("imagefolder", folder)
            held = sum(s.images.numel() for _, s in data.items())
        else:
            data = open_stream(folder, holdout=args.holdout, image_size=32, split_seed=0, limit=None, workers=workers)
            held = data.valid.images.numel() + (workers * PREFETCH + 1 if workers else 1) * args.batch * 3 * 32 * 32
        start = time.perf_counter() - t
        img_s, step_s = data_rate(data.train, args.batch, args.data_steps), train_rate(data.train, args.batch,
                                                                                         args.train_steps)
        base = base or (img_s, step_s)
        rows.append(f"| {name} | {start:.1f} | {img_s:,.0f} | {img_s / base[0]:.2f} | {step_s:.2f} | "
                    f"{step_s / base[1]:.2f} | {held / 2**20:.0f} |")
        print(rows[-1], flush=True)
    head = ["# Streamed vs in-memory training data (CIFAR-10 as a JPEG folder)\n",
            f"- command: `nice python {' '.join(sys.argv)}`", f"- {machine_line()}; 1 torch thread",
            f"- date {datetime.date.today()}; total runtime {time.perf_counter() - t0:.0f} s",
            f"- folder: {files:,} JPEG files (CIFAR-10 train 50,000 + test 10,000, quality 75, 32x32); batch "
            f"{args.batch}; data rate over {args.data_steps} batches, training over {args.train_steps} steps "
            "(NB201 supernet C=8, N=1, uniform architectures, SGD)\n",
            "| path | start-up (s) | data: images/s | vs in memory | training: steps/s | vs in memory | "
            "images held (MiB) |", "|---|---:|---:|---:|---:|---:|---:|"]
    notes = f"""
Start-up: in memory decodes all {files:,} images before the first step; streamed decodes only the
{args.holdout:,} held-out images (the architectures' validation set). 'Images held': in memory every
split as uint8; streamed the held-out set plus the bound on batches in flight (workers x {PREFETCH} + 1
batches of uint8 [B, 3, 32, 32]; 0 workers: 1 batch), whatever the folder's size. Augmentation differs
(in memory: pad-and-crop + flip as tensor ops; streamed: random resized crop + flip per image in
Pillow, the ImageNet recipe), so the streamed rate includes JPEG decoding and that crop. Here the
workers compete with the training thread for 2 cores (shared with other jobs: compare rows only
within one run); with a core per worker the data rate scales with the workers.
"""
    text = "\n".join(head + rows) + "\n" + notes
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
