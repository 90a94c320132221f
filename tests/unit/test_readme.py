"""The README's Python API example runs as written (on the bundled table, nothing beside the repository)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(heading: str) -> str:
    text = README.read_text()
    return re.search(r"```python\n(.*?)```", text[text.index(heading):], re.S).group(1)


def test_readme_python_api_block_runs():
    code = _block("## Python API")
    scope: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), scope)  # noqa: S102 - our own README
    assert round(scope["table"].query(scope["arch"], "cifar100", "test"), 2) == 70.89
    assert scope["api"].find_best("cifar100", "x-test", hp="200")[0] == 9930
    assert len(scope["history"]) == 100


@pytest.mark.slow
def test_readme_sampler_in_your_own_loop_runs_and_learns():
    scope: dict = {}
    exec(compile(_block("## The sampler in your own training loop"), "README.md (own loop)", "exec"), scope)  # noqa: S102
    sampler = scope["sampler"]
    assert sampler.trained and sampler.num_observed > 100  # the VAE was retrained inside the user's loop
    assert 0 < sampler.sampling_eps <= 0.8


def test_named_configs_equal_the_presets():
    from tnas.sampler import TNASConfig

    preset = Path(__file__).resolve().parents[2] / "src" / "tnas" / "configs" / "nb201-cifar10.yaml"
    values = yaml.safe_load(preset.read_text())["sampler"]
    cfg = TNASConfig.supernet_training()
    assert {k: getattr(cfg, k) for k in values} == values
    assert TNASConfig.query_search() == TNASConfig()


@pytest.mark.slow
def test_readme_tracker_and_load_network_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the example writes runs/ into the working folder
    scope: dict = {}
    exec(compile(_block("## Take the network away"), "README.md (export, tracking)", "exec"), scope)  # noqa: S102
    assert scope["logits"].shape == (2, 10)
    out = capsys.readouterr().out
    assert "'search/fitness'" in out and "run finished" in out
    assert Path(scope["run_dir"]).resolve().parent == (tmp_path / "runs").resolve()
