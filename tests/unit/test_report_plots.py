"""report.md's search-stage plots (issue 25, item 5): the sampler's path entropy per epoch and the
supernet-score-vs-ground-truth scatter of the Kendall-tau cells, from a run folder's files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tnas.bench import load_nb201
from tnas.evaluate.ranking import kendall_taus, random_cells
from tnas.run.report_plots import path_entropy, plot_ranking, plot_search, ranking_points
from tnas.space import get_space


def _run(tmp_path: Path) -> Path:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"space": "nb201", "eval": {"bench_path": None}}))
    return tmp_path


def test_ranking_scatter_pairs_each_cell_with_its_ground_truth(tmp_path: Path) -> None:
    run, table = _run(tmp_path), load_nb201()
    cells = random_cells(table, table.space, "cifar10", n=30)
    est = table.lookup(table.space.from_keys(cells.keys), "cifar10", "valid").numpy()  # a stand-in for a supernet
    kd = {**kendall_taus(est, cells), "keys": cells.keys.tolist(), "supernet_acc": est.round(4).tolist()}
    result = {"kendall": kd, "ground_truth": {"dataset": "cifar10"}}
    score, truth = ranking_points(run, result)
    for key, s, t in zip(kd["keys"], score, truth):
        arch = table.space.from_keys(torch.tensor([key]))[0]
        assert t == pytest.approx(table.query(arch, "cifar10", "test")) and s == pytest.approx(
            table.query(arch, "cifar10", "valid"), abs=1e-4)
    assert plot_ranking(run, result) == "ranking.png" and (run / "ranking.png").stat().st_size > 0
    renamed = {**kd, "score": kd["supernet_acc"]}
    del renamed["supernet_acc"]  # the generalised key name reads the same
    assert np.array_equal(ranking_points(run, {**result, "kendall": renamed})[0], score)
    assert ranking_points(run, {"kendall": {"tau": 0.1}, "ground_truth": {"dataset": "cifar10"}}) is None
    assert ranking_points(run, {"ground_truth": None}) is None and plot_ranking(run, {}) is None


def test_path_entropy_is_zero_for_one_path_and_near_its_uniform_reference(tmp_path: Path) -> None:
    run, space = _run(tmp_path), get_space("nb201")
    g = torch.Generator().manual_seed(0)
    one = space.to_genotype(space.sample_uniform(1, g)[0])
    rows = [{"phase": "train", "step": s, "genotype": one} for s in range(1, 41)]
    rows += [{"phase": "train", "step": s, "genotype": space.to_genotype(a)}
             for s, a in zip(range(41, 81), space.sample_uniform(40, g))]
    (run / "archs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    history = [{"epoch": 1, "step": 40, "eps": 0.0}, {"epoch": 2, "step": 80, "eps": 0.1}]
    ent, ref = path_entropy(run, history)
    assert ent[0] == 0.0 and ref[0] == ref[1] and 0.8 < ref[1] < 1.0
    assert abs(ent[1] - ref[1]) < 0.1
    metrics = [{"phase": "search", "step": s, "fitness": float(s)} for s in range(1, 7)]
    metrics += [{"phase": "search", "step": 3 * k, "generation": k - 1, "population_best": 3.0 * k,
                 "population_mean": 3.0 * k - 1, "parents_mean": 3.0 * k - 0.5} for k in (1, 2)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    assert plot_search(run, history) == "search.png" and (run / "search.png").stat().st_size > 0
