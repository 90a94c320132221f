"""Two machines, played by two `torchrun` launchers on 127.0.0.1 (`--nnodes=2`, a c10d rendezvous on
localhost, gloo, one process per node): a one-shot search, a gradient search and `tnas train` give
what one node with two processes gives, and a node lost mid-run (Ctrl-C, SIGKILL) followed by
`--resume` on both nodes ends with the same result.

A node's launcher runs its worker in a session of its own (torchrun does so), so losing a node
means killing the launcher and its descendants (`_kill_node`). The run directory is shared (one
host); on a cluster `out=` must be on a shared file system (README, several machines).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
SEARCH = ["supernet.C=4", "train.epochs=3", "train.steps_per_epoch=12", "train.batch_size=16", "train.grad_clip=0",
          "search.budget=8", "search.population=4", "search.parents=2", "search.mutations=2", "search.crossovers=2",
          "search.eval_batch_size=64", "search.bn_batches=1", "search.eval_batches=1", "gradient.best_of=2",
          "gradient.marginal_samples=8", "threads=1"]
STRATEGIES = ("spos", "gdas")  # a one-shot and a gradient search
TIMEOUT = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(nodes: int) -> list[str]:
    """One node with 2 processes, or one of 2 nodes with 1 process each (rendezvous on a fresh port)."""
    run = [sys.executable, "-m", "torch.distributed.run"]
    if nodes == 1:
        return [*run, "--standalone", "--nproc_per_node=2"]
    return [*run, "--nnodes=2", "--nproc_per_node=1", "--rdzv-backend=c10d",
            f"--rdzv-endpoint=127.0.0.1:{_free_port()}", "--rdzv-id=tnas-test"]


def _start_nodes(args: list[str]) -> list[subprocess.Popen]:
    """Two node launchers of the same job, each in a session of its own (as on two machines)."""
    launcher = _torchrun(2)
    return [subprocess.Popen([*launcher, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=ENV, start_new_session=True) for _ in range(2)]


def _wait(procs: list[subprocess.Popen], ok: bool = True) -> None:
    for p in procs:
        _, err = p.communicate(timeout=TIMEOUT)
        if ok:
            assert p.returncode == 0, err[-3000:]


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc; the workers live in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_node(proc: subprocess.Popen) -> None:
    """SIGKILL a node: its launcher and every process it started."""
    for pid in [proc.pid, *_descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _after_first_epoch(out: Path, procs: list[subprocess.Popen]) -> Path:
    """The run directory, once its first epoch's checkpoint is written (the run is then mid-way)."""
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and all(p.poll() is None for p in procs):
        metrics = list(out.glob("*/metrics.jsonl"))
        if metrics and metrics[0].read_text().count("\n") >= 1 and (metrics[0].parent / "ckpt" / "last.pt").exists():
            return metrics[0].parent
        time.sleep(0.05)
    raise AssertionError("no checkpoint of the first epoch appeared: " + "".join(
        p.communicate(timeout=TIMEOUT)[1][-2000:] for p in procs))


def _weights(run: Path) -> dict[str, torch.Tensor]:
    ck = torch.load(run / "ckpt" / "last.pt", weights_only=True)
    state = ck["supernet"] if "supernet" in ck else ck["model"]
    # BN running stats are rank 0's own (its half of each batch), and rank 0 is either node
    return {k: v for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def _same_run(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6, msg=k)
    ra, rb = (json.loads((r / "result.json").read_text()) for r in (a, b))
    assert ra["genotype"] == rb["genotype"]
    la, lb = ([round(m["loss"], 4) for m in map(json.loads, (r / "metrics.jsonl").read_text().splitlines())
               if m.get("phase", "train") == "train"] for r in (a, b))  # search / eval rows have no loss
    assert la == lb


@pytest.fixture(scope="module")
def single_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both searches on one node with 2 processes, in one launch."""
    out = tmp_path_factory.mktemp("one-node")
    proc = subprocess.run([*_torchrun(1), str(Path(__file__).with_name("ddp_searches.py")), str(out),
                           ",".join(STRATEGIES), *SEARCH], capture_output=True, text=True, env=ENV, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.parametrize("strategy, lose", [("spos", signal.SIGINT), ("gdas", signal.SIGKILL)])
def test_two_nodes_lose_one_resume_both_equals_one_node(single_node: Path, tmp_path: Path, strategy: str,
                                                         lose: signal.Signals) -> None:
    (ref,) = list((single_node / strategy).iterdir())
    nodes = _start_nodes(["-m", "tnas", "search", "--no-progress", f"strategy={strategy}", *SEARCH, f"out={tmp_path}"])
    run = _after_first_epoch(tmp_path, nodes)
    if lose == signal.SIGINT:  # Ctrl-C on one machine: its launcher passes it on; all ranks stop at one step
        nodes[1].send_signal(signal.SIGINT)
    else:
        _kill_node(nodes[1])
    _wait(nodes, ok=False)
    assert not (run / "result.json").exists()  # it really stopped mid-way
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert 1 <= len(steps) < 3
    _wait(_start_nodes(["-m", "tnas", "search", "--no-progress", "--resume", str(run)]))
    _same_run(run, ref)


def test_two_nodes_train_equals_one_node(tmp_path: Path) -> None:
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|"
    args = ["-m", "tnas", "train", cell, "--no-progress", "optim.epochs=2", "optim.batch_size=32", "net.C=4",
            "data.limit=256", "threads=1"]
    one = subprocess.run([*_torchrun(1), *args, f"out={tmp_path / 'one'}"], capture_output=True, text=True, env=ENV,
                         timeout=TIMEOUT)
    assert one.returncode == 0, one.stderr[-3000:]
    _wait(_start_nodes([*args, f"out={tmp_path / 'two'}"]))
    (a,), (b,) = (list((tmp_path / name).iterdir()) for name in ("one", "two"))
    wa, wb = _weights(a), _weights(b)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6, msg=k)
    ra, rb = (json.loads((r / "result.json").read_text()) for r in (a, b))
    assert ra["world_size"] == rb["world_size"] == 2 and ra["test_acc"] == pytest.approx(rb["test_acc"], abs=1e-6)
