"""The run skeleton (`tnas.run.job`): console output, epoch time, threads=, the strategy registry."""
from __future__ import annotations

import io
import json
import logging
import sys
import time
from pathlib import Path

import pytest
import torch

import tnas.train  # noqa: F401  (registers the train job)
from tnas.errors import TnasError
from tnas.run.config import resolve_config, validate_config
from tnas.run.job import STRATEGIES, Job
from tnas.run.search import run_search
from tnas.sampler.uniform import UniformSampler

TINY = {"strategy": "spos", "supernet.C": "4", "train.epochs": "2", "train.steps_per_epoch": "4",
        "train.batch_size": "32", "search.budget": "8", "search.population": "4", "search.parents": "2",
        "search.mutations": "2", "search.crossovers": "2", "search.eval_batch_size": "64", "search.bn_batches": "1",
        "search.eval_batches": "1", "threads": "1"}
SLEEP = 0.3


def test_log_lines_own_line_epoch_time_includes_sampler_step_and_threads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen_threads: list[int] = []

    def slow_step(self: UniformSampler) -> dict[str, float]:
        seen_threads.append(torch.get_num_threads())
        time.sleep(SLEEP)
        return {}

    monkeypatch.setattr(UniformSampler, "step", slow_step)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)  # progress bars and the log handler share the stream
    handler = logging.StreamHandler(err)
    root, before = logging.getLogger(), torch.get_num_threads()
    root.addHandler(handler)
    old_level = logging.getLogger("tnas").level
    logging.getLogger("tnas").setLevel(logging.INFO)
    try:
        _, run = run_search(resolve_config(None, {**TINY, "out": str(tmp_path)}), progress_bar=True)
    finally:
        root.removeHandler(handler)
        logging.getLogger("tnas").setLevel(old_level)
    text = err.getvalue()
    epoch_lines = [ln for ln in text.split("\n") if "train acc" in ln]
    assert len(epoch_lines) == 2 and "train spos" in text  # a bar was drawn
    for ln in epoch_lines:  # what a terminal shows: the text after the last carriage return
        assert ln.split("\r")[-1].startswith("epoch"), repr(ln)
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["seconds"] >= SLEEP for r in records if r.get("phase") == "train"] == [True, True]
    assert seen_threads == [1, 1] and torch.get_num_threads() == before


def test_threads_is_validated() -> None:
    from tnas.train.config import resolve_train_config, validate_train_config

    with pytest.raises(TnasError, match="threads"):
        validate_config(resolve_config(None, {"threads": "-1"}))
    with pytest.raises(TnasError, match="threads"):
        validate_train_config(resolve_train_config(None, {"genotype": "x", "threads": "-2"}))


def test_every_strategy_and_train_have_a_job() -> None:
    from tnas.run.config import GRADIENT_STRATEGIES

    assert set(STRATEGIES.names()) == {"spos", "tnas-os", *GRADIENT_STRATEGIES, "zero-cost", "train"}
    assert STRATEGIES.get("spos") is STRATEGIES.get("tnas-os")
    assert len({STRATEGIES.get(s) for s in GRADIENT_STRATEGIES}) == 1


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_job_implements_the_skeleton(name: str) -> None:
    job = STRATEGIES.get(name)
    assert issubclass(job, Job)
    for method in ("tag", "state_dict", "load_state_dict", "position", "fit", "finish"):
        assert getattr(job, method) is not getattr(Job, method), f"{job.__name__}.{method}"
