"""Torch's CPU threads for a run, and the one-line notice when the CPU is already busy.

Measured on this project's 2-core machine (docs/results/threads.md): for the small networks of the
digits and CPU-proxy presets a second thread gives no speed-up even on idle cores and costs
40-70 % more CPU; on cores another job keeps busy, torch's two threads wait on each other and the
same 5-epoch digits search took 7x the wall time and 8x the CPU of `threads=1`. So those presets
set `threads: 1`, and a run that would use more threads than there are free cores says so once.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def free_cores() -> tuple[float, int]:
    """(1-minute load average, cores this process may run on); load nan where the OS has no load average."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return load, cores


def contention_notice(threads: int, device_type: str, setting: str = "threads",
                      load_cores: tuple[float, int] | None = None) -> str | None:
    """The notice for a CPU run about to use `threads` torch threads while other work holds the cores.

    Checked before the run starts computing, so the load average is the other processes' (the
    1-minute average has barely seen this one). None when the run is on a GPU, uses one thread,
    or the cores are free enough for all its threads. `load_cores`: (load, cores) instead of this
    machine's `free_cores()`.
    """
    if device_type != "cpu" or threads <= 1:
        return None
    load, cores = load_cores or free_cores()
    if not load > cores - threads + 0.9:  # about one core of other work where our threads need it; False for nan
        return None
    return (f"CPU busy (load {load:.1f} on {cores} cores): this run's {threads} torch threads would mostly wait on "
            f"each other; {setting}=1 runs it in a fraction of the time and CPU (docs/results/threads.md).")
