"""The contended-CPU notice (tnas.run.threads) and the digits preset's measured thread default."""
from __future__ import annotations

import math

from tnas.run.config import resolve_config
from tnas.run.threads import contention_notice, free_cores


def test_notice_when_other_work_holds_the_cores():
    text = contention_notice(2, "cpu", load_cores=(2.1, 2))
    assert text.startswith("CPU busy (load 2.1 on 2 cores)") and "threads=1" in text and "docs/results/threads.md" in text
    assert "\n" not in text  # one line
    assert contention_notice(2, "cpu", load_cores=(1.0, 2)) is not None  # one core taken: two threads contend
    assert contention_notice(2, "cpu", load_cores=(0.8, 2)) is None  # background noise, as on an "idle" machine
    assert contention_notice(4, "cpu", load_cores=(4.5, 8)) is None and contention_notice(4, "cpu", load_cores=(5.5, 8))
    assert contention_notice(1, "cpu", load_cores=(9.0, 2)) is None  # already the setting that helps
    assert contention_notice(2, "cuda", load_cores=(9.0, 2)) is None  # the GPU does the work
    assert contention_notice(2, "cpu", load_cores=(math.nan, 2)) is None  # no load average on this OS


def test_free_cores_reads_this_machine():
    load, cores = free_cores()
    assert cores >= 1 and (math.isnan(load) or load >= 0)


def test_digits_preset_uses_one_thread():
    assert resolve_config("digits-quick", {}).threads == 1
    assert resolve_config("digits-quick", {"threads": "0"}).threads == 0  # torch's default stays one key away
