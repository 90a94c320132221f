"""tnas.data: loaders on real images (digits, a CIFAR-10 slice), official on-disk layouts written
here from those images, batched augmentation, normalisation and error messages."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import CIFAR10_SUBSET, shared_path

from tnas.data import ImageSet, augment_batch, load_dataset, normalize
from tnas.data.formats import read_jpeg_npz
from tnas.errors import TnasError


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def npz_dir(cifar10_subset) -> Path:
    return cifar10_subset  # 1,500 real CIFAR-10 images in the shared npz layout (tests/data/README.md)


@pytest.fixture(scope="module")
def cifar_slice(npz_dir):
    """60 real CIFAR-10 training images (uint8 [60, 3, 32, 32]) and labels, 6 per class."""
    rows = np.concatenate([np.arange(c * 100, c * 100 + 6) for c in range(10)])
    return read_jpeg_npz(npz_dir / "cifar10_jpeg_q75_train.npz", rows)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TNAS_CACHE", str(tmp_path / "cache"))


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- digits


def test_digits_shapes_classes_and_disjoint_split(digits):
    tr, va, te = digits.train, digits.valid, digits.test
    assert tr.images.shape[1:] == (1, 8, 8) and tr.images.dtype == torch.uint8
    assert (len(tr), len(va), len(te)) == (901, 451, 445)
    assert tr.num_classes == 10 and tr.class_counts().min() >= 85
    rows = torch.cat([tr.index, va.index, te.index])
    assert sorted(rows.tolist()) == list(range(1797))  # a partition of all 1,797 digits
    assert not tr.flip and tr.crop_padding == 1
    assert digits.split_info["split_seed"] == 0 and digits.split_info["sizes"]["train"] == 901


def test_digits_split_is_deterministic_and_seeded(digits):
    again = load_dataset("digits")
    other = load_dataset("digits", split_seed=1)
    assert torch.equal(again.train.index, digits.train.index)
    assert torch.equal(again.train.images, digits.train.images)
    assert not torch.equal(other.train.index, digits.train.index)


def test_limit_is_balanced_subset_of_full_split(digits):
    small = load_dataset("digits", limit=50)
    assert [len(s) for _, s in small.items()] == [50, 50, 50]
    assert small.train.class_counts().tolist() == [5] * 10
    assert set(small.train.index.tolist()) <= set(digits.train.index.tolist())


def test_normalisation_gives_zero_mean_unit_std(digits):
    xs = torch.cat(
        [x for x, _ in digits.train.batches(128, generator=_gen(), shuffle=False, drop_last=False)]
    )
    assert xs.shape == (901, 1, 8, 8) and xs.dtype == torch.float32
    assert abs(xs.mean().item()) < 1e-4 and abs(xs.std().item() - 1) < 1e-3


def test_epoch_visits_every_image_once(digits):
    ys = torch.cat([y for _, y in digits.train.batches(100, generator=_gen(), drop_last=False)])
    assert sorted(ys.tolist()) == sorted(digits.train.labels.tolist())
    full = list(digits.train.batches(100, generator=_gen()))
    assert len(full) == 9 and all(x.shape == (100, 1, 8, 8) for x, _ in full)
    with pytest.raises(TnasError, match="fewer than batch_size"):
        digits.valid.batches(1000, generator=_gen())


def test_random_batch_subset_and_to(digits):
    x, y = digits.valid.random_batch(64, _gen(3))
    x2, y2 = digits.valid.random_batch(64, _gen(3))
    assert x.shape == (64, 1, 8, 8) and torch.equal(x, x2) and torch.equal(y, y2)
    sub = digits.train.subset([0, 5, 7])
    assert len(sub) == 3 and torch.equal(sub.images[1], digits.train.images[5])
    assert sub.index.tolist() == digits.train.index[[0, 5, 7]].tolist()
    assert digits.train.to("cpu").images.device.type == "cpu"


# ----------------------------------------------------------------------------- augmentation


def test_augmentation_keeps_shape_and_is_deterministic(cifar_slice):
    images = torch.from_numpy(cifar_slice[0])
    a = augment_batch(images, padding=4, flip=True, generator=_gen(1))
    b = augment_batch(images, padding=4, flip=True, generator=_gen(1))
    c = augment_batch(images, padding=4, flip=True, generator=_gen(2))
    assert a.shape == images.shape and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_flip_mirrors_about_half_the_images(cifar_slice):
    images = torch.from_numpy(cifar_slice[0])
    out = augment_batch(images, padding=0, flip=True, generator=_gen())
    same = (out == images).flatten(1).all(1)
    mirrored = (out == images.flip(3)).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 10 <= int(mirrored.sum()) <= 50 and 10 <= int((~mirrored).sum())


def test_crop_is_a_window_of_the_zero_padded_image(cifar_slice):
    images = torch.from_numpy(cifar_slice[0][:12])
    out = augment_batch(images, padding=4, flip=False, generator=_gen())
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    offsets = []
    for i in range(len(images)):
        hits = [
            (dy, dx)
            for dy in range(9)
            for dx in range(9)
            if torch.equal(out[i], padded[i, :, dy : dy + 32, dx : dx + 32])
        ]
        assert hits, f"image {i} is not a crop of its padded original"
        offsets.append(hits[0])
    assert len(set(offsets)) > 3  # offsets vary over the batch
    assert not torch.equal(out, images)


def test_normalize_matches_formula():
    x = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8, generator=_gen())
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    expect = (x.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(normalize(x, mean, std), expect, atol=1e-5)


def test_augmented_batches_are_reproducible(digits):
    a = [x for x, _ in digits.train.batches(256, generator=_gen(5), augment=True)]
    b = [x for x, _ in digits.train.batches(256, generator=_gen(5), augment=True)]
    plain = [x for x, _ in digits.train.batches(256, generator=_gen(5))]
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not all(torch.equal(u, v) for u, v in zip(a, plain))


# ----------------------------------------------------------------------------- CIFAR-10 (shared npz)


def test_cifar10_npz_slice_matches_pillow(npz_dir, tmp_path):
    splits = load_dataset("cifar10", npz_dir, limit=40, split_seed=3)
    assert splits.train.images.shape == (40, 3, 32, 32) and splits.test.images.shape == (40, 3, 32, 32)
    assert set(splits.train.labels.tolist()) == set(range(10))
    assert splits.split_info["pools"] == {"train": 1000, "test": 500}
    assert not list((tmp_path / "cache").glob("*.npy"))  # a limited load decodes only its slice
    with np.load(npz_dir / "cifar10_jpeg_q75_train.npz") as z:
        jpeg, offsets = z["jpeg"], z["offsets"]
    for k in (0, 17, 39):
        i = int(splits.train.index[k])
        ref = np.asarray(Image.open(io.BytesIO(jpeg[offsets[i] : offsets[i + 1]].tobytes())).convert("RGB"))
        assert np.array_equal(splits.train.images[k].permute(1, 2, 0).numpy(), ref)


@pytest.mark.shared
def test_full_shared_cifar10_copy_is_found_without_a_root():
    npz_dir = shared_path("cifar10")
    splits = load_dataset("cifar10", limit=20)
    assert splits.split_info["pools"] == {"train": 50000, "test": 10000}
    assert splits.split_info["source"] == str(npz_dir)
    subset = read_jpeg_npz(CIFAR10_SUBSET / "cifar10_jpeg_q75_train.npz", np.arange(5))[0]
    full = read_jpeg_npz(npz_dir / "cifar10_jpeg_q75_train.npz", np.arange(5))[0]
    assert np.array_equal(subset, full)  # the shipped subset is the shared copy's first images


# ----------------------------------------------------------------------------- official layouts


def _write_pickle(path: Path, obj: dict, bytes_keys: bool = True) -> None:
    # The official CIFAR batches are Python 2 pickles with byte-string keys.
    obj = {k.encode() if bytes_keys else k: v for k, v in obj.items()}
    path.write_bytes(pickle.dumps(obj, protocol=2))


def test_cifar10_official_batches(cifar_slice, tmp_path):
    images, labels = cifar_slice
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for j, name in enumerate(names):
        part = slice(10 * j, 10 * j + 10)
        _write_pickle(
            folder / name,
            {"data": images[part].reshape(10, -1), "labels": labels[part].tolist(), "batch_label": "x"},
        )
    for root in (tmp_path, folder):
        s = load_dataset("cifar10", root)
        assert (len(s.train), len(s.valid), len(s.test)) == (25, 25, 10)
        assert s.split_info["source"] == str(folder)
        # rows of the train pool are images 0..49 of the slice
        assert np.array_equal(s.train.images.numpy(), images[s.train.index.numpy()])
        assert np.array_equal(s.test.images.numpy(), images[50 + s.test.index.numpy()])


def test_cifar100_official_pickles(cifar_slice, tmp_path):
    images, labels = cifar_slice
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    fine = (labels * 7) % 100
    for name, part in (("train", slice(0, 40)), ("test", slice(40, 60))):
        _write_pickle(
            folder / name,
            {
                "data": images[part].reshape(-1, 3072),
                "fine_labels": fine[part].tolist(),
                "coarse_labels": (fine[part] // 5).tolist(),
            },
        )
    s = load_dataset("cifar100", tmp_path)
    assert s.train.num_classes == 100 and len(s.train) == 40 and len(s.valid) + len(s.test) == 20
    assert torch.equal(s.train.labels, torch.from_numpy(fine[:40]))
    assert np.array_equal(s.valid.images.numpy(), images[40 + s.valid.index.numpy()])


def test_imagenet16_pickles_keep_first_120_classes(cifar_slice, tmp_path):
    images = np.stack(
        [np.asarray(Image.fromarray(im.transpose(1, 2, 0)).resize((16, 16))) for im in cifar_slice[0]]
    )
    flat = images.transpose(0, 3, 1, 2).reshape(60, 768)  # planar R, G, B rows as in NB201's files
    # 1-based labels; every 5th image gets a class above 120, which ImageNet16-120 drops
    labels = np.where(np.arange(60) % 5 == 4, 121 + np.arange(60), np.arange(60) % 12 + 1)
    folder = tmp_path / "ImageNet16"
    folder.mkdir()
    for i in range(1, 11):
        _write_pickle(
            folder / f"train_data_batch_{i}",
            {
                "data": flat[4 * i - 4 : 4 * i],
                "labels": labels[4 * i - 4 : 4 * i].tolist(),
                "mean": np.zeros(768),
            },
            bytes_keys=False,
        )
    _write_pickle(folder / "val_data", {"data": flat[40:], "labels": labels[40:].tolist()}, bytes_keys=False)
    s = load_dataset("imagenet16-120", tmp_path)
    assert s.train.shape == (3, 16, 16) and s.train.crop_padding == 2 and s.train.num_classes == 120
    kept = np.flatnonzero(labels <= 120)
    assert len(s.train) == 32 and len(s.valid) + len(s.test) == 16
    assert torch.equal(s.train.labels, torch.from_numpy(labels[kept[:32]] - 1))
    assert np.array_equal(s.train.images[5].permute(1, 2, 0).numpy(), images[kept[5]])


def test_image_folder_flat_and_train_val(digits, cifar_slice, tmp_path):
    flat = tmp_path / "flat"
    for k in range(60):
        img, label = digits.train.images[k, 0].numpy(), int(digits.train.labels[k])
        (flat / f"d{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(flat / f"d{label}" / f"{k:03d}.png")
    s = load_dataset("imagefolder", flat)
    assert s.train.shape == (1, 8, 8) and len(s.train) + len(s.valid) + len(s.test) == 60
    pixels = {bytes(digits.train.images[k, 0].numpy()) for k in range(60)}
    assert all(bytes(im[0].numpy()) in pixels for im in s.train.images)  # PNG is lossless
    tv = tmp_path / "tv"
    images, labels = cifar_slice
    for k in range(60):
        part = "train" if k % 6 < 4 else "val"
        (tv / part / f"c{labels[k]}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[k].transpose(1, 2, 0)).save(tv / part / f"c{labels[k]}" / f"{k}.png")
    s = load_dataset("imagefolder", tv, image_size=16)
    assert len(s.train) == 40 and len(s.valid) == 10 and len(s.test) == 10
    assert s.train.shape == (3, 16, 16) and s.split_info["classes"] == [f"c{c}" for c in range(10)]


# ----------------------------------------------------------------------------- errors


def test_missing_dirs_name_path_layout_and_fix(tmp_path):
    with pytest.raises(
        TnasError,
        match=r"(?s)cifar-10-batches-py/data_batch_1\.\.5 and test_batch.*tnas data download cifar10",
    ):
        load_dataset("cifar10", tmp_path / "nowhere")
    with pytest.raises(TnasError, match=r"(?s)cifar-100-python/train and test.*tnas data download cifar100"):
        load_dataset("cifar100", tmp_path)
    with pytest.raises(TnasError, match="ImageNet16/train_data_batch_1..10"):
        load_dataset("imagenet16-120", tmp_path)
    with pytest.raises(TnasError, match="one sub-folder per class"):
        load_dataset("imagefolder", tmp_path / "nowhere")
    with pytest.raises(TnasError, match="Did you mean 'cifar100'"):
        load_dataset("cifar1000")


def test_malformed_files_name_the_file(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "train").write_bytes(b"not a pickle")
    _write_pickle(folder / "test", {"data": np.zeros((2, 10), np.uint8), "fine_labels": [0, 1]})
    with pytest.raises(TnasError, match=f"{folder / 'train'}.*batch pickle"):
        load_dataset("cifar100", tmp_path)
    _write_pickle(folder / "train", {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]})
    with pytest.raises(TnasError, match=r"has keys \['data', 'labels'\]; expected 'data' and 'fine_labels'"):
        load_dataset("cifar100", tmp_path)
    (folder / "train").write_bytes(pickle.dumps({"data": Path("/etc/passwd")}))
    with pytest.raises(TnasError, match="refusing to load global"):
        load_dataset("cifar100", tmp_path)
    _write_pickle(folder / "train", {"data": np.zeros((2, 3072), np.uint8), "fine_labels": [0, 1]})
    with pytest.raises(TnasError, match=r"test.*uint8 \[N, 3072\]"):
        load_dataset("cifar100", tmp_path)


def test_bad_options_and_imageset_input():
    with pytest.raises(TnasError, match="limit"):
        load_dataset("digits", limit=0)
    with pytest.raises(TnasError, match="valid_fraction"):
        load_dataset("digits", valid_fraction=1.0)
    with pytest.raises(TnasError, match="uint8"):
        ImageSet(torch.zeros(2, 1, 4, 4), torch.zeros(2), 2, (0.5,), (0.2,))
