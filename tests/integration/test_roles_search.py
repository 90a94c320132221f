"""Sampler roles and sampler.name in real one-shot searches on digits (issue 23)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tnas.run.config import resolve_config
from tnas.run.search import run_search
from tnas.sampler import SAMPLERS, UniformSampler

pytestmark = pytest.mark.slow

TINY = {"supernet.C": "4", "train.epochs": "3", "train.steps_per_epoch": "10", "train.batch_size": "32",
        "train.score_every": "1", "search.budget": "12", "search.population": "4", "search.parents": "2",
        "search.mutations": "2", "search.crossovers": "2", "search.eval_batch_size": "128", "search.bn_batches": "1",
        "search.eval_batches": "1", "sampler.min_observations": "5", "sampler.train_steps": "5", "threads": "1"}


def _sources(run: Path) -> list[str]:
    return [json.loads(x)["source"] for x in (run / "archs.jsonl").read_text().splitlines()
            if json.loads(x)["phase"] == "train"]


@pytest.mark.parametrize("role, learned_rows", [("seed", False), ("reject", False), ("steer-unbiased", True)])
def test_roles_in_a_search(role: str, learned_rows: bool, tmp_path: Path) -> None:
    sets = {**TINY, "out": str(tmp_path), "sampler.role": role}
    if role != "seed":
        sets["sampler.eps0"] = "0.6"  # steer / reject act from the VAE's first training on
    res, run = run_search(resolve_config(None, sets), progress_bar=False)
    assert ("vae" in _sources(run)) == learned_rows
    assert res["evaluated"] == 12
    again, _ = run_search(resume=run, progress_bar=False)  # a finished run resumes with its meaning
    assert again["genotype"] == res["genotype"]


class CountingSampler(UniformSampler):
    """A user's sampler: uniform draws, counting its feedback (registered from outside tnas)."""

    def __init__(self, space) -> None:
        super().__init__(space)
        self.seen = 0

    def observe(self, archs: torch.Tensor, scores: torch.Tensor) -> None:
        self.seen += archs.reshape(-1, self.space.num_decisions).shape[0]

    def state_dict(self) -> dict:
        return {"kind": "counting", "seen": self.seen}

    def load_state_dict(self, state: dict) -> None:
        self.seen = int(state["seen"])


def test_a_registered_sampler_is_chosen_by_name(tmp_path: Path) -> None:
    if "counting" not in SAMPLERS:
        SAMPLERS.add("counting", lambda space, *, seed=0, config=None: CountingSampler(space))
    res, run = run_search(resolve_config(None, {**TINY, "out": str(tmp_path), "sampler.name": "counting"}),
                          progress_bar=False)
    assert set(_sources(run)) == {"uniform"} and res["evaluated"] == 12
    ck = torch.load(run / "ckpt" / "last.pt", weights_only=True)
    assert ck["sampler"] == {"kind": "counting", "seen": 30}  # 3 epochs x 10 steps, every step scored


def test_seed_role_trains_exactly_the_spos_supernet(tmp_path: Path) -> None:
    """role=seed trains on the uniform paths SPOS trains on (same stream, same feedback batches), so one
    run gives both the SPOS supernet and a VAE trained on its feedback: studies share the training."""
    sets = {**TINY, "out": str(tmp_path)}
    _, spos = run_search(resolve_config(None, {**sets, "strategy": "spos"}), progress_bar=False)
    _, seed = run_search(resolve_config(None, {**sets, "sampler.role": "seed"}), progress_bar=False)
    a = torch.load(spos / "ckpt" / "last.pt", weights_only=True)
    b = torch.load(seed / "ckpt" / "last.pt", weights_only=True)
    weights = [k for k in a["supernet"] if "running" not in k and "num_batches" not in k]  # BN stats: the GA's last recalibration
    assert weights and all(torch.equal(a["supernet"][k], b["supernet"][k]) for k in weights)
    assert b["sampler"]["trained"] and a["sampler"]["kind"] == "uniform"
