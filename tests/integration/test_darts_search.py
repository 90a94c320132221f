"""`tnas search` end to end on the DARTS space (real digits, 16x16: TNAS-OS and GDAS) and the
ShuffleNet space (real CIFAR-10 images, FLOPs-limited TNAS-OS), tiny settings."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tnas.run.config import resolve_config
from tnas.run.search import run_search
from tnas.space import get_space

pytestmark = pytest.mark.slow

TINY = ["space=darts", "data.image_size=16", "supernet.C=4", "supernet.N=1", "train.epochs=2",
        "train.steps_per_epoch=6", "train.batch_size=32", "search.eval_batch_size=128", "search.bn_batches=2",
        "search.eval_batches=1", "sampler.min_observations=5", "sampler.train_steps=10"]
ONE_SHOT = ["search.budget=16", "search.population=8", "search.parents=3", "search.mutations=4",
            "search.crossovers=4", "sampler.eps_inc=0.3", "sampler.eps0=0.0"]
GRADIENT = ["strategy=gdas", "train.steps_per_epoch=3", "gradient.best_of=4", "gradient.marginal_samples=32"]


@pytest.mark.parametrize("extra", [ONE_SHOT, GRADIENT], ids=["tnas-os", "gdas"])
def test_darts_space_search_end_to_end(tmp_path: Path, extra: list[str]) -> None:
    cfg = resolve_config(None, dict(a.split("=", 1) for a in [*TINY, *extra, f"out={tmp_path}"]))
    result, run = run_search(cfg, progress_bar=False)
    space = get_space("darts")
    arch = space.from_genotype(result["genotype"])  # the result is a valid DARTS genotype ...
    assert space.to_genotype(arch) == result["genotype"]  # ... in canonical form
    assert 0 <= result["supernet_valid_acc"] <= 100
    assert json.loads((run / "result.json").read_text())["genotype"] == result["genotype"]


def test_shufflenet_space_constrained_search_end_to_end(tmp_path: Path, cifar10_subset: Path) -> None:
    """TNAS-OS on the SPOS space with a FLOPs limit that binds (the space spans ~270-377M at 224 px)."""
    sets = ["space=shufflenet", "data.name=cifar10", f"data.root={cifar10_subset}", "data.limit=256",
            "supernet.C=8", "train.epochs=2", "train.batch_size=32", "train.steps_per_epoch=4",
            "search.max_flops_M=300", "search.eval_batch_size=128", "search.bn_batches=1", "search.eval_batches=1",
            "sampler.min_observations=5",  # 8 scored steps: enough for the VAE to train once
            *ONE_SHOT, f"out={tmp_path}"]
    result, _ = run_search(resolve_config(None, dict(a.split("=", 1) for a in sets)), progress_bar=False)
    arch = get_space("shufflenet").from_genotype(result["genotype"])
    assert arch.shape == (20,)
    assert result["cost"]["flops_M"] <= 300 and result["cost"]["network"]["image_size"] == 224
