"""A plain (non-editable) install into a new virtual environment answers `tnas query` from anywhere.

This is what a user gets from `pip install tnas`: the package data (presets, the bundled NB201
table, the digits) must be inside the installed package, and nothing may be read from the source
checkout or from ../shared. It must pass run from a virtual environment as well as from the
machine's own Python (CI runs it both ways, .ci/run).
"""
from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tnas.bench import load_nb201
from tnas.data import load_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_non_editable_install_answers_query_from_another_directory(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    _see_our_packages(py)
    # build the wheel as `pip install .` would (this interpreter has the build backend), install it there
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels),
          str(REPO)], tmp_path)
    # --ignore-installed: a tnas visible through the system site packages must not satisfy the install
    _run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--ignore-installed",
          *map(str, wheels.glob("tnas-*.whl"))], tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("TNAS_DATA", "PYTHONPATH")}
    env["TNAS_NO_SHARED"] = "1"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(py), "-c", "import tnas, tnas.bench.bundle as b, tnas.data as d; print(tnas.__file__); "
                            "print(b.BUNDLE_FILE); s = d.load_dataset('digits'); print(d.__file__, len(s.train))"],
                           capture_output=True, text=True, env=env, cwd=elsewhere, check=True, timeout=120).stdout.split()
    assert where[-1] == str(len(load_dataset("digits").train))  # the digits ship inside the package
    where = where[:-1]
    assert all(str(env_dir) in w and str(REPO) not in w for w in where), where  # the installed copy, not the checkout
    out = subprocess.run([str(env_dir / "bin" / "tnas"), "query", "123"], capture_output=True, text=True, env=env,
                         cwd=elsewhere, timeout=120)
    assert out.returncode == 0, out.stderr
    table = load_nb201()
    assert table.space.to_genotype(table.arch_of(123)) in out.stdout
    assert f"{table.query(123, 'cifar100', 'test'):.2f}" in out.stdout and "bundled" not in out.stderr
    assert f"{table.query(123, 'ImageNet16-120', 'valid'):.2f}" in out.stdout


def _see_our_packages(py: Path) -> None:
    """Let the new venv import this interpreter's packages (torch & co., no download), after its own.

    Not `system_site_packages=True`: inside a virtual environment that means the *base* interpreter's
    packages, where torch is usually missing. A .pth file of plain paths adds this interpreter's site
    folders, whether it is a venv or the machine's Python, without running their .pth files (so an
    editable tnas there stays invisible)."""
    ours = [p for p in dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"],
                                      sysconfig.get_paths()["platlib"]]) if Path(p).is_dir()]
    theirs = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    (Path(theirs) / "zz_outer_site.pth").write_text("".join(f"{p}\n" for p in ours))


def _run(cmd: list[str], cwd: Path) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd)
    assert res.returncode == 0, res.stderr[-2000:]
