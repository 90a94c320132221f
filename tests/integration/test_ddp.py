"""Two CPU processes under torchrun (gloo) match one process on the same global batch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

ARGS = ["supernet.C=4", "train.epochs=2", "train.steps_per_epoch=8", "train.batch_size=32",
        "search.budget=10", "search.population=5", "search.parents=2", "search.mutations=3", "search.crossovers=2",
        "search.eval_batch_size=128", "search.bn_batches=1", "search.eval_batches=1", "sampler.min_observations=4",
        "sampler.train_steps=5", "sampler.eps_inc=0.5", "train.grad_clip=0"]


def _run(cmd: list[str], out: Path, extra: list[str] = ()) -> Path:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([*cmd, "search", "--no-progress", *ARGS, *extra, f"out={out}"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = list(out.iterdir())  # only rank 0 wrote a run directory
    return run


def test_two_process_gloo_matches_one_process(tmp_path: Path) -> None:
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "tnas"]
    two = _run(torchrun, tmp_path / "ddp")
    # one process, the global batch in 2 gradient-accumulation pieces = what the 2 ranks computed
    one = _run([sys.executable, "-m", "tnas"], tmp_path / "one", ["train.micro_batches=2"])
    a = torch.load(two / "ckpt" / "last.pt", weights_only=True)["supernet"]
    b = torch.load(one / "ckpt" / "last.pt", weights_only=True)["supernet"]
    # parameters only: BN running stats are per-rank (rank 0 sees its half of each batch) and
    # are recalibrated before any architecture is scored
    for k in a:
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    ma, mb = ([m for m in map(json.loads, (r / "metrics.jsonl").read_text().splitlines()) if m["phase"] == "train"]
              for r in (two, one))
    assert [round(m["loss"], 4) for m in ma] == [round(m["loss"], 4) for m in mb]
    ra, rb = (json.loads((r / "result.json").read_text()) for r in (two, one))
    assert ra["genotype"] == rb["genotype"]


# ---- gradient strategies -------------------------------------------------------------------
GRADIENT = ["darts", "darts-v2", "gdas", "tnas-g"]
GRADIENT_ARGS = ["supernet.C=4", "train.epochs=2", "train.steps_per_epoch=3", "train.batch_size=16",
                 "search.eval_batch_size=64", "search.bn_batches=1", "search.eval_batches=1", "gradient.best_of=2",
                 "gradient.marginal_samples=8", "gradient.tnas_g.refit_every=2", "sampler.min_observations=2",
                 "sampler.train_steps=2", "train.grad_clip=0", "threads=1"]


@pytest.fixture(scope="module")
def two_process_gradient_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every gradient strategy once under torchrun (2 gloo processes), in one launch."""
    out = tmp_path_factory.mktemp("ddp-gradient")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(Path(__file__).with_name("ddp_searches.py")), str(out), ",".join(GRADIENT),
                           *GRADIENT_ARGS], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _state(run: Path) -> dict[str, torch.Tensor]:
    ck = torch.load(run / "ckpt" / "last.pt", weights_only=True)
    keep = {f"supernet.{k}": v for k, v in ck["supernet"].items()
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    sampler = ck["sampler"]
    dist_state = sampler["vae"] if "vae" in sampler else {"alpha": sampler["alpha"]}
    return {**keep, **{f"distribution.{k}": v for k, v in dist_state.items() if torch.is_tensor(v)}}


@pytest.mark.parametrize("strategy", GRADIENT)
def test_gradient_two_processes_match_one_process_with_two_micro_batches(
        two_process_gradient_runs: Path, tmp_path: Path, strategy: str) -> None:
    from tnas.run.config import resolve_config
    from tnas.run.search import run_search

    (two,) = list((two_process_gradient_runs / strategy).iterdir())  # only rank 0 wrote a run directory
    overrides = dict(a.split("=", 1) for a in [*GRADIENT_ARGS, f"strategy={strategy}", "train.micro_batches=2",
                                               f"out={tmp_path}"])
    _, one = run_search(resolve_config(None, overrides), progress_bar=False)
    ma, mb = ([m for m in map(json.loads, (r / "metrics.jsonl").read_text().splitlines()) if m["phase"] == "train"]
              for r in (two, one))  # the eval rows of the finished run carry no training metrics
    # the distribution (alpha / the VAE) and the weights never drifted apart between the ranks
    assert [(m["rank_spread_distribution"], m["rank_spread_supernet"]) for m in ma] == [(0.0, 0.0)] * 2
    for key in ("loss", "valid_loss", "valid_acc"):
        assert [round(m[key], 4) for m in ma] == [round(m[key], 4) for m in mb], key
    a, b = _state(two), _state(one)
    assert a.keys() == b.keys() and any(k.startswith("distribution.") for k in a)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    ra, rb = (json.loads((r / "result.json").read_text()) for r in (two, one))
    assert ra["genotype"] == rb["genotype"]
    torch.testing.assert_close(torch.tensor(ra["final_probs"]), torch.tensor(rb["final_probs"]), rtol=0, atol=1e-5)
