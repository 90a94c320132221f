"""The seeds axis survives faults (issue 24): a worker killed by SIGKILL, Ctrl-C and a failing seed
each stop the axis with a summary of what finished and what did not and the resume command;
`--resume AXIS_DIR` finishes only what is missing; a second owner of a locked axis is refused."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tnas.cli import main

pytestmark = pytest.mark.slow

CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
TINY_SEARCH = ["strategy=spos", "supernet.C=4", "train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=32",
               "search.budget=4", "search.population=2", "search.parents=1", "search.mutations=1",
               "search.crossovers=1", "search.bn_batches=1", "search.eval_batches=1", "search.eval_batch_size=32",
               "data.limit=200"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _tnas(*argv: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tnas", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV, **kw)


def _wait_for(predicate, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    """The axis's worker processes (spawned Python processes whose parent is `pid`)."""
    out = []
    for d in Path("/proc").iterdir():
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmd:
            out.append(int(d.name))
    return out


def _axis(out: Path) -> Path:
    (folder,) = [p for p in out.iterdir() if "-seeds" in p.name]
    return folder


def _hold(folder: str, ready, release) -> None:
    from tnas.run import lock

    lock.acquire(folder)
    ready.set()
    release.wait(60)


def test_killed_worker_stops_the_axis_and_resume_finishes_it(tmp_path: Path, capsys) -> None:
    p = _tnas("search", *TINY_SEARCH, "seeds=0-1", "workers=2", f"out={tmp_path}", "--no-progress")
    _wait_for(lambda: _children(p.pid))
    os.kill(_children(p.pid)[0], signal.SIGKILL)  # as the OOM killer would
    _, err = p.communicate(timeout=300)  # the axis must not wait forever
    assert p.returncode == 1 and "Traceback" not in err, err
    folder = _axis(tmp_path)
    assert f"tnas search --resume {folder}" in err and "SIGKILL" in err
    summary = json.loads((folder / "summary.json").read_text())
    assert not summary["complete"] and any("SIGKILL" in u["reason"] for u in summary["unfinished"])
    assert "## Not finished" in (folder / "summary.md").read_text()
    first = {r["seed"]: r["run"] for r in summary["runs"]}

    # a second owner of the axis is refused, naming the holder
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(folder), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        assert main(["search", "--resume", str(folder)]) == 2
        assert f"in use by process {holder.pid}" in capsys.readouterr().err
    finally:
        release.set()
        holder.join()
    # in this process (one at a time): finishes only the missing seed
    assert main(["search", "--resume", str(folder), "workers=1", "--no-progress"]) == 0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["complete"] and [r["seed"] for r in summary["runs"]] == [0, 1]
    assert all(first[s] == r["run"] for r in summary["runs"] if (s := r["seed"]) in first)  # not run again
    for r in summary["runs"]:
        assert json.loads((Path(r["run"]) / "result.json").read_text())["genotype"] == r["genotype"]


def test_ctrl_c_and_a_failing_seed_of_a_train_axis(tmp_path: Path, capsys) -> None:
    args = ["train", CELL, "train-quick", "optim.epochs=3", "seeds=0-2", f"out={tmp_path}", "--no-progress"]
    p = _tnas(*args)
    _wait_for(lambda: any(tmp_path.glob("*-seeds*/*-s0/ckpt/last.pt")))
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 130 and "Traceback" not in err, err
    folder = _axis(tmp_path)
    assert f"tnas train --resume {folder}" in err
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["interrupted"] and {u["status"] for u in summary["unfinished"]} <= {"interrupted", "not started"}
    # a point that now fails (a link planted at its checkpoint's temp file) stops the axis there
    cut = next(u for u in summary["unfinished"] if u["status"] == "interrupted")
    os.symlink(tmp_path / "victim", Path(cut["run"]) / "ckpt" / "last.pt.tmp")
    assert main(["train", "--resume", str(folder), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Refusing to write" in err and f"tnas train --resume {folder}" in err
    summary = json.loads((folder / "summary.json").read_text())
    failed = [u for u in summary["unfinished"] if u["status"] == "failed"]
    assert [u["seed"] for u in failed] == [cut["seed"]] and "last.pt.tmp" in failed[0]["reason"]
    assert not (tmp_path / "victim").exists() and "## Not finished" in (folder / "summary.md").read_text()
    os.unlink(Path(cut["run"]) / "ckpt" / "last.pt.tmp")
    assert main(["train", "--resume", str(folder), "--no-progress"]) == 0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["complete"] and [r["seed"] for r in summary["runs"]] == [0, 1, 2]
    assert len([d for d in folder.iterdir() if d.is_dir()]) == 3  # the interrupted run was resumed, not redone
