"""`tnas query`: the dataset's own network costs, and --json (issue 25, item 5)."""
from __future__ import annotations

import json

import pytest

from tnas.bench import load_nb201
from tnas.cli import main
from tnas.supernet.registry import NetSize, get_family

RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_query_json_has_the_datasets_own_costs(capsys) -> None:
    assert main(["query", "11472", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)  # one JSON object, nothing else
    table = load_nb201()
    arch = table.arch_of(11472)
    assert facts["index"] == 11472 and facts["arch"] == RESNET
    assert facts["accuracy"]["cifar100"]["test"] == pytest.approx(table.query(arch, "cifar100", "test"))
    c10, c100, in16 = (facts["cost"][d] for d in ("cifar10", "cifar100", "ImageNet16-120"))
    assert c10["source"] == "table" and c10["params_M"] == pytest.approx(float(table.cost(arch, "params")))
    assert c10["flops_M"] == pytest.approx(float(table.cost(arch, "flops")))
    # the CIFAR-10 network with a 100-way / 120-way classifier on 64 channels, and 16x16 inputs for ImageNet16
    assert c100["params_M"] * 1e6 - c10["params_M"] * 1e6 == pytest.approx(90 * 64 + 90)
    assert in16["params_M"] * 1e6 - c10["params_M"] * 1e6 == pytest.approx(110 * 64 + 110)
    assert in16["flops_M"] < c10["flops_M"] / 3  # a quarter of the pixels
    counted = get_family("nb201").cost(table.space, arch, NetSize(C=16, N=5, num_classes=10, in_channels=3,
                                                                  image_size=32))
    assert counted[0] / 1e6 == pytest.approx(c10["params_M"])  # the counter reproduces the table's CIFAR-10 numbers
    assert c100["latency_ms"] is None and c10["latency_ms"] > 0


def test_query_one_dataset_shows_its_costs_not_cifar10s(capsys) -> None:
    assert main(["query", RESNET, "--dataset", "in16"]) == 0
    out = capsys.readouterr().out
    assert "ImageNet16-120" in out and "19.65" in out and "78.56" not in out  # not CIFAR-10's FLOPs
    assert main(["query", RESNET, "--dataset", "c100", "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)["cost"]) == ["cifar100"]
