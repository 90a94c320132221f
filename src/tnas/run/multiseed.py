"""Seeds (and any key) as an axis: `tnas search PRESET seeds=0-4 workers=2`, `tnas search
seeds=0-2 train.lr=0.05,0.1` (and `tnas train ... seeds=...`): a multi-run.

The axis has its own folder, `<out>/<date>-<space>-<tag>-seeds<spec>/`, claimed atomically and
locked for the axis's life (`tnas.run.lock`), with `axis.json` (the manifest: every point's seed,
swept values and resolved config) and one ordinary run directory per point inside it. Points run
one after another, or as `workers` processes (`tnas.run.axis_pool`: one torch thread pool each,
the cores shared out). Whatever happens (all done, a failed or killed point, Ctrl-C), the axis
ends by writing `summary.md` and `summary.json`: the finished points (found cells, accuracies,
ground truth where known, mean ± sd over seeds per swept combination) and the points that did
not finish, with why; `tnas search --resume AXIS_DIR` then runs only what is missing (a point with
a checkpoint is resumed, a point with none starts) and writes the summary again.

A sweep value list is `key=a,b,c`: every combination of the swept keys, times every seed, is one
run. Keys whose type is a list (their value is itself comma-separated) cannot be swept.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tnas.errors import TnasError, cut
from tnas.run import lock
from tnas.run.axis_pool import Kind, Task, run_points
from tnas.run.overrides import to_dict
from tnas.run.rundir import claim_run_dir, dumps
from tnas.safeio import atomic_text

_log = logging.getLogger(__name__)
MAX_SEEDS = 1000
AXIS_KEYS = ("seeds", "workers")
MANIFEST = "axis.json"
MAX_POINTS = 1000


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0..4]; '0,3,7' and '0-2,9' likewise; a bad spec raises naming it and the syntax."""
    how = "Write seeds=0-4 (a range), seeds=0,3,7 (a list) or a mix such as seeds=0-2,9."
    out: list[int] = []
    for part in str(text).split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            a = int(lo)
            b = int(hi) if dash else a
        except ValueError:
            raise TnasError(f"Bad value '{text}' for 'seeds': '{part}' is not a seed or a range. {how}") from None
        if a < 0 or b < a or b - a >= MAX_SEEDS:
            raise TnasError(f"Bad value '{text}' for 'seeds': '{part}' must be N or A-B with 0 <= A <= B and at most "
                            f"{MAX_SEEDS} seeds. {how}")
        out.extend(range(a, b + 1))
    if len(set(out)) != len(out) or len(out) > MAX_SEEDS:
        raise TnasError(f"Bad value '{text}' for 'seeds': each seed once, at most {MAX_SEEDS}. {how}")
    return out


def pop_axis(overrides: dict[str, str]) -> tuple[dict[str, str], list[int] | None, int]:
    """Split `seeds=` and `workers=` off the overrides: (the rest, seeds or None, workers)."""
    rest = {k: v for k, v in overrides.items() if k not in AXIS_KEYS}
    seeds = parse_seeds(overrides["seeds"]) if "seeds" in overrides else None
    text = overrides.get("workers", "1")
    try:
        workers = int(text)
    except ValueError:
        workers = -1
    if not 1 <= workers <= 64:
        raise TnasError(f"Bad value '{text}' for 'workers': expected an integer in [1, 64] (parallel runs of the "
                        "seeds axis; each gets its share of the cores). Set it with workers=2.")
    if "workers" in overrides and seeds is None:
        raise TnasError("workers= runs several seeds in parallel; give the seeds too, e.g. seeds=0-3 workers=2.")
    if "seed" in rest and seeds is not None:
        raise TnasError(f"Both seed={rest['seed']} and seeds={overrides['seeds']}: give one of them.")
    return rest, seeds, workers



