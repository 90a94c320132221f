"""The one-shot study script (benchmarks/oneshot_study.py): its statistics, and a smoke run of
every part (one tiny seed on the 1,500-image CIFAR-10 subset) that must leave well-formed
records and a report, and must skip finished runs when run again."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

from _study import paired, table4_rows  # noqa: E402


def test_paired_statistics() -> None:
    a = {0: 92.0, 1: 93.0, 2: 91.5, 3: 92.5, 4: 90.0}
    b = {0: 91.0, 1: 92.5, 2: 91.0, 3: 91.0, 4: 89.0, 9: 50.0}  # seed 9 has no partner: ignored
    st = paired(a, b)
    assert st["n"] == 5 and st["seeds"] == [0, 1, 2, 3, 4]
    assert st["mean"] == pytest.approx(0.9)
    from scipy import stats

    d = [1.0, 0.5, 0.5, 1.5, 1.0]
    half = stats.t.ppf(0.975, 4) * stats.tstd(d) / math.sqrt(5)
    assert st["ci95"] == pytest.approx([0.9 - half, 0.9 + half])
    assert st["p_t"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    assert st["p_wilcoxon"] == pytest.approx(stats.wilcoxon(d).pvalue)
    one = paired({0: 1.0}, {0: 0.0})
    assert one["n"] == 1 and math.isnan(one["p_t"]) and math.isnan(one["ci95"][0])


def test_table4_max_mean_over_prefixes() -> None:
    rec = {"label": "tnas-os", "seed": 0, "table4": {"source": "vae", "gt_test": list(range(300)),
                                                     "kinds": {"parameter-free": 30}}, "ga_gt_test": [5.0] * 100}
    lines, data = table4_rows({"tnas-os": {0: rec}}, ["tnas-os"])
    assert data["tnas-os / sampler"]["max@10"] == [9] and data["tnas-os / sampler"]["mean@300"] == [149.5]
    assert data["tnas-os / GA order"]["max@100"] == [5.0] and data["tnas-os / GA order"]["max@300"] == []
    assert "10.0 ± 0.0 %" in lines[2]


def test_plan_shares_runs_between_parts() -> None:
    import oneshot_study as study

    seeds = {p: list(range(study.DEFAULT_SEEDS[p])) for p in study.PARTS}
    runs = study.plan(["main", "table4", "table3"], seeds, [0.0, 0.04, 0.1], [], 0.04)
    count = {}
    for label, *_ in runs:
        count[label] = count.get(label, 0) + 1
    # main's SPOS / TNAS-OS seeds 0-4 are also table 4's and table 3's; eps_inc 0.04 is the main run
    assert count == {"spos": 10, "tnas-os": 10, "tnas-os[sampler.eps_inc=0]": 5, "tnas-os[sampler.eps_inc=0.1]": 5,
                     "darts": 5, "gdas": 5, "tnas-g": 5}
    assert all(extra == ["eval.tau_cells=0"] for label, _, _, extra in runs if label == "darts")
    ab = study.plan(["ablation"], seeds, [], ["late=sampler.min_observations=1950", "g=strategy=tnas-g,sampler.top_k=10"], 0.04)
    assert {(label, method) for label, method, *_ in ab} == {
        ("spos", "spos"), ("tnas-os", "tnas-os"), ("tnas-os:late", "tnas-os"), ("gdas", "gdas"), ("tnas-g", "tnas-g"),
        ("tnas-g:g", "tnas-g")}


@pytest.mark.slow
def test_smoke_study_writes_records_and_report(tmp_path: Path, cifar10_subset: Path) -> None:
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    cmd = [sys.executable, str(BENCH / "oneshot_study.py"), "--smoke", "--out", str(out), "--scratch", str(scratch),
           "--workers", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    labels = {r["label"] for r in records}
    assert {"spos", "tnas-os", "darts", "gdas", "tnas-g", "tnas-os:loss"} <= labels
    assert any(lab.startswith("tnas-os[sampler.eps_inc=") for lab in labels)
    for r in records:
        assert r["cell_kind"] in ("conv", "parameter-free", "disconnected")
        assert 0 < r["ground_truth"]["test"] <= 100 and r["job_wall"] > 0
        if r["method"] in ("spos", "tnas-os"):
            k = r["kendall"]
            assert k["cells"] == 30 and k["top_cells"] == 5 and len(k["supernet_acc"]) == 30
            assert len(r["table4"]["gt_test"]) == 300 and r["ga_gt_test"]
    assert next(r for r in records if r["label"] == "tnas-os")["table4"]["source"] == "vae"
    assert next(r for r in records if r["label"] == "spos")["table4"]["source"] == "uniform"
    md = (out / "oneshot_study.md").read_text()
    for heading in ("## Per method", "## Paired differences", "## Table 4", "## Per run"):
        assert heading in md
    summary = json.loads((out / "oneshot_study.json").read_text())
    main = [p for p in summary["paired"] if (p["a"], p["b"]) == ("tnas-os", "spos")]
    assert {p["metric"] for p in main} == {"GT test of found cell (pp)", "Kendall tau (all)", "Kendall tau (top 10 %)"}
    assert all(p["n"] == 1 for p in main)
    # TNAS-G records every derivation; the one it did not return is reported as `tnas-g@best-of`,
    # paired with GDAS and with its own run (same supernet: only the found cell is compared)
    tg = next(r for r in records if r["label"] == "tnas-g")
    assert tg["derive"] == "mode" and set(tg["derivations"]) == {"mode", "best-of"}
    assert tg["derivations"]["mode"]["genotype"] == tg["genotype"]
    alt = {(p["b"], p["metric"]): p for p in summary["paired"] if p["a"] == "tnas-g@best-of"}
    assert {b for b, _ in alt} == {"gdas", "tnas-g"} and ("tnas-g", "Kendall tau (all)") not in alt
    assert len([k for k in alt if k[0] == "gdas"]) == 3
    assert alt[("tnas-g", "GT test of found cell (pp)")]["mean"] == pytest.approx(
        tg["derivations"]["best-of"]["ground_truth_test"] - tg["ground_truth"]["test"])
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)  # resumable: nothing to do
    assert again.returncode == 0 and "0 runs to do" in again.stdout
    rebuilt = subprocess.run([*cmd, "--report"], capture_output=True, text=True, env=env, timeout=120)
    assert rebuilt.returncode == 0 and "## Per method" in rebuilt.stdout
    # the training diagnostic reads the same run directories
    runs = sorted(p.parent for p in scratch.glob("*/*/archs.jsonl") if "spos__" in str(p) or "tnas-os__" in str(p))
    grad = sorted(p.parent for p in scratch.glob("*/*/metrics.jsonl") if "gdas__" in str(p) or "tnas-g__" in str(p))
    diag = subprocess.run([sys.executable, str(BENCH / "oneshot_diagnose.py"), *map(str, runs + grad)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert diag.returncode == 0, diag.stderr[-2000:]
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in diag.stdout.splitlines()[2:]}
    assert len(rows) == len(runs) + len(grad) and set(rows) >= {"spos__s0", "tnas-os__s0", "gdas__s0", "tnas-g__s0"}
    assert all(len(c) == 11 for c in rows.values())
    assert all(0.0 <= float(rows[k][9]) <= math.log(5) + 1e-9 for k in ("spos__s0", "tnas-os__s0", "tnas-g__s0"))
    # the learned distribution's own entropy: gradient strategies only (GDAS has no archs.jsonl)
    assert rows["spos__s0"][10] == "–" and rows["gdas__s0"][:10] == ["–"] * 10
    assert all(0.0 <= float(rows[k][10]) <= math.log(5) + 1e-6 for k in ("gdas__s0", "tnas-g__s0"))
    # re-scoring the GA's top cells on unseen validation batches reads the same run directories
    resel = subprocess.run([sys.executable, str(BENCH / "oneshot_reselect.py"), *map(str, runs), "--top", "3",
                            "--batches", "2", "--out", str(tmp_path / "reselect.json")],
                           capture_output=True, text=True, env=env, timeout=300)
    assert resel.returncode == 0, resel.stderr[-2000:]
    rows = json.loads((tmp_path / "reselect.json").read_text())
    assert {r["label"] for r in rows} >= {"spos", "tnas-os"} and all(r["unseen_images"] > 0 for r in rows)
    for r in rows:  # picked and re-selected cells are among the top 3: none above their best GT
        assert max(r["picked"], r["reselected"], r["mean"]) <= r["oracle"] + 1e-9
    assert "reselected − picked" in resel.stdout
