"""`tnas search space=darts` end to end on real digits (16x16): TNAS-OS and GDAS, tiny settings."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import tnas.supernet.darts_family  # noqa: F401  (registers the family until families.py imports it)
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
