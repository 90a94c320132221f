"""`tnas search strategy=zero-cost`: search without training.

No supernet is built or trained: `search.method` (a query search of `tnas.strategy.discrete`:
random, rea, spos-ga, tnas, tnas-ga) spends `search.budget` distinct evaluations of a training-free
`search.score` (a zero-cost proxy or a rank ensemble of them) on the family's stand-alone network
at initialisation (`zero_cost.*`). The memo of evaluated architectures is the checkpoint (written
every `search.population` evaluations and on Ctrl-C); a resumed search replays it and reaches the
same result. On NB201 the found cell gets its ground truth and the score its Kendall tau.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import torch

from tnas.bench import PROTOCOL
from tnas.errors import TnasError
from tnas.evaluate.score import MemoScore
from tnas.run.config import RunConfig, validate_config
from tnas.run.dist import resolve_device
from tnas.run.job import STRATEGIES, Job, Session
from tnas.run.parts import load_data
from tnas.run.dist import DistInfo
from tnas.run.scoring import run_scorer
from tnas.run.truth import ground_truth, score_kendall
from tnas.sampler.tnas import TNASConfig
from tnas.seeds import stream
from tnas.space import get_space
from tnas.strategy.discrete import get_search
from tnas.version import __version__

_log = logging.getLogger(__name__)


@STRATEGIES.register("zero-cost")
class ZeroCostJob(Job):
    """A query search over a training-free score (no supernet)."""

    def __init__(self, cfg: RunConfig) -> None:
        validate_config(cfg)
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.space = get_space(cfg.space)
        self.data = load_data(cfg, self.device, DistInfo())
        self.scorer = run_scorer(cfg, "search.score", self.space, self.data.train, self.device)
        self.memo: dict[int, float] = {}
        self.phase = "search"
        self.seconds = 0.0

    def tag(self) -> str:
        return "zero-cost"

    def meta(self) -> dict[str, Any]:
        return {"split": self.data.split_info}

    def state_dict(self) -> dict[str, Any]:
        return {"tnas_version": __version__, "kind": "zero-cost", "config": _config(self.cfg), "phase": self.phase,
                "memo": dict(self.memo), "seconds": self.seconds}

    def load_state_dict(self, ck: dict[str, Any]) -> None:
        if ck.get("kind") != "zero-cost":
            raise TnasError("This checkpoint was not written by a strategy=zero-cost search; resume it with the "
                            "strategy that started it (its config.yaml says which).")
        self.memo.update(ck["memo"])
        self.phase, self.seconds = ck["phase"], float(ck.get("seconds", 0.0))

    def position(self) -> tuple[int, int]:
        return 0, len(self.memo)

    def fit(self, session: Session) -> None:
        cfg, s, run = self.cfg, self.cfg.search, session.run
        t0 = time.perf_counter()
        bar = session.bar(s.budget, len(self.memo), f"search {cfg.search.method} ({self.scorer.name})", unit="arch")
        fresh = {"n": 0}

        def on_eval(arch: torch.Tensor, score: float) -> None:
            bar.update(1)
            fresh["n"] += 1
            run.log_archs([{"step": 0, "phase": "search", "genotype": self.space.to_genotype(arch), "score": score,
                            "source": "search"}])
            run.log_metrics({"phase": "search", "step": len(self.memo), "fitness": score,
                             "best": max(self.memo.values())})
            if session.stop:
                self.seconds += time.perf_counter() - t0
                session.interrupt()
            if fresh["n"] % s.population == 0:
                session.save()

        evaluator = MemoScore(self.space, self.scorer, memo=self.memo, on_eval=on_eval)
        try:
            self.history = get_search(s.method)(self.space, evaluator, s.budget, stream(cfg.seed, "search"),
                                                **_options(cfg))
        finally:
            bar.close()
        self.seconds += time.perf_counter() - t0

    def finish(self, session: Session) -> dict[str, Any]:
        cfg, h = self.cfg, self.history
        i = h.best_index()
        best = h.archs[i]
        result: dict[str, Any] = {
            "genotype": self.space.to_genotype(best), "arch": best.tolist(), "strategy": "zero-cost",
            "method": cfg.search.method, "dataset": cfg.data.name, "split": self.data.split_info,
            "score": {"name": self.scorer.name, "value": float(h.scores[i])}, "evaluated": len(h),
            "wall_seconds": self.seconds,
            "top5": [{"genotype": self.space.to_genotype(h.archs[j]), "score": float(h.scores[j])}
                     for j in torch.argsort(-h.scores)[:5].tolist()],
        }
        gt, table = ground_truth(cfg, self.space.name, best)
        result["ground_truth"] = gt
        if table is not None and cfg.eval.tau_cells > 0:
            result["kendall_score"] = score_kendall(cfg, self.scorer, table, gt["dataset"])
        self.phase = "done"
        run = session.run
        run.log_metrics({"phase": "eval", "step": 0, "score": result["score"]["value"],
                         **({f"ground_truth_{k}": gt[k] for k in ("valid", "test")} if gt else {})})
        run.write_result(result)
        run.write_text("report.md", report(result))
        session.save()
        return result


def _options(cfg: RunConfig) -> dict[str, Any]:
    """The query search's options from the config (each search takes its own)."""
    s = cfg.search
    if s.method == "spos-ga":
        return {"population": s.population, "parents": s.parents, "mutations": s.mutations,
                "crossovers": s.crossovers, "mutate_prob": s.mutate_prob}
    if s.method == "rea":
        return {"population": s.population, "sample_size": min(s.parents, s.population)}
    if s.method in ("tnas", "tnas-ga"):
        return {"config": cfg.sampler if isinstance(cfg.sampler, TNASConfig) else TNASConfig.query_search()}
    return {}


def _config(cfg: RunConfig) -> dict[str, Any]:
    from tnas.run.overrides import to_dict

    return to_dict(cfg)


def report(result: dict[str, Any]) -> str:
    """report.md of a zero-cost search."""
    lines = [f"# tnas search: zero-cost ({result['method']}, score {result['score']['name']}) on {result['dataset']}",
             "", f"Found cell: `{result['genotype']}`", "", "| metric | value |", "|---|---|",
             f"| score of the found cell | {result['score']['value']:.6g} |",
             f"| architectures evaluated | {result['evaluated']} |", f"| wall time | {result['wall_seconds']:.1f} s |"]
    gt = result.get("ground_truth")
    if gt:
        lines += [f"| ground truth valid / test ({gt['dataset']}) | {gt['valid']:.2f}% / {gt['test']:.2f}% |"]
    ks = result.get("kendall_score")
    if ks:
        lines += [f"| Kendall tau of {ks['score']}, {ks['cells']} cells (all / top 10%) | {ks['tau']:.3f} / "
                  f"{ks['tau_top10']:.3f} |"]
    if gt:
        lines += ["", f"Ground-truth protocol: {gt.get('protocol', PROTOCOL)}"]
    lines += ["", "## Top 5 by score", ""]
    lines += [f"{k + 1}. `{t['genotype']}` ({t['score']:.6g})" for k, t in enumerate(result["top5"])]
    return "\n".join(lines) + "\n"
