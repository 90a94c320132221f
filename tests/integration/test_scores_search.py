"""Scores in real searches (issue 22): search.score and sampler.feedback_score on digits, a finished
run re-scored without retraining, angle on an old checkpoint, strategy=zero-cost with NB201 ground
truth on the repository's CIFAR-10 images, and the CLI's errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tnas.cli import main as cli_main
from tnas.errors import TnasError
from tnas.run.checkpoint import load_checkpoint, save_checkpoint
from tnas.run.config import resolve_config
from tnas.run.search import run_search

pytestmark = pytest.mark.slow

TINY = {"supernet.C": "4", "train.epochs": "2", "train.steps_per_epoch": "10", "train.batch_size": "32",
        "search.budget": "12", "search.population": "4", "search.parents": "2", "search.mutations": "2",
        "search.crossovers": "2", "search.eval_batch_size": "128", "search.bn_batches": "1", "search.eval_batches": "1",
        "sampler.min_observations": "5", "sampler.train_steps": "5", "sampler.eps_inc": "0.3",
        "search.rank_reference": "8", "zero_cost.batch_size": "16", "zero_cost.C": "4", "zero_cost.N": "1",
        "threads": "1"}


def _cfg(tmp: Path, **extra: str):
    return resolve_config(None, {**TINY, "out": str(tmp), **extra})


def test_scores_drive_the_search_and_a_finished_run_is_rescored(tmp_path: Path) -> None:
    ref, run = run_search(_cfg(tmp_path), progress_bar=False)
    assert ref["score"] == {"name": "accuracy", "value": ref["supernet_valid_acc"]}
    ck = load_checkpoint(run / "ckpt" / "last.pt")
    assert set(ck["init_params"]) == {n for n in ck["supernet"] if not n.endswith(("running_mean", "running_var",
                                                                                    "num_batches_tracked"))}
    res, _ = run_search(resume=run, overrides={"search.score": "rank:angle+naswot"}, progress_bar=False)
    assert res["score"]["name"] == "rank:angle+naswot" and 0 <= res["score"]["value"] <= 1
    assert res["epochs"] == ref["epochs"]  # no retraining: only the search stage ran again
    rows = [json.loads(x) for x in (run / "archs.jsonl").read_text().splitlines()]
    assert sum(r["phase"] == "search" for r in rows) == 12  # the old search's rows were replaced
    assert "rank:angle+naswot" in (run / "report.md").read_text()
    back, _ = run_search(resume=run, overrides={"search.score": "accuracy"}, progress_bar=False)
    assert back["genotype"] == ref["genotype"] and back["supernet_valid_acc"] == ref["supernet_valid_acc"]


def test_feedback_score_feeds_the_sampler(tmp_path: Path) -> None:
    res, run = run_search(_cfg(tmp_path, **{"sampler.feedback_score": "angle", "train.score_every": "1"}),
                          progress_bar=False)
    rows = [json.loads(x) for x in (run / "archs.jsonl").read_text().splitlines()]
    scores = [r["score"] for r in rows if r["phase"] == "train"]
    assert len(scores) == 20 and all(0 <= s < 3.2 for s in scores)  # angles in radians, not accuracies
    assert scores[0] == 0.0 or scores[0] < 0.5  # the first trained path has barely moved
    assert any(r["source"] == "vae" for r in rows)  # the VAE trained on the angle feedback and was sampled


def test_a_zero_cost_feedback_beyond_float32_is_observed_as_it_is(tmp_path: Path) -> None:
    # synflow of the full-size NB201 network reaches 1e40 and more: past float32's range. The sampler must
    # see each value itself (float64, and no EMA baseline: a zero-cost score does not trend with training)
    sets = {"sampler.feedback_score": "synflow", "train.score_every": "1", "zero_cost.C": "16", "zero_cost.N": "5",
            "sampler.min_observations": "5"}
    _, run = run_search(_cfg(tmp_path, **sets), progress_bar=False)
    rows = [json.loads(x) for x in (run / "archs.jsonl").read_text().splitlines()]
    logged = {r["genotype"]: r["score"] for r in rows if r["phase"] == "train"}
    assert max(logged.values()) > 3.5e38 and all(v == v and v < float("inf") for v in logged.values())
    from tnas.sampler.tnas import TNASSampler
    from tnas.space import get_space

    ck = load_checkpoint(run / "ckpt" / "last.pt")
    space = get_space("nb201")
    sampler = TNASSampler(space, resolve_config(None, {**TINY, **sets}).sampler, seed=0)
    sampler.load_state_dict(ck["sampler"])
    archs, scores = sampler.observed()
    seen = {space.to_genotype(a): float(s) for a, s in zip(archs, scores)}
    assert seen == pytest.approx(logged, rel=1e-12)  # the raw values, not score - EMA


def test_angle_on_a_checkpoint_without_initial_weights(tmp_path: Path) -> None:
    _, run = run_search(_cfg(tmp_path), progress_bar=False)
    ck = load_checkpoint(run / "ckpt" / "last.pt")
    del ck["init_params"]  # as written by tnas before it kept them
    save_checkpoint(run / "ckpt" / "last.pt", ck)
    with pytest.raises(TnasError, match="initial weights.*Start a new run"):
        run_search(resume=run, overrides={"search.score": "angle"}, progress_bar=False)
    res, _ = run_search(resume=run, overrides={"search.score": "naswot"}, progress_bar=False)  # old runs resume
    assert res["score"]["name"] == "naswot"


def test_zero_cost_strategy_with_ground_truth(tmp_path: Path, cifar10_subset: Path) -> None:
    sets = {"strategy": "zero-cost", "data.name": "cifar10", "data.root": str(cifar10_subset), "data.image_size": "16",
            "search.score": "rank:naswot+synflow", "search.method": "rea", "search.budget": "16",
            "search.population": "4", "eval.tau_cells": "20", "eval.tau_set": "stratified", "eval.tau_top_cells": "5"}
    res, run = run_search(_cfg(tmp_path, **sets), progress_bar=False)
    assert res["strategy"] == "zero-cost" and res["evaluated"] == 16 and "supernet_valid_acc" not in res
    assert 10 <= res["ground_truth"]["test"] <= 95 and -1 <= res["kendall_score"]["tau"] <= 1
    assert not (run / "ckpt" / "last.pt").stat().st_size > 10**6  # no supernet in the checkpoint
    again, _ = run_search(resume=run, progress_bar=False)  # the memo replays: same answer, nothing rescored
    assert again["genotype"] == res["genotype"]


@pytest.mark.parametrize("args, needle", [
    (["search.score=bogus"], "Unknown score 'bogus'"),
    (["search.score=rank:naswot+naswot"], "more than once"),
    (["strategy=zero-cost", "search.score=angle"], "training-free score"),
    (["sampler.feedback_score=rank:accuracy+naswot"], "sampler.feedback_score"),
    (["search.method=rea"], "search.method"),
])
def test_cli_rejects_bad_scores(args: list[str], needle: str, tmp_path: Path, capsys) -> None:
    assert cli_main(["search", f"out={tmp_path}", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and err.startswith("tnas: error:")
    assert not list(tmp_path.iterdir())  # nothing was created


def test_zero_cost_scores_are_deterministic(tmp_path: Path) -> None:
    a, _ = run_search(_cfg(tmp_path / "a", strategy="zero-cost", **{"search.score": "synflow"}), progress_bar=False)
    b, _ = run_search(_cfg(tmp_path / "b", strategy="zero-cost", **{"search.score": "synflow"}), progress_bar=False)
    assert a["genotype"] == b["genotype"] and a["top5"] == b["top5"]
    assert torch.isfinite(torch.tensor(a["score"]["value"]))


def test_feedback_score_loss_observes_minus_cross_entropy(tmp_path: Path) -> None:
    _, run = run_search(_cfg(tmp_path, **{"sampler.feedback_score": "loss", "train.score_every": "1"}),
                        progress_bar=False)
    scores = [json.loads(x)["score"] for x in (run / "archs.jsonl").read_text().splitlines()
              if json.loads(x)["phase"] == "train"]
    assert len(scores) == 20 and all(s < 0 for s in scores)  # -cross-entropy, not an accuracy in %
