"""Experiment trackers: where a run's parameters and scalars go besides metrics.jsonl.

A `Tracker` has three methods; a run holds a list of them and `RunDir.log_metrics` hands each one
the numeric fields of every event as `phase/key` scalars (the TensorBoard tags). Built in:
TensorBoard (always, when installed; tb/ in the run directory), MLflow (`track.mlflow=URI`) and
Weights & Biases (`track.wandb=PROJECT`), both off by default and optional extras. Your own
tracker is any object with these methods, passed as `run_search(cfg, trackers=[...])` or
`run_train(cfg, trackers=[...])`; one that also has `log_result(run_path, result)` is handed the
finished run's result and folder (see `log_result`).

A run's life with trackers (`tnas.run.job.run_job`): `open_trackers` opens (and so checks) every
requested tracker *before* the run directory is claimed, so a tracker that cannot open leaves no
half-made run directory; `attach_trackers` then names their runs after the directory and keeps
their ids in its track.json; a finished run hands its results to `log_result`: the found genotype
as a tag (`tnas.genotype`) and result.json, report.md, the plots (*.png) and an exported network
(export/, when there is one) as artifacts. A resumed run continues the same MLflow / W&B run.
Events the resumed run redoes (the search stage's generations, the epoch that was interrupted)
are logged again at the same steps.

`track.mlflow` takes what MLflow takes as a tracking URI (`file:/abs/dir`, `file:///abs/dir`,
`sqlite:///mlflow.db`, `http://host:5000`, `databricks`) or a plain folder (its file store);
`track.wandb` takes a W&B project as W&B names it: `PROJECT` or `ENTITY/PROJECT`.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

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

    mlflow: str | None = None  # MLflow tracking URI (file:/abs/dir, sqlite:///mlflow.db, http://host:5000) or a folder
    mlflow_experiment: str = "tnas"  # MLflow experiment the runs are logged under
    wandb: str | None = None  # Weights & Biases project: PROJECT or ENTITY/PROJECT

    def cross_checks(self) -> tuple[Cross, ...]:
        return tuple(Cross(value is None or bool(value.strip()), key, value, what) for key, value, what in (
            ("mlflow", self.mlflow, "a tracking URI or folder, or null for no MLflow"),
            ("mlflow_experiment", self.mlflow_experiment, "an MLflow experiment name"),
            ("wandb", self.wandb, "a W&B project name, or null for no W&B"))) + (
            Cross(self.wandb is None or _wandb_path_ok(self.wandb), "wandb", self.wandb,
                  "PROJECT or ENTITY/PROJECT (W&B's names: letters, digits, '-', '_', '.')"),)


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
    """A tracking URI as MLflow defines it. A URI (any `scheme:`: sqlite:///x.db, http://host,
    databricks://profile) is passed on unchanged, except that `file:` URIs (`file:/abs`,
    `file:///abs`, `file://localhost/abs`, `file:rel`) become absolute `file:///...` URIs, so a
    resumed run in another working directory finds the same store; `databricks` alone is MLflow's
    name for the default Databricks workspace; anything else is a folder (its file store).

    >>> mlflow_uri("file:/tmp/mlruns")
    'file:///tmp/mlruns'
    """
    value = value.strip()
    if value in ("databricks", "databricks-uc"):
        return value
    parts = urlsplit(value)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise TnasError(f"track.mlflow={value} names the host '{parts.netloc}'; a file: URI is a folder on this "
                            "machine: file:/abs/dir or file:///abs/dir (or the folder itself).")
        return Path(unquote(parts.path) or ".").expanduser().resolve().as_uri()
    if len(parts.scheme) > 1:  # one letter is a Windows drive (C:\\runs), a folder
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
        self.created = run_id is None
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

    def attach(self, run_path: Path) -> None:
        """Name the MLflow run after the run directory (known only once it is claimed) and tag it."""
        self.client.update_run(self.run_id, name=run_path.name)
        self.client.set_tag(self.run_id, "tnas.run_dir", str(run_path.resolve()))

    def log_result(self, run_path: Path, result: dict[str, Any]) -> None:
        """The found genotype as the tag `tnas.genotype` and `result_files(run_path)` as artifacts
        (export/ under the artifact folder export/)."""
        if isinstance(result.get("genotype"), str):
            self.client.set_tag(self.run_id, "tnas.genotype", result["genotype"][:5000])  # MLflow's tag limit
        for path in result_files(run_path):
            if path.is_dir():
                self.client.log_artifacts(self.run_id, str(path), artifact_path=path.name)
            else:
                self.client.log_artifact(self.run_id, str(path))

    def discard(self) -> None:
        """Delete the MLflow run this tracker created (its tnas run never started); a continued
        run (resume) is only marked ended again."""
        if self.created:
            self.client.delete_run(self.run_id)
        else:
            self.client.set_terminated(self.run_id, status="KILLED")

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
        project: W&B project, `PROJECT` or `ENTITY/PROJECT`.
        run_name: the run's display name (renamed after the run directory by `attach`).
        folder: where wandb keeps its files (a new run: the parent folder of run directories,
            which exists before the run directory is claimed; a resumed run: its run directory).
        run_id: continue this W&B run (a resumed tnas run).
    """

    def __init__(self, project: str, run_name: str | None, folder: Path, run_id: str | None = None) -> None:
        import wandb

        entity, _, name = project.strip().rpartition("/")
        folder.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=name, entity=entity or None, name=run_name, dir=str(folder), id=run_id,
                              resume="allow" if run_id else None, reinit="create_new")
        self.run_id = self.run.id

    def attach(self, run_path: Path) -> None:
        self.run.name = run_path.name
        self.run.config.update({"tnas.run_dir": str(run_path.resolve())}, allow_val_change=True)

    def log_result(self, run_path: Path, result: dict[str, Any]) -> None:
        """The genotype in the run's summary and `result_files(run_path)` as one artifact."""
        import wandb

        if isinstance(result.get("genotype"), str):
            self.run.summary["tnas.genotype"] = result["genotype"]
        art = wandb.Artifact(f"{run_path.name}-result", type="tnas-result")
        for path in result_files(run_path):
            if path.is_dir():
                art.add_dir(str(path), name=path.name)
            else:
                art.add_file(str(path))
        self.run.log_artifact(art)

    def discard(self) -> None:
        self.run.finish(exit_code=1)

    def log_params(self, params: dict[str, Any]) -> None:
        self.run.config.update(params, allow_val_change=True)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        # W&B steps must increase within a run, and search events count evaluations, not optimizer
        # steps: each phase gets its own x axis ('<phase>/step') instead
        phases = {k.split("/", 1)[0] for k in metrics}
        self.run.log({**metrics, **{f"{p}/step": step for p in phases}})

    def close(self, status: str) -> None:
        self.run.finish(exit_code=0 if status != "failed" else 1)


