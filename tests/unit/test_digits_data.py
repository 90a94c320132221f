"""The bundled digits (tnas/data/digits) are scikit-learn's digits, without scikit-learn."""
from __future__ import annotations

import subprocess
import sys
from importlib import resources

import numpy as np
import pytest
import torch

from tnas.data import load_dataset
from tnas.data.registry import LoadOptions, build_splits


def test_bundled_digits_are_scikit_learns():
    sklearn = pytest.importorskip("sklearn.datasets")
    d = sklearn.load_digits()
    with resources.as_file(resources.files("tnas") / "data" / "digits" / "digits.npz") as path, np.load(path) as z:
        assert z["pixels"].dtype == np.uint8 and z["target"].dtype == np.uint8
        assert np.array_equal(z["pixels"], d.images) and np.array_equal(z["target"], d.target)


@pytest.mark.parametrize("split_seed,limit", [(0, None), (3, 500)])
def test_load_dataset_digits_gives_the_same_arrays_as_before(split_seed, limit):
    """What the loader built from scikit-learn before this change: 0..16 scaled to 0..255 uint8 [N, 1, 8, 8],
    split by the same seeded rule."""
    sklearn = pytest.importorskip("sklearn.datasets")
    d = sklearn.load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    opts = LoadOptions(split_seed=split_seed, limit=limit)
    before = build_splits("digits", {"all": d.target.astype(np.int64)}, lambda _, rows: images[rows], "single", opts,
                          {"num_classes": 10, "flip": False, "source": "sklearn.datasets.load_digits"})
    now = load_dataset("digits", split_seed=split_seed, limit=limit)
    for split in ("train", "valid", "test"):
        old, new = getattr(before, split), getattr(now, split)
        assert torch.equal(old.images, new.images) and torch.equal(old.labels, new.labels), split
    sizes = [len(getattr(now, s)) for s in ("train", "valid", "test")]
    assert sum(sizes) == 1797 if limit is None else max(sizes) <= limit


def test_digits_load_without_scikit_learn():
    code = ("import sys; sys.modules['sklearn'] = None\n"  # any import of scikit-learn now fails
            "from tnas.data import load_dataset; d = load_dataset('digits'); print(len(d.train) + len(d.valid) + len(d.test))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.split()[-1] == "1797"
