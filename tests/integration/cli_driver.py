"""Run many `tnas` command lines, each in its own process, for the bad-input suite.

    python cli_driver.py CASES.json RESULTS.json [JOBS]

CASES.json is a list of {"id", "argv", "cwd"?, "env"?, "fsize"?} (fsize: RLIMIT_FSIZE in bytes). The driver imports tnas (and torch) once
and forks one child per case, which runs `tnas.cli.main(argv)` with its own stdout/stderr files
exactly as `python -m tnas ARGV` would: the exit code is main's return value, an uncaught
exception prints the interpreter's traceback and exits 1. Forking skips the ~3 s torch import
per case, so ~100 cases take seconds. RESULTS.json gets {"id", "rc", "stdout", "stderr"} per case.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
import traceback

import torch

import tnas.cli  # noqa: F401 - imported once, before forking
import tnas.run.search  # noqa: F401
import tnas.train.run  # noqa: F401

torch.set_num_threads(1)  # small cases, two at a time on a 2-core machine

TIMEOUT_S = 180


def _child(case: dict, out: str, err: str) -> None:
    """In the forked process: run the case and exit with its code (never returns)."""
    code = 1
    try:
        fd_out, fd_err = os.open(out, os.O_WRONLY | os.O_CREAT), os.open(err, os.O_WRONLY | os.O_CREAT)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        os.environ.update(case.get("env", {}))
        if case.get("fsize"):  # no file may grow past this many bytes: a real EFBIG, as a full disk (issue 24)
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (case["fsize"], case["fsize"]))
        if case.get("cwd"):
            os.chdir(case["cwd"])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            code = tnas.cli.main(case["argv"])
        except SystemExit as e:  # argparse errors exit 2 through SystemExit
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 - what the interpreter would print for an uncaught exception
            traceback.print_exc()
            code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code if isinstance(code, int) else 1)


def run_cases(cases: list[dict], jobs: int) -> list[dict]:
    tmp = tempfile.mkdtemp(prefix="tnas-cli-driver-")
    pending, running, results = list(cases), {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            case = pending.pop(0)
            out, err = os.path.join(tmp, f"{case['id']}.out"), os.path.join(tmp, f"{case['id']}.err")
            pid = os.fork()
            if pid == 0:
                _child(case, out, err)
            running[pid] = (case, out, err, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            for p, (_, _, _, t0) in running.items():
                if time.monotonic() - t0 > TIMEOUT_S:
                    os.kill(p, signal.SIGKILL)
            time.sleep(0.01)
            continue
        case, out, err, _ = running.pop(pid)
        rc = os.waitstatus_to_exitcode(status)
        with open(out, errors="replace") as f_out, open(err, errors="replace") as f_err:
            results[case["id"]] = {"id": case["id"], "rc": rc, "stdout": f_out.read(), "stderr": f_err.read()}
    return [results[c["id"]] for c in cases]


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        all_cases = json.load(f)
    res = run_cases(all_cases, int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    with open(sys.argv[2], "w") as f:
        json.dump(res, f)
