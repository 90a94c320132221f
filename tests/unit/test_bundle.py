"""The NB201 table bundled inside tnas: complete, fast, equal to the shared CSV, found in the documented order."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from conftest import shared_path
from tnas import TnasError
from tnas.bench import NUM_ARCHS, NB201Table, load_nb201, locate_table
from tnas.bench.bundle import BUNDLE_FILE, Bundle, write_bundle, write_csv
from tnas.cli import main

ACCURACY = ("c10_valid", "c10_test", "c100_valid", "c100_test", "in16_valid", "in16_test")


def test_bundle_is_complete_compact_and_fast():
    assert BUNDLE_FILE.stat().st_size < 3_000_000
    best = min(NB201Table.from_bundle().load_seconds for _ in range(3))
    assert best < 0.1, f"loading the bundled table took {best * 1000:.0f} ms"
    table = NB201Table.from_bundle()
    assert len(table) == NUM_ARCHS and table.complete
    # every column of the shared table (42 minus arch_str, index and 6 op columns) + 2 supernet estimates
    assert len(table.columns()) == 36 and set(ACCURACY) <= set(table.columns())
    for name in table.columns():
        col = table.column(name)
        assert col.shape == (NUM_ARCHS,) and col.dtype == torch.float64
        assert not bool(col.isnan().any()), name
    assert sorted(table._index_by_key.tolist()) == list(range(NUM_ARCHS))


@pytest.mark.shared
def test_bundle_equals_the_shared_csv_value_for_value():
    csv = NB201Table.from_csv(shared_path("nb201") / "nb201_all.csv")
    bundled = NB201Table.from_bundle()
    assert csv.columns() == bundled.columns()
    for name in csv.columns():
        assert torch.equal(csv.column(name), bundled.column(name)), name  # bit-identical float64
    assert torch.equal(csv._index_by_key, bundled._index_by_key)


@pytest.mark.shared
def test_export_writes_the_shared_csv_byte_for_byte(tmp_path):
    out = write_csv(tmp_path)
    assert out.read_bytes() == (shared_path("nb201") / "nb201_all.csv").read_bytes()


def test_csv_round_trip_through_the_bundle(tmp_path):
    csv = write_csv(tmp_path / "csv")
    again = write_bundle(csv, tmp_path / "again.npz")
    a, b = NB201Table.from_bundle(again), NB201Table.from_bundle()
    for name in b.columns():
        assert torch.equal(a.column(name), b.column(name)), name
    assert main(["table", "export", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "nb201_all.csv").read_bytes() == csv.read_bytes()


def test_lookup_order_explicit_then_env_then_bundle(tmp_path, monkeypatch):
    monkeypatch.delenv("TNAS_DATA", raising=False)
    assert locate_table() == BUNDLE_FILE and load_nb201().path == BUNDLE_FILE
    monkeypatch.setenv("TNAS_DATA", str(tmp_path))  # no nb201/ there: the bundle is used
    assert locate_table() == BUNDLE_FILE
    csv = write_csv(tmp_path / "nb201")
    assert locate_table() == csv  # $TNAS_DATA/nb201/nb201_all.csv wins over the bundle
    other = write_csv(tmp_path / "explicit")
    assert locate_table(other.parent) == other  # an explicit path wins over both
    assert load_nb201(other).query(11472, "cifar10", "test") == load_nb201(BUNDLE_FILE).query(11472, "c10", "test")


def test_csv_without_estimates_beside_it_uses_the_bundled_ones(tmp_path):
    csv = write_csv(tmp_path)
    (tmp_path / "supernet_estimates_c10.csv").unlink()
    table = NB201Table.from_csv(csv)
    assert table.supernet_path == BUNDLE_FILE
    assert float(table.supernet_estimate(table.arch_of(1))) == pytest.approx(65.51)


@pytest.mark.parametrize("damage, match", [
    (lambda p: p.write_bytes(b""), "not a readable NB201 bundle"),
    (lambda p: p.write_bytes(p.read_bytes()[:100_000]), "not a readable NB201 bundle"),
    (lambda p: np.savez(p, x=np.zeros(3)), "not an NB201 bundle"),
])
def test_damaged_bundle_errors_name_the_file_and_the_fix(tmp_path, damage, match):
    p = tmp_path / "nb201.npz"
    shutil.copy(BUNDLE_FILE, p)
    damage(p)
    with pytest.raises(TnasError, match=f"(?s){match}.*reinstall"):
        NB201Table.from_bundle(p)


def test_bundle_holds_no_pickles():
    with np.load(BUNDLE_FILE, allow_pickle=False) as z:  # reading an object (pickled) array raises here
        assert all(z[k].dtype != object for k in z.files)
    assert Bundle().sources[0].startswith("nb201_all.csv sha256:")


def test_loading_the_bundle_in_a_fresh_process_is_fast():
    import subprocess
    import sys

    code = ("import time; from tnas.bench import load_nb201; t = time.perf_counter(); tb = load_nb201(); "
            "print(time.perf_counter() - t, len(tb))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    seconds, rows = out.stdout.split()
    assert int(rows) == NUM_ARCHS and float(seconds) < 0.2  # import of tnas itself excluded; typical ~20 ms


def test_tnas_table_info_says_bundled(capsys, monkeypatch):
    monkeypatch.delenv("TNAS_DATA", raising=False)
    assert main(["table", "info"]) == 0
    out = capsys.readouterr().out
    assert "bundled with tnas" in out and "15625 of 15625" in out
