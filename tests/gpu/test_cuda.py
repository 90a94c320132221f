"""The CUDA path (issue 13): run by `pytest -m gpu` and by benchmarks/gpu_check.py; every test
skips without CUDA. On real CIFAR-10 images (tests/data) and scikit-learn's digits."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from tnas.accel import resolve_accel
from tnas.data import load_dataset
from tnas.space import get_space
from tnas.supernet import NB201Supernet

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}
TINY = ["supernet.C=4", "train.epochs=2", "train.steps_per_epoch=12", "train.batch_size=32", "search.budget=12",
        "search.population=6", "search.parents=2", "search.mutations=3", "search.crossovers=3",
        "search.eval_batch_size=128", "search.bn_batches=2", "search.eval_batches=1", "sampler.min_observations=5",
        "sampler.train_steps=5", "sampler.eps_inc=0.5", "device=cuda"]
STEPS = 4
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@contextmanager
def no_tf32() -> Iterator[None]:
    """True fp32 matmuls and convolutions on the GPU (cuDNN uses TF32 by default), restored after."""
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def sgd_steps(device: str, precision: str, cifar10: Path) -> tuple[list[float], dict[str, torch.Tensor]]:
    """STEPS single-path SGD steps of a C=8, N=2 NB201 supernet on real CIFAR-10 batches of 32, the
    same initial weights, architectures and batches on every device. Returns (losses, final weights on CPU)."""
    g = torch.Generator().manual_seed(0)
    data = load_dataset("cifar10", cifar10, limit=300)
    batches = [data.train.random_batch(32, g) for _ in range(STEPS)]
    archs = get_space("nb201").sample_uniform(STEPS, g)
    torch.manual_seed(0)
    net = resolve_accel(device, precision).prepare(NB201Supernet(C=8, N=2).to(device))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    losses = []
    for (x, y), arch in zip(batches, archs):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x.to(device), arch), y.to(device))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, {k: v.cpu() for k, v in net.state_dict().items()}


def test_cpu_and_cuda_fp32_steps_agree(cifar10_subset: Path) -> None:
    """fp32 on both (TF32 off): cuDNN and oneDNN sum in different orders, so single ops agree to
    ~1e-6 relative; after 4 SGD steps losses agree to 1e-4 and weights to rtol 1e-3, atol 1e-4."""
    cpu_losses, cpu_weights = sgd_steps("cpu", "fp32", cifar10_subset)
    with no_tf32():
        gpu_losses, gpu_weights = sgd_steps("cuda", "fp32", cifar10_subset)
    assert gpu_losses == pytest.approx(cpu_losses, rel=1e-4, abs=1e-4)
    for k, v in cpu_weights.items():
        torch.testing.assert_close(gpu_weights[k], v, rtol=1e-3, atol=1e-4, msg=k)


def test_bf16_steps_track_fp32_on_cuda(cifar10_subset: Path) -> None:
    """bf16 autocast (8-bit mantissa) follows fp32 to a few hundredths of the loss over 4 steps."""
    fp32, _ = sgd_steps("cuda", "fp32", cifar10_subset)
    bf16, weights = sgd_steps("cuda", "bf16", cifar10_subset)
    assert bf16 == pytest.approx(fp32, abs=0.05)
    assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())


def _tnas(*args: str, launcher: tuple[str, ...] = (sys.executable, "-m", "tnas"),
          timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([*launcher, *args], capture_output=True, text=True, env=ENV, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_cuda_search_and_train_end_to_end(tmp_path: Path) -> None:
    _tnas("search", "--no-progress", *TINY, f"out={tmp_path / 's'}")
    (run,) = list((tmp_path / "s").iterdir())
    meta = yaml.safe_load((run / "config.yaml").read_text())["_meta"]["accel"]
    bf16 = torch.cuda.is_bf16_supported()
    assert meta == {"precision": "bf16" if bf16 else "fp32", "channels_last": "on" if bf16 else "model default",
                    "sync_every": 50}
    result = json.loads((run / "result.json").read_text())
    assert result["evaluated"] == 12 and 0 <= result["supernet_valid_acc"] <= 100
    assert all(torch.isfinite(torch.tensor(json.loads(m)["loss"]))
               for m in (run / "metrics.jsonl").read_text().splitlines())
    _tnas("train", CELL, "--no-progress", "optim.epochs=3", "device=cuda", f"out={tmp_path / 't'}")
    (trained,) = list((tmp_path / "t").iterdir())
    # digits, C=8 cell, 3 epochs: 83 % in fp32 and 81 % in bf16 on CPU (tests/integration/test_accel_runs.py)
    assert json.loads((trained / "result.json").read_text())["test_acc"] > 60


def test_nccl_allreduce_and_torchrun_one_process(tmp_path: Path) -> None:
    """NCCL with one process (one GPU): the gradient all-reduce of `tnas.run.dist` over a real
    NCCL group leaves one rank's gradients and loss as they were; `tnas search` under torchrun."""
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1")
    out = _tnas(str(HERE / "nccl_step.py"), launcher=torchrun)
    assert "nccl allreduce ok" in out.stdout
    _tnas("search", "--no-progress", *TINY, f"out={tmp_path}", launcher=(*torchrun, "-m", "tnas"))
    assert len(list(tmp_path.glob("*/result.json"))) == 1


