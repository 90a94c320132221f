"""Seeds as an axis (issue 14): `tnas search ... seeds=0-1` and `tnas train ... seeds=...` run every
seed in its own run directory and write summary.md / summary.json with mean ± sd."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tnas.cli import main
from tnas.errors import TnasError
from tnas.run.multiseed import parse_seeds, pop_axis, pop_sweep

TINY = ["supernet.C=4", "train.epochs=3", "train.steps_per_epoch=12", "train.batch_size=32",
        "search.budget=24", "search.population=8", "search.parents=3", "search.mutations=4", "search.crossovers=4",
        "search.eval_batch_size=128", "search.bn_batches=2", "search.eval_batches=1", "sampler.min_observations=5",
        "sampler.train_steps=10", "sampler.eps_inc=0.3", "sampler.eps0=0.0"]
CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4] and parse_seeds("3") == [3]
    assert parse_seeds("0-2,9") == [0, 1, 2, 9] and parse_seeds(" 5 , 7 ") == [5, 7]
    for bad in ("", "a", "4-2", "-1", "0-1,1", "0-5000", "1.5"):
        with pytest.raises(TnasError, match="for 'seeds'"):
            parse_seeds(bad)
    assert pop_axis({"a": "1", "seeds": "0-1", "workers": "2"}) == ({"a": "1"}, [0, 1], 2)
    assert pop_sweep({"a": "1", "b": "x,y", "c": "1,2"}, {"c"}) == ({"a": "1", "c": "1,2"}, {"b": ["x", "y"]})
    for bad in ("x,", "x,x"):
        with pytest.raises(TnasError, match="a sweep lists distinct"):
            pop_sweep({"b": bad})
    for bad, match in (({"seeds": "0-1", "workers": "0"}, "workers"), ({"workers": "2"}, "give the seeds"),
                       ({"seeds": "0-1", "seed": "3"}, "Both seed=3")):
        with pytest.raises(TnasError, match=match):
            pop_axis(bad)


@pytest.mark.slow
def test_search_seeds_axis_writes_runs_and_summary(tmp_path: Path, capsys) -> None:
    assert main(["search", *TINY, "seeds=0-1", f"out={tmp_path}", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "seed 0:" in out and "seed 1:" in out and "mean ± sd over seeds" in out
    (folder,) = [p for p in tmp_path.iterdir() if p.name.endswith("-seeds0-1")]
    summary = json.loads((folder / "summary.json").read_text())
    assert [r["seed"] for r in summary["runs"]] == [0, 1]
    for r in summary["runs"]:  # each seed is an ordinary, separate run directory with its own result
        result = json.loads((Path(r["run"]) / "result.json").read_text())
        assert result["genotype"] == r["genotype"] and Path(r["run"]).name.endswith(f"-s{r['seed']}")
    accs = [r["supernet_test_acc"] for r in summary["runs"]]
    assert summary["mean_sd"]["supernet_test_acc"][0] == pytest.approx(sum(accs) / 2)
    assert "| mean ± sd |" in (folder / "summary.md").read_text()


@pytest.mark.slow
def test_train_seeds_axis_in_parallel_workers(tmp_path: Path, capsys) -> None:
    args = ["train", CELL, "train-quick", "optim.epochs=1", "seeds=3,5", "workers=2", f"out={tmp_path}",
            "--no-progress"]
    assert main(args) == 0
    (folder,) = [p for p in tmp_path.iterdir() if "-seeds" in p.name]
    summary = json.loads((folder / "summary.json").read_text())
    assert [r["seed"] for r in summary["runs"]] == [3, 5] and summary["workers"] == 2
    assert all(0 <= r["test_acc"] <= 100 for r in summary["runs"])
    assert "test_acc" in summary["mean_sd"]


def test_seeds_axis_bad_input_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["search", "seeds=2-1", f"out={tmp_path}"]) == 2
    assert "Bad value '2-1' for 'seeds'" in capsys.readouterr().err
    assert main(["search", "seeds=0-1", "workers=x", f"out={tmp_path}"]) == 2
    assert "for 'workers'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written
