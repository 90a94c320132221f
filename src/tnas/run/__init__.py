"""Runs: configs and presets, `run_search` (train + search, checkpoint, resume, report)."""
from tnas.run.config import RunConfig, resolve_config
from tnas.run.search import run_search

__all__ = ["RunConfig", "resolve_config", "run_search"]
