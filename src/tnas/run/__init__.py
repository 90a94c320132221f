"""Runs: configs and presets, the run skeleton (`tnas.run.job`: `Job`, `run_job`, the `STRATEGIES`
registry of job classes) and `run_search`. Importing the package registers the search jobs
(one-shot: spos, tnas-os; gradient: darts, darts-v2, gdas, tnas-g; zero-cost); `tnas.train` adds 'train'."""
from tnas.run import gradient_search as _gradient_search  # noqa: F401  (registers the gradient job)
from tnas.run import zero_cost_search as _zero_cost_search  # noqa: F401  (registers strategy=zero-cost)
from tnas.run.config import RunConfig, resolve_config
from tnas.run.job import STRATEGIES, Interrupted, Job, run_job
from tnas.run.search import run_search
from tnas.run.track import Tracker

__all__ = ["STRATEGIES", "Interrupted", "Job", "RunConfig", "Tracker", "resolve_config", "run_job", "run_search"]
