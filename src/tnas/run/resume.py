"""Opening a run directory for `--resume`: check it, read its checkpoint (safely, see
`tnas.run.checkpoint`) and apply the overrides a resumed run may take.

A resumed run takes its config from the checkpoint. Overrides are allowed only for settings read
after supernet training that do not invalidate it (`RESUMABLE_KEYS`: the GA's budget, population
and operators, its score and scoring batches, and the report's Kendall tau), so a mistake there
does not cost the training; a finished run resumed with another score re-runs its search stage.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from tnas.version import __version__
from tnas.errors import TnasError, cut
from tnas.run import lock
from tnas.run.checkpoint import load_checkpoint
from tnas.run.overrides import apply_overrides, flatten, to_dict
from tnas.run.rundir import RunDir

_log = logging.getLogger(__name__)

RESUMABLE_KEYS = ("search.budget", "search.population", "search.parents", "search.mutations",
                  "search.crossovers", "search.mutate_prob", "search.score", "search.rank_reference",
                  "search.bn_batches", "search.eval_batches", "search.eval_batch_size", "zero_cost.batch_size",
                  "zero_cost.batches", "zero_cost.C", "zero_cost.N", "eval.tau_cells", "eval.tau_set",
                  "eval.tau_top_cells", "eval.bench_path", "track.mlflow", "track.mlflow_experiment", "track.wandb")

Command = Literal["search", "train"]
_MISSING = object()


def read_run_config(run: Path) -> dict[str, Any]:
    """The saved config.yaml of run directory `run` as a dict; a clear error when it is missing,
    not YAML or not a mapping."""
    path = run / "config.yaml"
    if not run.is_dir() or not path.is_file():
        raise TnasError(f"'{run}' is not a tnas run directory (no config.yaml). Pass the folder that `tnas search` "
                        "or `tnas train` printed as its run directory.")
    try:
        tree = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError, OSError) as e:
        problem = getattr(e, "problem", None) or getattr(e, "strerror", None) or type(e).__name__
        raise TnasError(f"'{path}' is not a readable tnas config ({problem}); the run directory is damaged. Restore "
                        "the file from a backup, or start a new run.") from None
    if not isinstance(tree, dict):
        raise TnasError(f"'{path}' holds {type(tree).__name__}, not the mapping of settings tnas writes; the run "
                        "directory is damaged. Restore the file from a backup, or start a new run.")
    return tree


def command_of(tree: dict[str, Any]) -> Command:
    """Which command wrote the run whose config.yaml is `tree`: 'train' or 'search'."""
    meta = tree.get("_meta")
    return "train" if (isinstance(meta, dict) and meta.get("command") == "train") or "genotype" in tree else "search"


def open_run(resume: str | Path, command: Command) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """(run directory, saved config.yaml tree, checkpoint) of a run that `command` can resume."""
    path = Path(resume)
    tree = read_run_config(path)
    if command_of(tree) != command:
        other = "train" if command == "search" else "search"
        raise TnasError(f"'{path}' is a `tnas {other}` run, not a `tnas {command}` run; resume it with "
                        f"`tnas {other} --resume {path}`.")
    if lock.main_rank():  # held until the run ends (released by tnas.run.job.run_job)
        lock.acquire(path)
    ck = load_checkpoint(path / "ckpt" / "last.pt")
    if not isinstance(ck.get("config"), dict):
        raise TnasError(f"Checkpoint '{path / 'ckpt' / 'last.pt'}' holds no config; it is damaged. Start a new run.")
    kind: Command = "train" if "genotype" in ck["config"] else "search"
    if kind != command:
        raise TnasError(f"Checkpoint '{path / 'ckpt' / 'last.pt'}' was written by `tnas {kind}`, but config.yaml "
                        f"says `tnas {command}`: the run directory mixes two runs. Resume it with `tnas {kind} --resume "
                        f"{path}` if the checkpoint is the run you want, or start a new run.")
    check_saved_config(path, tree, ck["config"])
    return path, tree, ck


def check_saved_config(path: Path, tree: dict[str, Any], saved: dict[str, Any]) -> None:
    """Refuse a config.yaml that disagrees with the checkpoint's config (a resume uses the
    checkpoint's, so an edit would be silently ignored), except in the keys a resume may change."""
    # through YAML, as config.yaml was written: tuples become lists, the same floats come back
    expect, found = flatten(yaml.safe_load(yaml.safe_dump(saved))), flatten({k: v for k, v in tree.items() if k != "_meta"})
    differ = sorted(k for k in set(expect) | set(found)
                    if k not in RESUMABLE_KEYS and expect.get(k, _MISSING) != found.get(k, _MISSING))
    if differ:
        shown = ", ".join(f"{k}: config.yaml {cut(found.get(k, '(absent)'))} vs checkpoint {cut(expect.get(k, '(absent)'))}"
                          for k in differ[:5])
        raise TnasError(f"'{path / 'config.yaml'}' disagrees with the checkpoint ({shown}{', ...' if len(differ) > 5 else ''}). "
                        "A resumed run continues with the checkpoint's settings, so an edit of config.yaml would be "
                        "ignored. Undo the edit (only search-stage keys may change, as overrides: `--resume RUN "
                        "search.budget=300`), or start a new run with the settings you want.")


def resume_overrides(cfg: Any, overrides: Mapping[str, str] | None, run: Path, tree: dict[str, Any],
                     check: Callable[[Any], Any]) -> Any:
    """`cfg` with the `--resume` overrides applied (only RESUMABLE_KEYS) and validated by `check`;
    config.yaml is rewritten to match."""
    if not overrides:
        return cfg
    refused = sorted(set(overrides) - set(RESUMABLE_KEYS))
    if refused:
        raise TnasError(
            f"--resume cannot change {', '.join(refused)}: the trained supernet depends on it. A resumed run may "
            f"change only {', '.join(RESUMABLE_KEYS)} (read after training); start a new run to change the rest."
        )
    cfg = check(apply_overrides(cfg, overrides, parse=True))
    meta = tree.get("_meta") if isinstance(tree.get("_meta"), dict) else {}
    history = list(meta.get("resume_overrides", [])) + [dict(overrides)]
    main_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 writes
    RunDir(run, enabled=main_rank).write_config(to_dict(cfg), {**meta, "tnas_version": __version__, "resume_overrides": history})
    _log.info("resuming %s with %s", run, ", ".join(f"{k}={v}" for k, v in overrides.items()))
    return cfg
