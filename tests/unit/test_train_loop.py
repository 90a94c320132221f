"""`tnas train` building blocks: cutout, schedules, losses, streamed-image transforms, drop path."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tnas.train.config import RegConfig
from tnas.train.batch import cutout, square_mask
from tnas.train.loop import drop_path_at, loss_of, lr_at
from tnas.train.stream import ImageFolderStream, center_box, random_resized_box


def test_cutout_zeroes_one_square_of_the_given_length() -> None:
    x = torch.ones(64, 3, 32, 32)
    out = cutout(x, 16, torch.Generator().manual_seed(0))
    zero = out[:, 0] == 0
    assert torch.equal(zero, (out == 0).all(1))  # all channels alike
    for z in zero:
        rows, cols = z.any(1).nonzero().flatten(), z.any(0).nonzero().flatten()
        # one axis-aligned rectangle, clipped at the borders to at most 16 x 16
        assert z.sum() == len(rows) * len(cols) and len(rows) <= 16 and len(cols) <= 16 and len(rows) >= 8
    m = square_mask(torch.tensor([16]), torch.tensor([10]), 16, 32, 32)[0]  # interior: exactly 16 x 16
    assert m.sum() == 256 and m[8:24, 2:18].all()
    assert torch.equal(cutout(x, 0, torch.Generator()), x)
    assert torch.equal(cutout(x, 16, torch.Generator().manual_seed(1)), cutout(x, 16, torch.Generator().manual_seed(1)))


def test_lr_schedules() -> None:
    assert lr_at(0, 100, 0, 0.1, "cosine") == pytest.approx(0.1)
    assert lr_at(50, 100, 0, 0.1, "cosine") == pytest.approx(0.05)
    assert lr_at(99, 100, 0, 0.1, "cosine") < 1e-4
    assert lr_at(25, 100, 0, 0.5, "linear") == pytest.approx(0.375)  # SPOS: linear decay per step
    assert [lr_at(s, 100, 4, 0.1, "cosine") for s in range(4)] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert lr_at(4, 100, 4, 0.1, "linear") == pytest.approx(0.1)


def test_drop_path_rises_linearly_from_zero() -> None:
    assert [drop_path_at(e, 4, 0.2) for e in range(4)] == pytest.approx([0.0, 0.05, 0.1, 0.15])


def test_auxiliary_loss_and_label_smoothing() -> None:
    g = torch.Generator().manual_seed(0)
    logits, aux, y = torch.randn(8, 10, generator=g), torch.randn(8, 10, generator=g), torch.arange(8)
    ce = torch.nn.functional.cross_entropy
    loss, main = loss_of((logits, aux), y, RegConfig(auxiliary_weight=0.4))
    assert main is logits and loss == pytest.approx(float(ce(logits, y) + 0.4 * ce(aux, y)))
    loss, _ = loss_of(logits, y, RegConfig(label_smoothing=0.1))
    assert loss == pytest.approx(float(ce(logits, y, label_smoothing=0.1)))


def test_stream_transforms(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        l, t, r, b = random_resized_box(300, 200, rng)
        area, aspect = (r - l) * (b - t), (r - l) / (b - t)
        assert 0 <= l < r <= 300 and 0 <= t < b <= 200 and area >= 0.07 * 60000 and 0.7 < aspect < 1.4
    assert center_box(256, 256, 224) == (16, 16, 240, 240)  # resize 256 -> center 224
    path = tmp_path / "a.jpg"
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(path)
    train = ImageFolderStream([path], np.array([3]), 16, train=True, seed=0)
    x, y = train[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.uint8 and y == 3
    assert torch.equal(train[0][0], x)  # seeded per (seed, epoch, index)
    train.epoch = 1
    assert not torch.equal(train[0][0], x)
    val = ImageFolderStream([path], np.array([3]), 16, train=False, seed=0)
    assert val[0][0].shape == (3, 16, 16)


def test_darts_drop_path_is_off_in_eval() -> None:
    from tnas.space import get_space
    from tnas.supernet import darts_family
    from tnas.supernet.registry import NetSize

    space = get_space("darts")
    arch = space.sample_uniform(1, torch.Generator().manual_seed(0))[0]
    net = darts_family.DARTS_FAMILY.network(space, arch, NetSize(C=4, N=1, num_classes=10, in_channels=3,
                                                                 image_size=16), {"auxiliary": False})
    net.drop_path_prob = 0.5
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
    net.train()
    with torch.no_grad():
        assert not torch.equal(net(x), net(x))  # training mode draws masks
