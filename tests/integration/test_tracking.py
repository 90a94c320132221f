"""Tracking (issue 14, item 3; issue 25, item 3): the search stage's scalars reach metrics.jsonl,
TensorBoard, a real MLflow store (read back with the MLflow client, addressed by MLflow's own
`file:/abs/dir` URI) and a user's own tracker; the finished run's files are MLflow artifacts and its
genotype a tag; a resumed run continues the same MLflow run without duplicate evaluations; a
tracker that cannot open fails before any run directory exists."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tnas.cli import main
from tnas.errors import TnasError
from tnas.run.config import resolve_config
from tnas.run.search import run_search
from tnas.run.track import Tracker, mlflow_uri

pytestmark = pytest.mark.slow

TINY = {"strategy": "tnas-os", "supernet.C": "4", "train.epochs": "2", "train.steps_per_epoch": "4",
        "train.batch_size": "32", "search.budget": "6", "search.population": "3", "search.parents": "2",
        "search.mutations": "2", "search.crossovers": "1", "search.bn_batches": "2", "search.eval_batches": "1",
        "search.eval_batch_size": "64", "data.limit": "300", "sampler.min_observations": "2"}


class Recorder:
    """A user's own tracker: keeps what it is given."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.status: list[str] = []

    def log_params(self, params: dict[str, Any]) -> None:
        self.params.update(params)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.metrics.append((step, metrics))

    def close(self, status: str) -> None:
        self.status.append(status)


def _rows(run: Path, name: str = "metrics.jsonl") -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (run / name).read_text().splitlines()]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> dict[str, Any]:
    """A tiny TNAS-OS search logged to a local MLflow folder store and a Recorder."""
    if importlib.util.find_spec("mlflow") is None:
        pytest.skip("MLflow tracking needs the optional extra: pip install 'tnas[mlflow]'")
    root = tmp_path_factory.mktemp("track")
    store = root / "mlruns"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its folder store behind this switch
    rec = Recorder()
    uri = f"file:{store}"  # MLflow's own URI form (file:/abs/dir), not a folder named 'file:'
    cfg = resolve_config(None, {**TINY, "out": str(root / "runs"), "track.mlflow": uri})
    result, run = run_search(cfg, progress_bar=False, trackers=[rec])
    yield {"run": run, "result": result, "store": store, "recorder": rec, "root": root, "uri": uri}
    mp.undo()


def test_search_stage_scalars_in_metrics_jsonl(tracked: dict[str, Any]) -> None:
    run, result = tracked["run"], tracked["result"]
    rows = _rows(run)
    evals = [r for r in rows if r["phase"] == "search" and "generation" not in r]
    scored = [r["score"] for r in _rows(run, "archs.jsonl") if r["phase"] == "search"]
    assert [r["step"] for r in evals] == list(range(1, 7)) and [r["fitness"] for r in evals] == scored
    assert [r["best"] for r in evals] == [max(scored[: i + 1]) for i in range(6)]
    gens = [r for r in rows if "generation" in r]
    assert [g["generation"] for g in gens] == [0, 1] and [g["step"] for g in gens] == [3, 6]
    assert gens[0]["population_best"] == max(scored[:3]) and gens[1]["population_mean"] == pytest.approx(
        sum(scored[3:]) / 3)
    final = rows[-1]
    assert final["phase"] == "eval" and final["supernet_valid_acc"] == result["supernet_valid_acc"]
    train = [r for r in rows if r["phase"] == "train"]
    assert all("sampler_loss" in r and "eps" in r for r in train)  # the VAE's loss and eps per sampler step


def test_tensorboard_has_search_and_sampler_scalars(tracked: dict[str, Any]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tracked["run"] / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"search/fitness", "search/population_best", "train/sampler_loss", "train/eps",
            "eval/supernet_valid_acc"} <= tags
    evals = [r for r in _rows(tracked["run"]) if r["phase"] == "search" and "generation" not in r]
    assert [(e.step, e.value) for e in acc.Scalars("search/fitness")] == [(r["step"], r["fitness"]) for r in evals]