def test_seeds_share_one_gpu(tmp_path: Path) -> None:
    """`seeds=0-1 workers=2 device=cuda`: two processes train on the one GPU at the same time."""
    _tnas("search", "--no-progress", *TINY, "seeds=0-1", "workers=2", f"out={tmp_path}")
    (summary,) = list(tmp_path.glob("*-seeds0-1/summary.json"))
    runs = json.loads(summary.read_text())["runs"]
    assert [r["seed"] for r in runs] == [0, 1] and all(Path(r["run"], "result.json").exists() for r in runs)


def test_gradient_strategies_stay_fp32_on_cuda() -> None:
    from tnas.run.config import resolve_config
    from tnas.run.parts import build

    one_shot = build(resolve_config(None, {"device": "cuda", "supernet.C": "4"})).accel
    gradient = build(resolve_config(None, {"device": "cuda", "supernet.C": "4", "strategy": "gdas"})).accel
    assert one_shot.bf16 == torch.cuda.is_bf16_supported() and not gradient.bf16


def test_scores_on_cuda_match_cpu() -> None:
    """Issue 22: every score runs on CUDA; the zero-cost proxies and the angle agree with the CPU
    (fp32 without TF32; naswot's codes are exact, the gradients within float tolerance)."""
    from tnas.evaluate.score import SCORES, Scorer, ScoreInputs, parse_score
    from tnas.supernet.registry import NetSize, get_family

    space = get_space("nb201")
    size = NetSize(C=8, N=1, num_classes=10, in_channels=3, image_size=16)
    x = torch.randn(16, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    y = torch.arange(16) % 10
    archs = space.sample_uniform(4, torch.Generator().manual_seed(1))
    out = {}
    for dev in ("cpu", "cuda"):
        torch.manual_seed(0)
        net = NB201Supernet(space, C=4, N=1).to(dev)
        init = {n: p.detach().cpu().clone() for n, p in net.named_parameters()}
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(0.9).add_(0.01)
        inputs = ScoreInputs(space, supernet=net, init_params=init, calib=[x.to(dev)], valid=[(x.to(dev), y.to(dev))],
                             batches=[(x.to(dev), y.to(dev))],
                             network=lambda a, dev=dev: get_family("nb201").network(space, a, size, {}).to(dev), seed=0)
        with no_tf32():
            out[dev] = {n: Scorer(parse_score(n), inputs)(archs) for n in SCORES.names()}
    for n in SCORES.names():
        assert torch.allclose(out["cpu"][n], out["cuda"][n], rtol=1e-3, atol=1e-3), n
