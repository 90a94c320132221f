"""What tnas writes stays inside its folders, and one process owns a run directory (issue 24):
planted links and odd files at every name the writers use are refused, never written through;
the run-directory lock names its holder and dies with it; JSON logs are strict."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
from pathlib import Path

import pytest
import torch

from tnas.errors import TnasError, cut
from tnas.run import lock
from tnas.run.checkpoint import save_checkpoint
from tnas.run.rundir import RunDir, claim_run_dir
from tnas.safeio import append_text, atomic_text


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    v = tmp_path / "victim"
    v.write_text("precious\n")
    return v


def _refused(fn, *words: str) -> str:
    with pytest.raises(TnasError) as e:
        fn()
    msg = str(e.value)
    assert msg.startswith("Refusing to write") and all(w in msg for w in words), msg
    return msg


def test_atomic_writes_never_follow_a_planted_link(tmp_path: Path, victim: Path) -> None:
    os.symlink(victim, tmp_path / "a.json.tmp")
    _refused(lambda: atomic_text(tmp_path / "a.json", "{}"), "a.json.tmp", "symbolic link", str(victim))
    os.symlink(victim, tmp_path / "b.json")
    _refused(lambda: atomic_text(tmp_path / "b.json", "{}"), "b.json", "symbolic link")
    os.symlink(victim, tmp_path / "c.jsonl")
    _refused(lambda: append_text(tmp_path / "c.jsonl", "x\n"), "c.jsonl")
    os.mkfifo(tmp_path / "d.jsonl")
    _refused(lambda: append_text(tmp_path / "d.jsonl", "x\n"), "d.jsonl", "FIFO")
    (tmp_path / "e.md").mkdir()
    _refused(lambda: atomic_text(tmp_path / "e.md", "x"), "e.md", "folder")
    assert victim.read_text() == "precious\n" and os.path.islink(tmp_path / "b.json")


def test_a_stale_regular_tmp_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "a.txt.tmp").write_text("left by a crash")
    atomic_text(tmp_path / "a.txt", "new")
    assert (tmp_path / "a.txt").read_text() == "new" and not (tmp_path / "a.txt.tmp").exists()


def test_run_directory_writers_refuse_links(tmp_path: Path, victim: Path) -> None:
    run = RunDir(claim_run_dir(tmp_path, "r"))
    for name in ("metrics.jsonl", "archs.jsonl", "result.json", "config.yaml.tmp", "env.json.tmp", "ckpt/last.pt.tmp"):
        os.symlink(victim, run.path / name)
    writes = [lambda: run.log_metrics({"step": 1}), lambda: run.log_archs([{"step": 1}]),
              lambda: run.write_result({"a": 1}), lambda: run.write_config({"a": 1}, {}),
              lambda: run.write_env({"a": 1}), lambda: save_checkpoint(run.path / "ckpt" / "last.pt", {"s": 1}),
              lambda: run.truncate_logs(0)]
    for write in writes:
        _refused(write)
    assert victim.read_text() == "precious\n"
    # a link in place of a folder tnas writes into
    other = claim_run_dir(tmp_path, "s")
    os.symlink(tmp_path, other / "ckpt")
    _refused(lambda: RunDir(other), "ckpt", "folder")


def test_strict_json_writes_nan_as_null(tmp_path: Path) -> None:
    run = RunDir(claim_run_dir(tmp_path, "r"))
    run.log_metrics({"step": 1, "loss": float("nan"), "tau": float("inf"), "n": torch.tensor(2.5)})
    run.write_result({"kendall": {"tau": float("nan")}, "x": [float("-inf"), 1.0]})
    row = json.loads((run.path / "metrics.jsonl").read_text(), parse_constant=pytest.fail)
    assert row == {"step": 1, "loss": None, "tau": None, "n": 2.5}
    assert json.loads((run.path / "result.json").read_text(), parse_constant=pytest.fail) == \
        {"kendall": {"tau": None}, "x": [None, 1.0]}


def test_replayed_generation_events_keep_the_uninterrupted_order(tmp_path: Path) -> None:
    """A search stage resumed after 3 evaluations logs the same rows in the same order."""
    evals = [{"phase": "search", "step": k, "fitness": 10.0 * k, "best": 10.0 * k} for k in range(1, 7)]
    gen = [{"phase": "search", "step": k, "generation": k // 2, "population_best": 1.0 * k} for k in (2, 4, 6)]
    uninterrupted = [evals[0], evals[1], gen[0], evals[2], evals[3], gen[1], evals[4], evals[5], gen[2]]
    run = RunDir(claim_run_dir(tmp_path, "r"))
    for row in uninterrupted[:5]:  # killed after 4 evaluations; the checkpoint holds 3
        run.log_metrics(row)
    resumed = RunDir(run.path)
    resumed.truncate_logs(0, n_search=3)
    for row in [gen[0], evals[3], gen[1], evals[4], evals[5], gen[2]]:  # the GA replays generation 1
        resumed.log_metrics(row)
    rows = [json.loads(ln) for ln in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert rows == uninterrupted


def test_long_values_are_cut_in_messages() -> None:
    msg = str(TnasError(f"Bad value {'x' * 100_000!r} for 'seed': expected an integer."))
    assert len(msg) < 400 and "more characters" in msg and msg.endswith("for 'seed': expected an integer.")
    assert cut("short") == "short"


def _hold(folder: str, ready, release) -> None:
    lock.acquire(folder)
    ready.set()
    release.wait(60)


def test_lock_names_its_holder_and_dies_with_it(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(60)
    with pytest.raises(TnasError, match=rf"in use by process {holder.pid} on .*only one process"):
        lock.acquire(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)  # a crashed owner must not block the next one
    holder.join()
    held = lock.acquire(tmp_path)
    assert held is lock.acquire(tmp_path)  # re-entrant within a process
    assert json.loads((tmp_path / "lock").read_text())["pid"] == os.getpid()
    lock.release(tmp_path)
    assert not lock.holds(tmp_path)
    os.unlink(tmp_path / "lock")
    os.symlink(tmp_path / "elsewhere", tmp_path / "lock")
    _refused(lambda: lock.acquire(tmp_path), "lock")
