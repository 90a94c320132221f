"""The final-distribution table of a gradient run's report.md has as many cells per row as its header."""
from __future__ import annotations

import pytest
import torch

from tnas.run.gradient_report import distribution_table
from tnas.space import get_space


@pytest.mark.parametrize("name", ["nb201", "darts"])
def test_final_distribution_rows_match_the_header(name: str) -> None:
    space = get_space(name)
    probs = space.choice_mask().float()
    probs = probs / probs.sum(-1, keepdim=True)
    result = {"decisions": [d.name for d in space.decisions], "choices": [list(d.choices) for d in space.decisions],
              "final_entropy": [1.0] * space.num_decisions, "final_probs": probs.tolist()}
    header, rule, *rows = distribution_table(result)
    cells = header.count("|")
    assert rule.count("|") == cells and len(rows) == space.num_decisions
    for row, d in zip(rows, space.decisions):
        assert row.count("|") == cells, row
        for choice in d.choices:  # every choice of the decision is shown, with its probability
            assert choice in header or choice in row
    assert torch.allclose(probs.sum(-1), torch.ones(space.num_decisions))
