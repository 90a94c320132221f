"""Running the points of an axis (`tnas.run.multiseed`): one after another in this process, or as
`workers` spawned processes, each point an ordinary run (new, or resumed from its run directory).

Every point ends with an outcome {"status": "done" | "failed" | "interrupted", ...}; nothing here
raises for a failed point. A worker killed by a signal (the OOM killer's SIGKILL) is noticed by its
process sentinel and reported as failed with the signal's name, so the axis never waits forever.
After a failure no new point starts; the running ones finish. Ctrl-C: the workers run in their own
process groups (a terminal's Ctrl-C reaches only this process), and each gets one SIGINT from
here, so it checkpoints and stops like a single run does; a second Ctrl-C stops them at once.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from tnas.errors import TnasError
from tnas.run.job import Interrupted

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """How one point runs: the command, its run function (`run_search` / `run_train`, called as
    `runner(cfg, resume=..., progress_bar=False)`) and its config reader (dict -> config)."""

    command: str
    runner: Callable[..., tuple[dict[str, Any], Any]]
    from_dict: Callable[[dict[str, Any]], Any]


Task = tuple[Kind, "dict[str, Any] | None", "str | None", int]  # kind, config dict, resume dir, torch threads


def run_point(task: Task) -> dict[str, Any]:
    """One point in this process: a new run of the config dict, or the resume of a run directory."""
    kind, tree, resume, threads = task
    try:
        if threads:
            import torch

            torch.set_num_threads(threads)
        cfg = None if resume else kind.from_dict(tree or {})
        result, path = kind.runner(cfg, resume=resume, progress_bar=False)
        return {"status": "done", "run": str(path), "result": result}
    except Interrupted as e:
        return {"status": "interrupted", "run": str(e.path), "reason": "interrupted (Ctrl-C), checkpoint saved"}
    except KeyboardInterrupt:
        return {"status": "interrupted", "run": resume, "reason": "interrupted (Ctrl-C)"}
    except TnasError as e:
        return {"status": "failed", "run": resume, "reason": str(e)}
    except Exception as e:  # noqa: BLE001 - one point's bug or full disk must not lose the others' summary
        _log.debug("point failed", exc_info=True)
        return {"status": "failed", "run": resume, "reason": f"{type(e).__name__}: {e}"}


def _child(task: Task, conn: Any) -> None:
    """Worker process entry: own process group (see the module doc), run, send the outcome."""
    os.setpgrp()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    conn.send(run_point(task))
    conn.close()


def run_points(tasks: list[Task], workers: int, done: Callable[[int, dict[str, Any]], None]) -> bool:
    """Run every task; `done(index, outcome)` after each. Returns True when Ctrl-C stopped the axis.
    Tasks not started (after a failure or Ctrl-C) get no outcome."""
    if workers <= 1:
        return _sequential(tasks, done)
    return _parallel(tasks, workers, done)


def _sequential(tasks: list[Task], done: Callable[[int, dict[str, Any]], None]) -> bool:
    for i, task in enumerate(tasks):
        try:
            outcome = run_point(task)
        except KeyboardInterrupt:  # between two runs (the runs catch their own Ctrl-C)
            return True
        done(i, outcome)
        if outcome["status"] == "interrupted":
            return True
        if outcome["status"] == "failed":
            return False
    return False


def _parallel(tasks: list[Task], workers: int, done: Callable[[int, dict[str, Any]], None]) -> bool:
    ctx = mp.get_context("spawn")
    pending, running = list(enumerate(tasks)), {}  # sentinel -> (index, process, pipe end)
    stopping, interrupted = False, False
    while running or (pending and not stopping):
        while pending and len(running) < workers and not stopping:
            i, task = pending.pop(0)
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(task, send), daemon=False)
            proc.start()
            send.close()
            running[proc.sentinel] = (i, proc, recv)
        try:
            ready = wait(list(running), timeout=5)
        except KeyboardInterrupt:
            # first Ctrl-C: each worker checkpoints and stops; a second one: they stop at once
            interrupted, stopping = True, True
            for _, proc, _ in running.values():
                _signal(proc.pid, signal.SIGINT)
            continue
        for sentinel in ready:
            i, proc, recv = running.pop(sentinel)
            outcome = _outcome(proc, recv)
            if outcome["status"] != "done":
                stopping = True
            interrupted |= outcome["status"] == "interrupted"
            done(i, outcome)
    return interrupted


def _outcome(proc: Any, recv: Any) -> dict[str, Any]:
    """What the finished worker sent, or how it died."""
    proc.join()
    try:
        if recv.poll():
            return recv.recv()
    except (EOFError, OSError):
        pass
    finally:
        recv.close()
    code = proc.exitcode
    if code is not None and code < 0:
        reason = f"the worker process was killed by {signal.Signals(-code).name} (out of memory?)"
    else:
        reason = f"the worker process exited with code {code} before reporting a result"
    return {"status": "failed", "run": None, "reason": reason}


def _signal(pid: int | None, sig: int) -> None:
    if pid is not None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