def test_mlflow_store_holds_params_and_metrics(tracked: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    run = tracked["run"]
    client = MlflowClient(tracking_uri=tracked["uri"])
    run_id = json.loads((run / "track.json").read_text())["mlflow"]
    got = client.get_run(run_id)
    assert got.info.run_name == run.name and got.info.status == "FINISHED"
    assert got.data.params["train.epochs"] == "2" and got.data.params["strategy"] == "tnas-os"
    rows = _rows(run)
    fitness = [(m.step, m.value) for m in client.get_metric_history(run_id, "search/fitness")]
    assert fitness == [(r["step"], r["fitness"]) for r in rows if r["phase"] == "search" and "fitness" in r]
    loss = [(m.step, m.value) for m in client.get_metric_history(run_id, "train/loss")]
    assert loss == [(r["step"], pytest.approx(r["loss"])) for r in rows if r["phase"] == "train"]


def test_mlflow_run_holds_the_result_files_and_the_genotype(tracked: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    run, result = tracked["run"], tracked["result"]
    assert not list(Path.cwd().glob("file:*")) and not list(tracked["root"].rglob("file:*"))  # no folder 'file:'
    client = MlflowClient(tracking_uri=tracked["uri"])
    got = client.get_run(json.loads((run / "track.json").read_text())["mlflow"])
    assert got.data.tags["tnas.genotype"] == result["genotype"]
    assert got.data.tags["tnas.run_dir"] == str(run.resolve()) and got.info.run_name == run.name
    names = {a.path for a in client.list_artifacts(got.info.run_id)}
    plots = {p.name for p in run.glob("*.png")}
    assert "search.png" in plots and "![Search stage](search.png)" in (run / "report.md").read_text()
    assert {"result.json", "report.md", *plots} <= names
    local = client.download_artifacts(got.info.run_id, "result.json", str(tracked["root"]))
    assert json.loads(Path(local).read_text()) == json.loads((run / "result.json").read_text())


def test_mlflow_uris_are_parsed_as_mlflow_defines_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert mlflow_uri("file:/abs/dir") == mlflow_uri("file:///abs/dir") == mlflow_uri("file://localhost/abs/dir") \
        == "file:///abs/dir"
    assert mlflow_uri("file:rel") == mlflow_uri("rel") == (tmp_path / "rel").resolve().as_uri()
    for uri in ("sqlite:///mlflow.db", "http://host:5000", "https://x.y/z", "databricks", "databricks://profile"):
        assert mlflow_uri(uri) == uri
    with pytest.raises(TnasError, match="names the host 'server'"):
        mlflow_uri("file://server/share")


def test_a_tracker_that_cannot_open_leaves_no_run_directory(tmp_path: Path, monkeypatch, capsys) -> None:
    if importlib.util.find_spec("mlflow") is None:
        pytest.skip("needs the optional extra: pip install 'tnas[mlflow]'")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # MLflow 3 refuses its file store without it
    out = tmp_path / "runs"
    assert main(["search", "--no-progress", *(f"{k}={v}" for k, v in TINY.items()), f"out={out}",
                 f"track.mlflow=file:{tmp_path / 'store'}"]) == 2
    err = capsys.readouterr().err
    assert "MLflow could not open track.mlflow=file:" in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # no half-made run directory


def test_user_tracker_gets_the_same_events(tracked: dict[str, Any]) -> None:
    rec: Recorder = tracked["recorder"]
    assert isinstance(rec, Tracker) and rec.status == ["finished"]
    assert rec.params["search.budget"] == 6 and rec.params["track.mlflow"] == tracked["uri"]
    fitness = [(step, m["search/fitness"]) for step, m in rec.metrics if "search/fitness" in m]
    assert [s for s, _ in fitness] == list(range(1, 7))


def test_resume_with_a_larger_budget_continues_the_mlflow_run(tracked: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    from mlflow.tracking import MlflowClient

    run = tmp_path / "copy"
    shutil.copytree(tracked["run"], run)
    (run / "track.json").unlink()  # a copy gets its own MLflow run, created now ...
    run_search(resume=run, overrides={"search.budget": "9"}, progress_bar=False)
    first = json.loads((run / "track.json").read_text())["mlflow"]
    run_search(resume=run, overrides={"search.budget": "12"}, progress_bar=False)  # ... and continued here
    assert json.loads((run / "track.json").read_text())["mlflow"] == first
    rows = _rows(run)
    assert [r["step"] for r in rows if r["phase"] == "search" and "generation" not in r] == list(range(1, 13))
    assert [r["generation"] for r in rows if "generation" in r] == [0, 1, 2, 3]
    assert [r["phase"] for r in rows].count("eval") == 1
    client = MlflowClient(tracking_uri=tracked["uri"])
    steps = sorted({m.step for m in client.get_metric_history(first, "search/fitness")})
    assert steps == list(range(7, 13))  # the second session logged only its new evaluations


def test_a_missing_tracker_package_is_a_clear_error(tmp_path: Path, capsys) -> None:
    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here; the error is for installs without it")
    assert main(["search", "--no-progress", *(f"{k}={v}" for k, v in TINY.items()), f"out={tmp_path}",
                 "track.wandb=my-project"]) == 2
    err = capsys.readouterr().err
    assert "track.wandb=my-project" in err and "pip install 'tnas[wandb]'" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing was started