def pop_sweep(rest: dict[str, str], list_keys: set[str] | frozenset[str] = frozenset()
              ) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Split the swept keys (`key=a,b,c`) off the overrides: (the rest, {key: values}). A key in
    `list_keys` (a list-typed setting) keeps its commas."""
    sweep = {k: [p.strip() for p in v.split(",")] for k, v in rest.items() if "," in v and k not in list_keys}
    for key, values in sweep.items():
        if any(not v for v in values) or len(set(values)) != len(values):
            raise TnasError(f"Bad value '{rest[key]}' for '{key}': a sweep lists distinct non-empty values separated "
                            f"by commas, e.g. {key}=a,b,c.")
    n = math.prod(len(v) for v in sweep.values())
    if n > MAX_POINTS:
        raise TnasError(f"The sweep {', '.join(sweep)} has {n} combinations; at most {MAX_POINTS}. Sweep fewer values.")
    return {k: v for k, v in rest.items() if k not in sweep}, sweep


def combinations(sweep: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination of the swept values, in the order given ([{}] without a sweep)."""
    return [dict(zip(sweep, values)) for values in itertools.product(*sweep.values())]


# ---- starting and resuming an axis -------------------------------------------------------------
def run_axis(kind: Kind, make_cfg: Callable[[int, dict[str, str]], Any], seeds: list[int],
             sweep: dict[str, list[str]] | None = None, workers: int = 1,
             progress: Callable[[dict[str, Any]], None] | None = None) -> tuple[dict[str, Any], Path]:
    """Run `make_cfg(seed, swept values)` for every combination and seed; write the summary.

    Every config is built (and so validated) before the axis folder is claimed. Returns (summary,
    axis folder); `summary["unfinished"]` lists the points that did not finish."""
    points = [(s, extra) for extra in combinations(sweep or {}) for s in seeds]
    if len(points) > MAX_POINTS:
        raise TnasError(f"{len(points)} runs ({len(seeds)} seeds x the sweep); at most {MAX_POINTS}. Run fewer.")
    cfgs = [make_cfg(s, extra) for s, extra in points]
    tag = "train" if kind.command == "train" else cfgs[0].strategy
    folder = claim_run_dir(cfgs[0].out, f"{time.strftime('%Y%m%d-%H%M%S')}-{cfgs[0].space}-{tag}-seeds{_spec(seeds)}")
    lock.acquire(folder)
    try:
        manifest = {"version": 1, "kind": "tnas-axis", "command": kind.command, "space": cfgs[0].space, "tag": tag,
                    "seeds": seeds, "sweep": sweep or {}, "workers": workers,
                    "points": [{"seed": s, "sweep": extra, "config": to_dict(dataclasses.replace(c, out=str(folder)))}
                               for (s, extra), c in zip(points, cfgs)]}
        atomic_text(folder / MANIFEST, dumps(manifest, indent=2) + "\n")
        return _execute(kind, folder, manifest, workers, progress), folder
    finally:
        lock.release(folder)


def is_axis(path: str | Path) -> bool:
    """Whether `path` is an axis folder (holds axis.json)."""
    return (Path(path) / MANIFEST).is_file()


