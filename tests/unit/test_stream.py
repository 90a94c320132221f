"""Streamed image folders for `tnas search` (data.stream=true): the held-out split, deterministic
and resumable epochs, worker decoding, rank shards, and memory bounded on a folder larger than the bound."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tnas.data.formats import write_jpeg_folder
from tnas.data.stream_split import open_stream
from tnas.errors import TnasError

CIFAR = Path(__file__).resolve().parents[1] / "data" / "cifar10"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 real CIFAR-10 JPEGs in train/<class>/ and 500 in test/<class>/ (bytes unchanged)."""
    root = tmp_path_factory.mktemp("cifar-folder")
    for split in ("train", "test"):
        write_jpeg_folder(CIFAR / f"cifar10_jpeg_q75_{split}.npz", root)
    return root


def _open(folder: Path, **kw):
    return open_stream(folder, **{"holdout": 100, "image_size": 16, "split_seed": 0, "limit": None, "workers": 0, **kw})


def test_holdout_split_is_stratified_disjoint_and_recorded(folder: Path) -> None:
    data = _open(folder)
    held = data.files["holdout.txt"]
    train = set(data.train.images.files)
    assert len(held) == len(set(held)) == 100 and not train & set(held) and len(train) == 900
    assert np.bincount(data.valid.labels.numpy(), minlength=10).tolist() == [10] * 10
    assert data.split_info["sizes"] == {"train": 900, "valid": 100, "test": 500}
    assert len(data.valid) == 100 and data.valid.shape == (3, 16, 16) and data.train.shape == (3, 16, 16)
    assert _open(folder).files == data.files and _open(folder, split_seed=1).files != data.files
    with pytest.raises(TnasError, match="data.holdout"):
        _open(folder, holdout=1000)


def test_epochs_are_deterministic_resumable_and_the_same_in_worker_processes(folder: Path) -> None:
    data = _open(folder)

    def epoch(start: int, workers: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
        data.train.workers = workers
        g = torch.Generator().manual_seed(3)  # 900 // 64 = 14 batches a pass: 20 steps take 2 passes
        out = [x for x, _ in data.train.epoch_batches(64, generator=g, steps=20, start=start, augment=True)]
        return out, g.get_state()

    full, state = epoch(0)
    assert len(full) == 20 and all(x.shape == (64, 3, 16, 16) for x in full)
    tail, state2 = epoch(13)  # a run resumed at step 13: the same batches, the same generator after
    assert all(torch.equal(a, b) for a, b in zip(full[13:], tail, strict=True)) and torch.equal(state, state2)
    in_workers, _ = epoch(0, workers=2)
    assert all(torch.equal(a, b) for a, b in zip(full, in_workers, strict=True))
    assert not torch.equal(full[0], full[14])  # the second pass is reshuffled and re-augmented


def test_each_rank_decodes_only_its_rows(folder: Path) -> None:
    data = _open(folder)
    whole = next(data.train.epoch_batches(32, generator=torch.Generator().manual_seed(0), steps=1))
    data.train.shard(1, 2)
    mine = next(data.train.epoch_batches(32, generator=torch.Generator().manual_seed(0), steps=1))
    assert torch.equal(mine[1], whole[1]) and torch.equal(mine[0][16:], whole[0][16:])
    assert not mine[0][:16].any()  # rank 0's rows: not decoded here


MEASURE = """
import json, sys
import torch
from tnas.data.stream_split import open_stream

def rss():  # resident memory of this process now, bytes
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) * 1024

data = open_stream(sys.argv[1], holdout=100, image_size=160, split_seed=0, limit=None, workers=2)
g = torch.Generator().manual_seed(0)
for _ in data.train.epoch_batches(16, generator=g, steps=2):  # warm-up: workers, allocator
    pass
base, top, seen = rss(), 0, 0
for x, _ in data.train.epoch_batches(16, generator=g, steps=len(data.train) // 16):
    seen, top = seen + x.shape[0], max(top, rss())
for x, _ in data.test.batches(16, generator=g, drop_last=False):
    seen, top = seen + x.shape[0], max(top, rss())
kept = [x.clone() for x, _ in data.test.batches(16, generator=g, drop_last=False)]  # control: hold a set
print(json.dumps({"seen": seen, "streamed": top - base, "kept": rss() - base}))
"""


def test_memory_stays_bounded_on_a_folder_larger_than_the_bound(folder: Path) -> None:
    # bound (tnas.data.stream): workers x PREFETCH + 1 uint8 batches in flight and one float batch
    side, batch, workers = 160, 16, 2
    bound = (workers * 2 + 1) * batch * 3 * side**2 + 4 * batch * 3 * side**2
    # a fixed mmap threshold: glibc otherwise raises it after the first freed batch and keeps freed
    # batch buffers in its heap (here up to ~300 MB, then flat), so RSS would measure that cache, not
    # the images alive (docs/imagenet.md)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "131072"}
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(folder)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads(proc.stdout.splitlines()[-1])
    decoded = m["seen"] * 3 * side**2  # what the streamed images take decoded (uint8)
    assert m["seen"] == 896 + 500 and decoded > 5 * bound  # the folder is much larger than the bound
    assert m["streamed"] < 2 * bound, m  # streaming it all grew the memory by no more than the bound (+ slack)
    assert m["kept"] > 0.9 * 4 * 500 * 3 * side**2, m  # the control: holding the 500 test images (float) shows
