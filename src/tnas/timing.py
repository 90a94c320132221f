"""Timing GPU work without stalling it: CUDA events on a CUDA device, `time.perf_counter` on CPU.

A CUDA kernel launch returns before the kernel runs, so a host clock around a step measures the
launch, not the work, unless the host waits (a sync per step, which itself slows the loop).
Events are recorded into the stream with the work and read once at the end:

    clock = StepClock(device)        # clock.mark() after each step, then
    seconds = clock.intervals()      # one sync: seconds between consecutive marks

    with Timer(device) as t:         # one block; t.seconds after the block (waits for its work)
        ...
"""
from __future__ import annotations

import time

import torch


class StepClock:
    """Marks in the device's stream; `intervals()` waits once and returns the seconds between them."""

    def __init__(self, device: torch.device | str) -> None:
        self.cuda = torch.device(device).type == "cuda"
        self._marks: list[torch.cuda.Event | float] = []
        self.mark()

    def mark(self) -> None:
        """Record the current point of the stream (CUDA) or of the host clock (CPU)."""
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._marks.append(event)
        else:
            self._marks.append(time.perf_counter())

    def intervals(self) -> list[float]:
        """Seconds between consecutive marks (the first mark is the creation of the clock)."""
        if not self.cuda:
            return [b - a for a, b in zip(self._marks, self._marks[1:])]
        self._marks[-1].synchronize()  # waits for this stream's work only, not the whole device
        return [a.elapsed_time(b) / 1e3 for a, b in zip(self._marks, self._marks[1:])]


class Timer:
    """Seconds of a `with` block's device work (CUDA events) or of its wall time (CPU)."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.seconds = float("nan")

    def __enter__(self) -> Timer:
        self._clock = StepClock(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        self._clock.mark()
        self.seconds = self._clock.intervals()[0]
