"""Rebuild tests/data/cifar10/ from the shared CIFAR-10 copy: the first 100 training and 50 test images of each class.

The files keep the shared layout (JPEG bytes unchanged, `offsets`, `labels`, `names`), so the
loaders read them as they read the full copy. Run from the repository root:
    python tests/data/make_cifar10_subset.py ../shared/data/cifar10
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

PER_CLASS = {"train": (100, 5000), "test": (50, 1000)}  # kept per class, images per class in the source


def subset(src: Path, out: Path, keep: int, per_class: int) -> None:
    with np.load(src, allow_pickle=False) as z:
        jpeg, offsets, labels, names = z["jpeg"], z["offsets"], z["labels"], z["names"]
    rows = np.concatenate([np.arange(c * per_class, c * per_class + keep) for c in range(10)])
    assert (labels[rows] == np.repeat(np.arange(10), keep)).all(), "the source is not grouped by class"
    parts = [jpeg[offsets[i]:offsets[i + 1]] for i in rows]
    new_offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    np.savez(out, jpeg=np.concatenate(parts), offsets=new_offsets, labels=labels[rows], names=names[rows])


def main(src_dir: str) -> None:
    out_dir = Path(__file__).resolve().parent / "cifar10"
    out_dir.mkdir(exist_ok=True)
    for split, (keep, per_class) in PER_CLASS.items():
        name = f"cifar10_jpeg_q75_{split}.npz"
        subset(Path(src_dir) / name, out_dir / name, keep, per_class)
        print(out_dir / name, (out_dir / name).stat().st_size)


if __name__ == "__main__":
    main(sys.argv[1])
