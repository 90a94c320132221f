"""Run directories and files tnas opens (issue 10): a checkpoint cannot run code, two runs never
share a directory, failed writes (full disk, read-only) and torn logs are clear errors or recovered."""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from tnas.errors import TnasError
from tnas.run.checkpoint import load_checkpoint, save_checkpoint
from tnas.run.rundir import RunDir, claim_run_dir, read_jsonl


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def test_planted_checkpoint_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    torch.save({"version": 1, "config": {}, "payload": _Evil(marker)}, tmp_path / "last.pt")
    with pytest.raises(TnasError, match=r"Refusing to load checkpoint .*last.pt.*posix.system"):
        load_checkpoint(tmp_path / "last.pt")
    assert not marker.exists()


def test_checkpoints_hold_plain_data_only(tmp_path: Path) -> None:
    state = {"net": torch.nn.Linear(2, 2).state_dict(), "rng": torch.Generator().get_state(), "memo": {3: 1.5},
             "history": [{"epoch": 1, "loss": 0.5}], "phase": "train"}
    save_checkpoint(tmp_path / "last.pt", state)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["memo"] == {3: 1.5}


def _claim(root: str, barrier: mp.synchronize.Barrier, queue: mp.Queue) -> None:
    barrier.wait()
    queue.put(str(claim_run_dir(root, "20261129-120000-nb201-tnas-os-s0")))


def test_concurrent_runs_never_share_a_directory(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    n = 12
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(str(tmp_path), barrier, queue)) for _ in range(n)]
    for p in procs:
        p.start()
    paths = [queue.get(timeout=60) for _ in range(n)]
    for p in procs:
        p.join(timeout=60)
    assert len(set(paths)) == n
    assert sorted(Path(p).name for p in paths)[0] == "20261129-120000-nb201-tnas-os-s0"
    assert len(list(tmp_path.iterdir())) == n


def small_disk(fn, limit: int) -> str:
    """Run `fn` in a forked child whose files may not grow past `limit` bytes (RLIMIT_FSIZE: a
    real EFBIG from the kernel, as a full disk gives ENOSPC); the TnasError's message, or 'ok'."""
    import resource

    ctx = mp.get_context("fork")
    queue = ctx.Queue()

    def child() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        try:
            fn()
            queue.put("ok")
        except TnasError as e:
            queue.put(str(e))
        except BaseException as e:  # noqa: BLE001 - reported to the test
            queue.put(f"raw {type(e).__name__}: {e}")

    proc = ctx.Process(target=child)
    proc.start()
    msg = queue.get(timeout=120)
    proc.join(timeout=60)
    return msg


def test_full_disk_checkpoint_write_names_the_file_and_keeps_the_last_one(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "last.pt", {"step": 1})
    msg = small_disk(lambda: save_checkpoint(tmp_path / "last.pt", {"step": 2, "w": torch.zeros(100_000)}), 50_000)
    assert msg.startswith("Could not write") and "last.pt" in msg and "disk" in msg, msg
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 1
    assert not (tmp_path / "last.pt.tmp").exists()  # the half-written temp file is removed


def test_logs_to_a_full_disk_and_a_file_as_folder(tmp_path: Path) -> None:
    run = RunDir(claim_run_dir(tmp_path, "r"))
    msg = small_disk(lambda: run.log_metrics({"step": 1, "loss": 0.5, "pad": "x" * 5000}), 1000)
    assert "metrics.jsonl" in msg and "File too large" in msg, msg
    (tmp_path / "file").write_text("x")
    with pytest.raises(TnasError, match=r"Could not write .*file"):
        claim_run_dir(tmp_path / "file", "r")


def test_torn_and_garbage_lines_are_dropped(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    log.write_bytes(b'{"step": 1}\n\xff\xfe garbage\n[1]\n{"step": 2}\n{"step": 3, "lo')
    rows, bad = read_jsonl(log)
    assert rows == [{"step": 1}, {"step": 2}] and bad == [2, 3, 5]
    run = RunDir(tmp_path)
    run.truncate_logs(step=1)
    assert log.read_text() == '{"step": 1}\n'


@pytest.fixture
def tiny_mount(tmp_path: Path):  # noqa: ANN201
    """Mount a small tmpfs (needs root and mount rights; skipped otherwise)."""
    mounted = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()})")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], capture_output=True)


def test_real_full_disk_during_a_search(tiny_mount) -> None:  # noqa: ANN001
    from tnas.run.config import resolve_config
    from tnas.run.search import run_search

    disk = tiny_mount("size=96k")
    cfg = resolve_config(None, {"strategy": "spos", "train.epochs": "1", "train.steps_per_epoch": "1",
                                "supernet.C": "4", "data.limit": "100", "out": str(disk)})
    with pytest.raises(TnasError, match=r"Could not write .*(No space left|disk is probably full)"):
        run_search(cfg, progress_bar=False)


def test_read_only_output_folder(tiny_mount) -> None:  # noqa: ANN001
    disk = tiny_mount("ro,size=64k")
    with pytest.raises(TnasError, match=r"Could not write .*Read-only file system"):
        claim_run_dir(disk / "runs", "r")


def test_convert_refuses_unsafe_pickles_unless_asked(tmp_path: Path) -> None:
    pytest.importorskip("nats_bench")
    import bz2

    from tnas.bench import convert_nats

    marker = tmp_path / "PWNED"
    torch.save({"meta_archs": [], "arch2infos": {}, "x": _Evil(marker)}, tmp_path / "evil.pth")
    (tmp_path / "evil.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps({"meta_archs": _Evil(marker)})))
    for name in ("evil.pth", "evil.pickle.pbz2"):
        with pytest.raises(TnasError, match="--unsafe-pickle"):
            convert_nats(tmp_path / name, tmp_path / "out")
    assert not marker.exists()
    # a trusted file with a harmless non-plain object loads when the caller opts in
    torch.save({"meta_archs": [], "arch2infos": {}, "note": Fraction(1, 3)}, tmp_path / "trusted.pth")
    with pytest.raises(TnasError, match="--unsafe-pickle"):
        convert_nats(tmp_path / "trusted.pth", tmp_path / "out")
    out = convert_nats(tmp_path / "trusted.pth", tmp_path / "out", allow_unsafe_pickle=True)
    assert out.read_text().count("\n") == 1  # header only: no architectures in the file
