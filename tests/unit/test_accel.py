"""tnas.accel (precision and layout applied to a model in one place), tnas.timing, and the
config keys precision= / channels_last= / sync_every=; on real CIFAR-10 images."""
from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tnas.accel import CUDA_SYNC_EVERY, Accel, resolve_accel
from tnas.data import load_dataset
from tnas.errors import TnasError
from tnas.run.config import resolve_config
from tnas.sampler import TNASConfig, TNASSampler, UniformSampler
from tnas.space import get_space
from tnas.supernet import NB201Supernet
from tnas.timing import StepClock, Timer
from tnas.train.config import resolve_train_config

SPACE = get_space("nb201")
ARCH = SPACE.from_genotype("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")


@pytest.fixture(scope="module")
def batch(cifar10_subset: Path) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_dataset("cifar10", cifar10_subset, limit=200)
    return data.train.random_batch(16, torch.Generator().manual_seed(0))


def _supernet(seed: int = 0) -> NB201Supernet:
    torch.manual_seed(seed)
    return NB201Supernet(C=8, N=1)


def test_resolve_picks_per_device_defaults() -> None:
    assert resolve_accel("cpu") == Accel(torch.device("cpu"), bf16=False, channels_last=None, sync_every=1)
    cuda = resolve_accel("cuda", "bf16")
    assert (cuda.bf16, cuda.channels_last, cuda.sync_every) == (True, True, CUDA_SYNC_EVERY)
    assert resolve_accel("cuda", "fp32").channels_last is None  # fp32 on CUDA: the model's NCHW
    explicit = resolve_accel("cpu", "bf16", "off", 7)
    assert (explicit.bf16, explicit.channels_last, explicit.sync_every) == (True, False, 7)
    assert resolve_accel("cpu").describe() == {"precision": "fp32", "channels_last": "model default", "sync_every": 1}


def test_cpu_defaults_leave_the_model_as_it_was(batch) -> None:
    x, _ = batch
    net, ref = _supernet(), _supernet()
    resolve_accel("cpu").prepare(net)
    assert "forward" not in vars(net) and net.channels_last is None
    assert torch.equal(net(x, ARCH), ref(x, ARCH))


def test_bf16_autocasts_inside_and_hands_back_float32(batch) -> None:
    x, y = batch
    net, ref = _supernet(), _supernet()
    resolve_accel("cpu", "bf16").prepare(net)
    seen = []
    net.stem[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    out = net(x, ARCH)
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    want = ref(x, ARCH)
    # bf16 keeps 8 bits of mantissa: logits agree to a few percent of their scale
    assert (out - want).abs().max() < 0.05 * want.abs().max() + 0.05
    F.cross_entropy(out, y).backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    assert all(p.dtype == torch.float32 for p in net.parameters())  # weights stay fp32


def test_channels_last_with_and_without_a_model_attribute(batch) -> None:
    x, _ = batch
    net, ref = _supernet(), _supernet()
    resolve_accel("cpu", "fp32", "on").prepare(net)
    assert net.channels_last is True and "forward" not in vars(net)
    assert net.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(net(x, ARCH), ref(x, ARCH), rtol=1e-4, atol=1e-5)

    def plain() -> nn.Module:  # a user's network: no `channels_last` attribute of its own
        torch.manual_seed(1)
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

    model, base = plain(), plain()
    layouts = []
    model[0].register_forward_pre_hook(lambda m, i: layouts.append(i[0].is_contiguous(memory_format=torch.channels_last)))
    resolve_accel("cpu", "fp32", "on").prepare(model)
    torch.testing.assert_close(model(x), base(x), rtol=1e-4, atol=1e-5)
    assert layouts == [True] and model[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_prepared_model_copies_and_checkpoints_like_the_plain_one(batch) -> None:
    x, _ = batch
    net = resolve_accel("cpu", "bf16", "on").prepare(_supernet())
    assert list(net.state_dict()) == list(_supernet().state_dict())
    twin = copy.deepcopy(net)
    assert torch.equal(twin(x, ARCH), net(x, ARCH))
    with torch.no_grad():
        twin.classifier.weight.zero_()
        twin.classifier.bias.zero_()
    assert torch.equal(twin(x, ARCH), torch.zeros(16, 10))  # the copy's forward runs the copy's weights
    assert net(x, ARCH).abs().sum() > 0
    plain = _supernet(seed=3)
    plain.load_state_dict(net.state_dict())  # a bf16 / NHWC run's checkpoint loads into a plain model
    torch.testing.assert_close(plain.stem[0].weight, net.stem[0].weight)


@pytest.mark.parametrize("override, words", [
    ({"precision": "fp16"}, ["precision", "fp16", "auto, fp32, bf16"]),
    ({"channels_last": "yes"}, ["channels_last", "auto, on, off"]),
    ({"sync_every": "0"}, ["sync_every", "[1, 100_000]"]),
    ({"strategy": "gdas", "precision": "bf16"}, ["precision", "fp32", "gradient strategies"]),
])
def test_search_config_keys_are_checked(override: dict[str, str], words: list[str]) -> None:
    with pytest.raises(TnasError) as e:
        resolve_config(None, override)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_train_config_keys_are_checked() -> None:
    with pytest.raises(TnasError, match="precision"):
        resolve_train_config(None, {"precision": "half"})
    cfg = resolve_train_config(None, {"precision": "bf16", "channels_last": "on", "sync_every": "8"})
    assert (cfg.precision, cfg.channels_last, cfg.sync_every) == ("bf16", "on", 8)


def test_which_samplers_need_feedback_before_the_next_draw() -> None:
    assert UniformSampler(SPACE).feedback_affects_sample is False
    assert TNASSampler(SPACE, TNASConfig.supernet_training()).feedback_affects_sample is False
    assert TNASSampler(SPACE, TNASConfig()).feedback_affects_sample is True  # skip_seen redraws observed archs
    local = TNASConfig.supernet_training()
    local.local_frac = 0.5
    assert TNASSampler(SPACE, local).feedback_affects_sample is True


def test_step_clock_and_timer_on_cpu() -> None:
    clock = StepClock("cpu")
    time.sleep(0.02)
    clock.mark()
    clock.mark()
    first, second = clock.intervals()
    assert 0.015 < first < 1.0 and 0 <= second < first
    with Timer("cpu") as t:
        time.sleep(0.01)
    assert 0.005 < t.seconds < 1.0
