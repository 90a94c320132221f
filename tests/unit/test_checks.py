"""Declarative config checks (tnas.checks): every numeric and enum field declares what it allows,
and `validate` rejects NaN, infinity and out-of-range values naming the key (issue 10)."""
from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from tnas.checks import Rule, checked, rules, validate
from tnas.errors import TnasError
from tnas.run.config import RunConfig, resolve_config
from tnas.run.overrides import flat_keys
from tnas.train.config import TrainRunConfig, resolve_train_config

FREE_TEXT = {"space", "device", "out", "genotype", "data.name", "data.root", "eval.bench_path",  # checked by name
             "track.mlflow", "track.mlflow_experiment", "track.wandb",  # non-blank (TrackConfig.cross_checks)
             "search.score", "sampler.feedback_score", "search.method",  # parsed against SCORES / SEARCHES
             "sampler.name", "sampler.role"}  # checked against SAMPLERS / ROLES (run.config.check_sampler)


def _leaf_rules(cfg: object, prefix: str = "") -> dict[str, Rule | None]:
    out: dict[str, Rule | None] = {}
    declared = rules(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_leaf_rules(value, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = declared.get(f.name)
    return out


@pytest.mark.parametrize("cfg", [RunConfig(), TrainRunConfig()], ids=["search", "train"])
def test_every_number_and_free_enum_declares_a_rule(cfg: object) -> None:
    types, declared = flat_keys(cfg), _leaf_rules(cfg)
    for key, typ in types.items():
        base = {a for a in typing.get_args(typ) if a is not type(None)} or {typ}
        if base & {int, float} or (base == {str} and key not in FREE_TEXT):
            assert declared[key] is not None, f"{key} has no checked(...) rule"


@pytest.mark.parametrize("cfg, resolve", [(RunConfig(), resolve_config), (TrainRunConfig(), resolve_train_config)],
                         ids=["search", "train"])
def test_nan_inf_and_huge_values_are_rejected_for_every_number(cfg: object, resolve: typing.Any) -> None:
    types = flat_keys(cfg)
    for key, typ in types.items():
        base = {a for a in typing.get_args(typ) if a is not type(None)} or {typ}
        bad = ["nan", "inf", "-inf"] if float in base else ["1e30", "-99999999999999999999"] if int in base else []
        for value in bad:
            if int in base:
                value = str(int(float(value)))
            with pytest.raises(TnasError, match=rf"'{key}'"):
                resolve(None, {key: value})


def test_defaults_and_presets_pass() -> None:
    validate(RunConfig())
    validate(TrainRunConfig())


def test_rule_descriptions() -> None:
    assert Rule(ge=0, lt=1).describe(False) == "a finite number in [0, 1)"
    assert Rule(gt=0).describe(False) == "a finite number > 0"
    assert Rule(ge=1, le=100).describe(True) == "an integer in [1, 100]"
    assert Rule(choices=("a", "b")).describe(False) == "one of a, b"
    assert not Rule(ge=0).allows(math.nan) and not Rule().allows(math.inf) and not Rule(ge=0).allows(True)


def test_cross_checks_and_optional_fields() -> None:
    @dataclasses.dataclass(frozen=True)
    class Inner:
        low: int = checked(1, ge=0)
        high: int | None = checked(None, ge=0)

        def cross_checks(self):  # noqa: ANN202
            from tnas.checks import Cross

            return (Cross(self.high is None or self.low <= self.high, "low", self.low, "<= high"),)

    @dataclasses.dataclass(frozen=True)
    class Outer:
        inner: Inner = dataclasses.field(default_factory=Inner)

    validate(Outer())
    with pytest.raises(TnasError, match=r"Bad value 5 for 'inner.low': expected <= high"):
        validate(Outer(Inner(low=5, high=2)))
    with pytest.raises(TnasError, match=r"'inner.high': expected an integer >= 0"):
        validate(Outer(Inner(high=-1)))
