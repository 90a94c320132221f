"""Test-wide settings and the data every test can rely on.

The tests pass on a fresh clone with nothing beside it: the NB201 table ships inside the package
and `tests/data/cifar10/` holds 1,500 real CIFAR-10 images. The few tests that compare against
the project's full shared data (`../shared/data`) carry the `shared` marker and skip, saying why,
where it is absent or hidden with TNAS_NO_SHARED=1.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tnas.errors import TnasError
from tnas.paths import find_data

# The models under test are small: one intra-op thread is as fast here and avoids
# oversubscribing the 2-core CI machine when pytest and the subprocess tests overlap.
torch.set_num_threads(1)

CIFAR10_SUBSET = Path(__file__).resolve().parent / "data" / "cifar10"


@pytest.fixture(scope="session")
def cifar10_subset() -> Path:
    """Folder of the 1,500-image real CIFAR-10 subset (shared npz layout, 100/50 per class)."""
    return CIFAR10_SUBSET


def shared_path(sub: str) -> Path:
    """`<shared data>/<sub>`, or skip the calling test in one line when the shared data is not there."""
    try:
        return find_data(sub)
    except TnasError:
        pytest.skip(f"needs the full shared data ({sub}/), absent here or hidden by TNAS_NO_SHARED=1")


@pytest.fixture(scope="session")
def nb201_csv(tmp_path_factory) -> Path:
    """The NB201 table as CSV: the shared file (official strings) when present, else the bundle exported.

    Both have the same bytes (tests/unit/test_bundle.py checks it where the shared file exists).
    """
    try:
        return find_data("nb201") / "nb201_all.csv"
    except TnasError:
        from tnas.bench.bundle import write_csv

        return write_csv(tmp_path_factory.mktemp("nb201"))