def resume_axis(kind: Kind, folder: str | Path, workers: int | None = None,
                progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Finish the points of axis `folder` that did not finish, then write its summary again."""
    folder = Path(folder)
    manifest = read_manifest(folder, kind.command)
    lock.acquire(folder)
    try:
        return _execute(kind, folder, manifest, workers or int(manifest["workers"]), progress)
    finally:
        lock.release(folder)


def read_manifest(folder: Path, command: str) -> dict[str, Any]:
    """axis.json of `folder`, checked: a clear error when it is unreadable or of the other command."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
        points = manifest["points"]
        ok = (manifest.get("kind") == "tnas-axis" and manifest.get("version") == 1 and isinstance(points, list) and points
              and all(isinstance(p, dict) and isinstance(p.get("seed"), int) and isinstance(p.get("config"), dict)
                      and isinstance(p.get("sweep", {}), dict) for p in points))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise TnasError(f"'{path}' is not a readable axis manifest written by tnas (version 1, a list of points); "
                        "the axis folder is damaged. Its run directories can still be resumed one by one with "
                        "`tnas search --resume RUN_DIR`.")
    if manifest.get("command") != command:
        raise TnasError(f"'{folder}' is a `tnas {manifest.get('command')}` axis; resume it with "
                        f"`tnas {manifest.get('command')} --resume {folder}`.")
    return manifest


def _execute(kind: Kind, folder: Path, manifest: dict[str, Any], workers: int,
             progress: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    """Run every point that has no result yet, then write summary.json / summary.md."""
    points, t0 = manifest["points"], time.perf_counter()
    outcomes: dict[int, dict[str, Any]] = {}
    todo: list[tuple[int, Task]] = []
    threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else 0
    for i, point in enumerate(points):
        state, run = _point_state(folder, point["config"])
        if state == "done":
            outcomes[i] = {"status": "done", "run": str(run), "result": _read_result(run)}
        else:
            tree = None if state == "resume" else point["config"]
            todo.append((i, (kind, tree, str(run) if run else None, int(point["config"].get("threads", 0) or threads))))

    def done(k: int, outcome: dict[str, Any]) -> None:
        i = todo[k][0]
        outcomes[i] = outcome
        if progress and outcome["status"] == "done":
            progress(_row(kind.command, points[i], outcome))

    interrupted = run_points([t for _, t in todo], workers, done)
    summary = _summary(kind.command, manifest, points, outcomes, workers, time.perf_counter() - t0, interrupted)
    atomic_text(folder / "summary.json", dumps(summary, indent=2) + "\n")
    atomic_text(folder / "summary.md", markdown(summary, folder))
    return summary


def _norm(tree: dict[str, Any]) -> Any:
    """A config as it reads back from config.yaml (tuples -> lists), without _meta."""
    return yaml.safe_load(yaml.safe_dump({k: v for k, v in tree.items() if k != "_meta"}))


def _point_state(folder: Path, config: dict[str, Any]) -> tuple[str, Path | None]:
    """('done', run) when a run directory of this config has its result.json, ('resume', run) when
    one has a checkpoint, else ('new', None)."""
    want, found = _norm(config), {"done": None, "resume": None}
    for run in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()):
        try:
            tree = yaml.safe_load((run / "config.yaml").read_bytes())
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(tree, dict) or _norm(tree) != want:
            continue
        if found["done"] is None and _read_result(run) is not None:
            found["done"] = run
        elif found["resume"] is None and (run / "ckpt" / "last.pt").is_file():
            found["resume"] = run
    for state in ("done", "resume"):
        if found[state] is not None:
            return state, found[state]
    return "new", None


def _read_result(run: Path) -> dict[str, Any] | None:
    try:
        result = json.loads((run / "result.json").read_bytes())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and isinstance(result.get("genotype"), str) else None


# ---- the summary ---------------------------------------------------------------------------------
def _row(command: str, point: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    result = outcome["result"]
    row: dict[str, Any] = {"seed": point["seed"], **point.get("sweep", {}), "run": outcome["run"]}
    if command == "train":
        return {**row, "genotype": result.get("genotype"), "test_acc": result.get("test_acc"),
                "params_M": result.get("params_M")}
    gt, kd = result.get("ground_truth") or {}, result.get("kendall") or {}
    return {**row, "genotype": result.get("genotype"), "supernet_valid_acc": result.get("supernet_valid_acc"),
            "supernet_test_acc": result.get("supernet_test_acc"), "gt_valid": gt.get("valid"),
            "gt_test": gt.get("test"), "tau": kd.get("tau"), "tau_top10": kd.get("tau_top10")}


def _summary(command: str, manifest: dict[str, Any], points: list[dict[str, Any]], outcomes: dict[int, dict[str, Any]],
             workers: int, wall: float, interrupted: bool) -> dict[str, Any]:
    rows = [_row(command, points[i], o) for i, o in sorted(outcomes.items()) if o["status"] == "done"]
    unfinished = [{"seed": p["seed"], **p.get("sweep", {}),
                   "status": outcomes[i]["status"] if i in outcomes else "not started",
                   "reason": cut(outcomes[i].get("reason", ""), 600) if i in outcomes else "",
                   "run": outcomes.get(i, {}).get("run")}
                  for i, p in enumerate(points) if outcomes.get(i, {}).get("status") != "done"]
    keys = list(manifest.get("sweep") or {})
    groups = []
    for extra in combinations(manifest.get("sweep") or {}):
        sub = [r for r in rows if all(r.get(k) == v for k, v in extra.items())]
        if sub:
            groups.append({"sweep": extra, "runs": len(sub), "mean_sd": _stats(sub)})
    return {"command": command, "space": manifest["space"], "tag": manifest["tag"], "seeds": manifest["seeds"],
            "sweep": manifest.get("sweep") or {}, "sweep_keys": keys, "workers": workers, "wall_seconds": wall,
            "complete": not unfinished, "interrupted": interrupted, "runs": rows, "unfinished": unfinished,
            "groups": groups, "mean_sd": groups[0]["mean_sd"] if len(groups) == 1 and not keys else {}}


def _stats(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    """{column: [mean, sd]} over the seeds for every numeric column (sd 0 for one seed)."""
    out = {}
    for key in rows[0]:
        vals = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and key != "seed"]
        vals = [v for v in vals if not math.isnan(v)]
        if vals and len(vals) == len(rows):
            out[key] = [statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0]
    return out


def _spec(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else f"{len(seeds)}x"


def _metric_cols(summary: dict[str, Any]) -> list[str]:
    skip = {"seed", "run", "genotype", *summary["sweep_keys"]}
    return [k for k in (summary["runs"][0] if summary["runs"] else {}) if k not in skip]


def markdown(summary: dict[str, Any], folder: Path) -> str:
    """The summary as a Markdown page: one row per finished run, mean ± sd per swept combination,
    then the runs that did not finish and the command that finishes them."""
    rows, keys, cols = summary["runs"], summary["sweep_keys"], _metric_cols(summary)
    lines = [f"# tnas {summary['command']}: {summary['tag']} on {summary['space']}, seeds {summary['seeds']}"
             + (f", sweep {', '.join(f'{k}={v}' for k, v in summary['sweep'].items())}" if keys else ""), "",
             f"{len(rows)} of {len(rows) + len(summary['unfinished'])} runs finished, {summary['workers']} at a time, "
             f"{summary['wall_seconds']:.0f} s wall (this invocation).", ""]
    if rows:
        lines += ["| seed | " + " | ".join([*keys, *cols]) + " | genotype | run |", "|---" * (len(keys) + len(cols) + 3) + "|"]
        for r in rows:
            cells = [str(r.get(k)) for k in keys] + ["n/a" if r.get(c) is None else f"{r[c]:.4g}" for c in cols]
            lines.append(f"| {r['seed']} | " + " | ".join(cells) + f" | `{r['genotype']}` | {Path(r['run']).name} |")
        for g in summary["groups"]:
            ms = g["mean_sd"]
            label = " ".join(f"{k}={v}" for k, v in g["sweep"].items())
            lines.append(f"| mean ± sd{' ' + label if label else ''} | " + " | ".join([""] * len(keys))
                         + (" | " if keys else "")
                         + " | ".join(f"{ms[c][0]:.4g} ± {ms[c][1]:.2g}" if c in ms else "" for c in cols) + " | | |")
    if summary["unfinished"]:
        lines += ["", "## Not finished", "", "| seed | " + " | ".join(keys) + (" | " if keys else "") + "status | why |",
                  "|---" * (len(keys) + 3) + "|"]
        for u in summary["unfinished"]:
            why = " ".join(str(u["reason"]).split()).replace("|", "/")
            lines.append(f"| {u['seed']} | " + "".join(f"{u.get(k)} | " for k in keys) + f"{u['status']} | {why} |")
        lines += ["", f"Finish them with `tnas {summary['command']} --resume {folder}`."]
    return "\n".join(lines) + "\n"


def report_axis(kind: Kind, folder_or_start: Callable[..., tuple[dict[str, Any], Path]]) -> int:
    """Run an axis for the CLI (`folder_or_start(progress)` starts or resumes it): a line per
    finished run, then mean ± sd and the summary's path. Exit code 0 when every run finished,
    130 after Ctrl-C, 1 when a run failed (the resume command is printed)."""
    def line(row: dict[str, Any]) -> None:
        swept = "".join(f" {k}={row[k]}" for k in row if k not in ("seed", "run", "genotype") and isinstance(row[k], str))
        print(f"seed {row['seed']}{swept}: {row['genotype']}  ({row['run']})", flush=True)

    summary, folder = folder_or_start(line)
    for g in summary["groups"]:
        ms = g["mean_sd"]
        shown = [k for k in ("gt_test", "supernet_test_acc", "test_acc", "tau") if k in ms]
        label = " ".join(f"{k}={v}" for k, v in g["sweep"].items())
        print(f"mean ± sd over seeds{' (' + label + ')' if label else ''}: "
              + ", ".join(f"{k} {ms[k][0]:.2f} ± {ms[k][1]:.2f}" for k in shown))
    print(f"summary: {folder / 'summary.md'}  (and summary.json)")
    if summary["complete"]:
        return 0
    bad = summary["unfinished"]
    for u in bad:
        if u["status"] != "not started":
            print(f"tnas: seed {u['seed']}: {u['status']}: {' '.join(str(u['reason']).split())}", file=sys.stderr)
    print(f"tnas: {len(bad)} of {len(bad) + len(summary['runs'])} runs did not finish; finish them with: "
          f"tnas {kind.command} --resume {folder}", file=sys.stderr)
    return 130 if summary["interrupted"] else 1


def list_keys(cfg: Any) -> set[str]:
    """The keys of config `cfg` whose type is a list or tuple (their values hold commas, no sweep)."""
    import typing

    from tnas.run.overrides import flat_keys

    return {k for k, t in flat_keys(cfg).items()
            if typing.get_origin(t) in (list, tuple)
            or any(typing.get_origin(a) in (list, tuple) for a in typing.get_args(t))}


def axis_args(overrides: dict[str, str], base: Callable[[dict[str, str]], Any]
              ) -> tuple[dict[str, str], list[int] | None, dict[str, list[str]], int]:
    """(the rest of the overrides, seeds or None, sweep, workers) of a command line; `base(rest)`
    resolves a config without the axis (for the key types and the default seed). Seeds stay None
    when neither seeds= nor a sweep is given (a single run)."""
    rest, seeds, workers = pop_axis(overrides)
    cfg0 = base({})
    rest, sweep = pop_sweep(rest, list_keys(cfg0))
    if sweep and seeds is None:
        seeds = [base(rest).seed]
        rest.pop("seed", None)
    if "workers" in overrides and seeds is None:
        raise TnasError("workers= runs several seeds in parallel; give the seeds too, e.g. seeds=0-3 workers=2.")
    return rest, seeds, sweep, workers


def workers_override(overrides: dict[str, str]) -> int | None:
    """The only override `--resume AXIS_DIR` takes: workers=N (None: the axis's own)."""
    other = sorted(set(overrides) - {"workers"})
    if other:
        raise TnasError(f"--resume of an axis folder takes only workers=N, not {', '.join(other)}: each run keeps its "
                        "saved config. Start a new axis to change the rest.")
    return pop_axis({"seeds": "0", **overrides})[2] if overrides else None
