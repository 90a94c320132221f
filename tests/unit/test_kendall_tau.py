"""kendall_tau (tnas.evaluate.ranking) in numpy, against scipy.stats.kendalltau where scipy is installed."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tnas.bench import load_nb201
from tnas.errors import TnasError
from tnas.evaluate.ranking import kendall_tau


def test_known_values_without_scipy():
    assert kendall_tau([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0 and kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # 5 concordant, 1 discordant pair of 6: (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # tau-b with ties in both: S = 1 - 2 = -1, pairs untied in x: 5, in y: 4 -> -1 / sqrt(20)
    assert kendall_tau([1, 1, 2, 3], [1, 2, 2, 1]) == pytest.approx(-1 / math.sqrt(20))
    for est, gt in (([1, 2], [1, 2]), ([1, 1, 1], [1, 2, 3]), ([1, 2, float("nan")], [1, 2, 3])):
        assert math.isnan(kendall_tau(est, gt))
    with pytest.raises(TnasError, match="3 estimates and 4 ground-truth"):
        kendall_tau([1, 2, 3], [1, 2, 3, 4])


@pytest.mark.parametrize("n,ties", [(3, False), (50, True), (257, False), (600, True)])
def test_matches_scipy(n, ties):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(n)
    est, gt = rng.normal(size=n), rng.normal(size=n) + 0.5 * np.arange(n) / n
    if ties:  # rounded scores tie, as supernet accuracies on a small eval set do
        est, gt = np.round(est, 1), np.round(gt, 0)
    assert kendall_tau(est, gt) == pytest.approx(stats.kendalltau(est, gt).statistic, abs=1e-12)


def test_matches_scipy_on_the_nb201_table():
    """The real use: one estimate vs the ground truth over many cells (here 200- vs 12-epoch accuracies)."""
    stats = pytest.importorskip("scipy.stats")
    table = load_nb201()
    a, b = table.column("c10_valid").numpy()[:3000], table.column("e12_c10_valid").numpy()[:3000]
    assert kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12)
