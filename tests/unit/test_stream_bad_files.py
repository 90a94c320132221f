"""Streamed image folders with bad files (issue 24): checked before training by a fast scan, and a
file that goes bad mid-epoch is tnas's own error naming it, never a DataLoader worker traceback."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tnas.data.stream_split import open_stream
from tnas.errors import TnasError


def _png(path: Path, value: int, side: int = 12) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((side, side, 3), value, dtype=np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """train/{a,b,c}/ with 8 PNGs each, val/{a,b,c}/ with 2."""
    for split, n in (("train", 8), ("val", 2)):
        for c, cls in enumerate("abc"):
            for i in range(n):
                _png(tmp_path / split / cls / f"{i}.png", 40 * c + i)
    return tmp_path


def _open(folder: Path, workers: int = 0, skip_bad: bool = False):
    return open_stream(folder, holdout=3, image_size=8, split_seed=0, limit=None, workers=workers, skip_bad=skip_bad)


def test_a_clean_folder_opens(folder: Path) -> None:
    assert len(_open(folder).train) == 21


BAD = {  # how to spoil train/b/3.png -> words the error must hold
    "text_named_png": (lambda p: p.write_text("hello, not an image\n"), ("3.png", "no PNG")),
    "empty_file": (lambda p: p.write_bytes(b""), ("3.png", "empty")),
    "truncated_png": (lambda p: p.write_bytes(p.read_bytes()[:40]), ("3.png", "decode")),
    "link_loop": (lambda p: (p.unlink(), os.symlink(p, p)), ("3.png", "cannot be read")),
    "folder_named_png": (lambda p: (p.unlink(), p.mkdir()), ("3.png", "not a regular file")),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_file_is_found_before_training(folder: Path, name: str) -> None:
    spoil, words = BAD[name]
    spoil(folder / "train" / "b" / "3.png")
    with pytest.raises(TnasError) as e:
        _open(folder)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_empty_class_folder_and_single_class_are_refused(folder: Path) -> None:
    for p in (folder / "train" / "c").iterdir():
        p.unlink()
    with pytest.raises(TnasError, match=r"train/c.*hold no images"):
        _open(folder)
    for cls in "bc":
        shutil.rmtree(folder / "train" / cls)
        shutil.rmtree(folder / "val" / cls)
    with pytest.raises(TnasError, match="at least two"):
        _open(folder)


def test_decompression_bomb_is_refused_by_name(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow's own limit, lowered so that a 12 x 12 image counts as a bomb (a real 400-MP file
    # would take seconds to write); tnas must refuse it by name either way
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60)
    with pytest.raises(TnasError, match=r"Refusing image .*\.png.*decompression bomb"):
        _open(folder)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_file_spoilt_mid_run_is_a_clean_error(folder: Path, workers: int) -> None:
    data = _open(folder, workers=workers)
    victim = data.train.images.root / data.train.images.files[0]
    victim.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)  # passes a signature check, fails to decode
    g = torch.Generator().manual_seed(0)
    with pytest.raises(TnasError) as e:
        for _ in data.train.epoch_batches(7, generator=g, steps=3):
            pass
    msg = str(e.value)
    assert str(victim) in msg and "DataLoader" not in msg and "Traceback" not in msg, msg


@pytest.mark.parametrize("name", sorted(BAD))
def test_skip_bad_leaves_a_bad_file_out_and_lists_it(folder: Path, name: str) -> None:
    spoil, words = BAD[name]
    spoil(folder / "train" / "b" / "3.png")
    data = _open(folder, skip_bad=True)
    assert len(data.train) + len(data.valid) == 23  # 24 train/ images, one skipped
    (line,) = data.files["skipped_files.txt"]
    assert line.startswith(str(folder / "train" / "b" / "3.png") + "\t") and words[1] in line, line
    assert data.split_info["skipped_by_scan"] == 1


@pytest.mark.parametrize("workers", [0, 1])
def test_skip_bad_drops_a_file_spoilt_mid_run_from_its_batch(folder: Path, workers: int) -> None:
    data = _open(folder, workers=workers, skip_bad=True)
    victim = data.train.images.root / data.train.images.files[0]
    victim.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    g = torch.Generator().manual_seed(0)
    sizes = [len(y) for _, y in data.train.epoch_batches(7, generator=g, steps=3)]  # 21 images: every one once
    assert sorted(sizes) == [6, 7, 7] and data.train.skipped == [str(victim)]


def test_skip_bad_needs_a_streamed_folder() -> None:
    from tnas.run.config import resolve_config

    with pytest.raises(TnasError, match="skip_bad"):
        resolve_config(None, {"data.skip_bad": "true"})


def test_skip_bad_under_sharding_keeps_the_global_batch(folder: Path) -> None:
    data = _open(folder, skip_bad=True)
    data.train.shard(0, 2)  # rank 0 of 2 decodes the first half of each batch's rows
    g = torch.Generator().manual_seed(0)
    order = data.train._order(torch.Generator().manual_seed(0), True, True)[0]
    victim = data.train.images.root / data.train.images.files[int(order[0])]  # the first row of the first batch
    victim.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    x, y = next(iter(data.train.epoch_batches(7, generator=g, steps=1)))
    assert x.shape[0] == y.shape[0] == 7 and data.train.skipped == [str(victim)]
    assert torch.unique(x[0]).numel() <= 3  # the skipped row is one blank (constant per channel) image