RESULT_FILES = ("result.json", "report.md")


def result_files(run_path: Path) -> list[Path]:
    """What a finished run hands its trackers as artifacts: result.json, report.md, every plot
    (*.png) and the exported network (the folder export/, when `tnas export` wrote one)."""
    files = [run_path / n for n in RESULT_FILES if (run_path / n).is_file()]
    files += sorted(p for p in run_path.glob("*.png") if p.is_file())
    if (run_path / "export").is_dir():
        files.append(run_path / "export")
    return files


EXTRAS = {"mlflow": ("mlflow", "tnas[mlflow]"), "wandb": ("wandb", "tnas[wandb]")}


def check_trackers(track: TrackConfig | None) -> None:
    """Raise TnasError before anything runs when a requested tracker's package is missing."""
    import importlib.util

    for key, (module, extra) in EXTRAS.items():
        if track is not None and getattr(track, key) and importlib.util.find_spec(module) is None:
            raise TnasError(f"track.{key}={getattr(track, key)} needs the package '{module}', which is not installed. "
                            f"Install it with `pip install '{extra}'`, or drop track.{key}.")


def open_trackers(track: TrackConfig | None, out: str | Path, resume: str | Path | None = None) -> list[Tracker]:
    """Open the trackers `track` asks for besides TensorBoard, before the run directory exists:
    a tracker that cannot open (a bad URI, no login) fails here, so no run directory is claimed.
    A resumed run (`resume`, its directory) continues the MLflow / W&B runs named in its track.json.

    Raises:
        TnasError: a missing package or a tracker that cannot open (the ones already opened are
            discarded first).
    """
    if track is None or not (track.mlflow or track.wandb):
        return []
    check_trackers(track)
    ids = _read_ids(Path(resume) / "track.json") if resume is not None else {}
    name = Path(resume).name if resume is not None else None
    trackers: list[Tracker] = []
    try:
        if track.mlflow:
            trackers.append(MLflowTracker(track.mlflow, track.mlflow_experiment, name or "tnas", ids.get("mlflow")))
        if track.wandb:
            trackers.append(WandbTracker(track.wandb, name, Path(resume) if resume is not None else Path(out),
                                         ids.get("wandb")))
    except BaseException:
        discard_trackers(trackers)
        raise
    return trackers


def attach_trackers(trackers: Sequence[Tracker], run_path: Path) -> None:
    """Name the opened trackers' runs after the claimed run directory and keep their ids in its
    track.json, so a resumed run continues the same MLflow / W&B runs."""
    ids = _read_ids(run_path / "track.json")
    for tracker in trackers:
        if isinstance(tracker, (MLflowTracker, WandbTracker)):
            tracker.attach(run_path)
            ids["mlflow" if isinstance(tracker, MLflowTracker) else "wandb"] = tracker.run_id
    if ids:
        (run_path / "track.json").write_text(json.dumps(ids, indent=2) + "\n")


def discard_trackers(trackers: Sequence[Tracker]) -> None:
    """Undo `open_trackers` when the run directory could not be claimed (no orphan MLflow runs)."""
    for tracker in trackers:
        try:
            if hasattr(tracker, "discard"):
                tracker.discard()
        except Exception as e:  # noqa: BLE001 - the claim's own error is the one to report
            _log.warning("could not discard the %s run (%s)", type(tracker).__name__, _first_line(e))


def log_result(trackers: Sequence[Tracker], run_path: Path, result: dict[str, Any]) -> None:
    """Hand a finished run's genotype and files to every tracker that takes them (an optional
    `log_result(run_path, result)` method: MLflow and W&B have one; yours may)."""
    for tracker in trackers:
        if callable(getattr(tracker, "log_result", None)):
            tracker.log_result(run_path, result)


def _read_ids(path: Path) -> dict[str, str]:
    try:
        ids = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in ids.items() if isinstance(v, str)} if isinstance(ids, dict) else {}


def _wandb_path_ok(value: str) -> bool:
    import re

    return re.fullmatch(r"\s*([\w.-]+/)?[\w.-]+\s*", value) is not None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
