"""Harnesses that measure tnas itself, on the bundled benchmark tables: the sampler-quality
benchmark (paper section 5.3; `tnas bench sampler`, benchmarks/sampler_quality.py).

Not a library layer: a harness runs whole searches (strategy, sampler, space) against ground
truth (`tnas.bench`) and writes reports, so it sits at the top beside `tnas.run`; nothing in the
library imports it.
"""
