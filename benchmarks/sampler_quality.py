"""Sampler-quality benchmark (TNAS paper section 5.3) on NAS-Bench-201 ground truth.

A thin wrapper: `python benchmarks/sampler_quality.py [options]` == `tnas bench sampler [options]`
(see `tnas bench sampler --help`; the implementation is `tnas.harness.sampler_quality`).
Writes docs/results/sampler_quality.md and the figure PNGs.
"""
from __future__ import annotations

import sys

from tnas.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "sampler", *sys.argv[1:]]))
