"""Experiment trackers: where a run's parameters and scalars go besides metrics.jsonl.

A `Tracker` has three methods; a run holds a list of them and `RunDir.log_metrics` hands each one
the numeric fields of every event as `phase/key` scalars (the TensorBoard tags). Built in:
TensorBoard (always, when installed; tb/ in the run directory), MLflow (`track.mlflow=URI`) and
Weights & Biases (`track.wandb=PROJECT`), both off by default and optional extras. Your own
tracker is any object with these methods, passed as `run_search(cfg, trackers=[...])` or
`run_train(cfg, trackers=[...])`.

A resumed run continues the same MLflow / W&B run (its id is kept in the run directory's
track.json). Events the resumed run redoes (the search stage's generations, the epoch that was
interrupted) are logged again at the same steps.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tnas.checks import Cross
from tnas.errors import TnasError

_log = logging.getLogger(__name__)

STATUSES = ("finished", "interrupted", "failed")


@runtime_checkable
class Tracker(Protocol):
    def log_params(self, params: dict[str, Any]) -> None:
        """The run's resolved config, flattened ('train.epochs' -> 6); once per session."""
        ...

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Scalars of one event ('train/loss', 'search/fitness', ...) at `step` (optimizer steps
        for training events, evaluations for search events)."""
        ...

    def close(self, status: str) -> None:
        """End of the session: 'finished', 'interrupted' (Ctrl-C; it may be resumed) or 'failed'."""
        ...


@dataclass(frozen=True)
class TrackConfig:
    """Optional experiment trackers (off by default; each needs its extra installed)."""

    mlflow: str | None = None  # MLflow tracking URI (sqlite:///mlflow.db, http://host:5000) or a folder (file store)
    mlflow_experiment: str = "tnas"  # MLflow experiment the runs are logged under
    wandb: str | None = None  # Weights & Biases project name

    def cross_checks(self) -> tuple[Cross, ...]:
        return tuple(Cross(value is None or bool(value.strip()), key, value, what) for key, value, what in (
            ("mlflow", self.mlflow, "a tracking URI or folder, or null for no MLflow"),
            ("mlflow_experiment", self.mlflow_experiment, "an MLflow experiment name"),
            ("wandb", self.wandb, "a W&B project name, or null for no W&B")))


class TensorBoardTracker:
    """Scalars to `folder` as TensorBoard event files (a no-op when tensorboard is not installed)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self._writer = folder, None

    def log_params(self, params: dict[str, Any]) -> None:
        pass  # config.yaml holds them; TensorBoard's hparams view needs final metrics, which come later

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard not installed: JSONL only
                self._writer = False
                return
            self._writer = SummaryWriter(str(self.folder))
        if self._writer:
            for k, v in metrics.items():
                self._writer.add_scalar(k, v, step)

    def close(self, status: str) -> None:
        if self._writer:
            self._writer.close()


def mlflow_uri(value: str) -> str:
    """A tracking URI as MLflow takes it: URIs (scheme://, sqlite:...) as they are, a folder as file://."""
    if "://" in value or value.startswith(("sqlite:", "databricks")):
        return value
    return Path(value).expanduser().resolve().as_uri()


class MLflowTracker:
    """Params and metrics to an MLflow run through `MlflowClient` (no global active run).

    Args:
        uri: tracking URI or folder (`mlflow_uri`).
        experiment: experiment name (created when missing).
        run_name: the MLflow run's name (the run directory's name).
        run_id: continue this MLflow run (a resumed tnas run) instead of creating one.
        tags: tags of a new run (e.g. the run directory).
    """

    def __init__(self, uri: str, experiment: str, run_name: str, run_id: str | None = None,
                 tags: dict[str, str] | None = None) -> None:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.uri = mlflow_uri(uri)
        try:
            self.client = MlflowClient(tracking_uri=self.uri)
            if run_id is not None:
                self.client.update_run(run_id, status="RUNNING")
                self.run_id = run_id
            else:
                exp = self.client.get_experiment_by_name(experiment)
                exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(experiment)
                self.run_id = self.client.create_run(exp_id, run_name=run_name, tags=tags or {}).info.run_id
        except MlflowException as e:
            raise TnasError(f"MLflow could not open track.mlflow={uri} ({_first_line(e)}). Pass a tracking URI it "
                            "accepts: sqlite:///PATH/mlflow.db (needs sqlalchemy and alembic), http://HOST:PORT of a "
                            "tracking server, or a folder (MLflow 3 refuses its folder store unless "
                            "MLFLOW_ALLOW_FILE_STORE=true is set).") from None

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        try:
            for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
                self.client.log_batch(self.run_id, params=items[i : i + 100])
        except MlflowException as e:  # a resumed run that changed a setting: MLflow keeps the first value
            _log.warning("MLflow kept the params it had for run %s (%s); config.yaml has the current ones",
                         self.run_id, _first_line(e))

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, int(step)) for k, v in metrics.items()])

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status={"finished": "FINISHED", "interrupted": "KILLED"}.get(
            status, "FAILED"))


class WandbTracker:
    """Params and metrics to a Weights & Biases run (its own `wandb.init` run object, not the global one).

    Args:
        project: W&B project.
        run_name: the run's display name; folder: where wandb keeps its files (the run directory).
        run_id: continue this W&B run (a resumed tnas run).
    """

    def __init__(self, project: str, run_name: str, folder: Path, run_id: str | None = None) -> None:
        import wandb

        self.run = wandb.init(project=project, name=run_name, dir=str(folder), id=run_id,
                              resume="allow" if run_id else None, reinit="create_new")
        self.run_id = self.run.id

    def log_params(self, params: dict[str, Any]) -> None:
        self.run.config.update(params, allow_val_change=True)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        # W&B steps must increase within a run, and search events count evaluations, not optimizer
        # steps: each phase gets its own x axis ('<phase>/step') instead
        phases = {k.split("/", 1)[0] for k in metrics}
        self.run.log({**metrics, **{f"{p}/step": step for p in phases}})

    def close(self, status: str) -> None:
        self.run.finish(exit_code=0 if status != "failed" else 1)


EXTRAS = {"mlflow": ("mlflow", "tnas[mlflow]"), "wandb": ("wandb", "tnas[wandb]")}


def check_trackers(track: TrackConfig | None) -> None:
    """Raise TnasError before anything runs when a requested tracker's package is missing."""
    import importlib.util

    for key, (module, extra) in EXTRAS.items():
        if track is not None and getattr(track, key) and importlib.util.find_spec(module) is None:
            raise TnasError(f"track.{key}={getattr(track, key)} needs the package '{module}', which is not installed. "
                            f"Install it with `pip install '{extra}'`, or drop track.{key}.")


def build_trackers(track: TrackConfig | None, run_path: Path) -> list[Tracker]:
    """The trackers `track` asks for besides TensorBoard (which every run directory has); their run
    ids are kept in track.json so a resumed run continues the same MLflow / W&B runs."""
    trackers: list[Tracker] = []
    if track is None or not (track.mlflow or track.wandb):
        return trackers
    check_trackers(track)
    ids_path = run_path / "track.json"
    ids = _read_ids(ids_path)
    if track.mlflow:
        ml = MLflowTracker(track.mlflow, track.mlflow_experiment, run_path.name, ids.get("mlflow"),
                           tags={"tnas.run_dir": str(run_path.resolve())})
        ids["mlflow"] = ml.run_id
        trackers.append(ml)
    if track.wandb:
        wb = WandbTracker(track.wandb, run_path.name, run_path, ids.get("wandb"))
        ids["wandb"] = wb.run_id
        trackers.append(wb)
    ids_path.write_text(json.dumps(ids, indent=2) + "\n")
    return trackers


def _read_ids(path: Path) -> dict[str, str]:
    try:
        ids = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in ids.items() if isinstance(v, str)} if isinstance(ids, dict) else {}


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
