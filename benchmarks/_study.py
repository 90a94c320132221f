"""Statistics and the report of the one-shot study (benchmarks/oneshot_study.py).

Everything here reads the per-run records (one JSON per finished run) and nothing else, so
`oneshot_study.py --report` regenerates the summary at any time, also from a partial study.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

T4_COUNTS = (10, 50, 100, 300)
KINDS = ("conv", "parameter-free", "disconnected")


# ---- statistics -------------------------------------------------------------------------------
def paired(a: dict[int, float], b: dict[int, float]) -> dict[str, Any]:
    """Paired comparison of a - b over the seeds both have (finite values only): n, mean
    difference, its sd, 95 % t confidence interval, paired t-test p and Wilcoxon signed-rank p
    (two-sided; nan where undefined: n < 2, or all differences zero for Wilcoxon)."""
    from scipy import stats

    seeds = sorted(s for s in a.keys() & b.keys() if math.isfinite(a[s]) and math.isfinite(b[s]))
    d = [a[s] - b[s] for s in seeds]
    n, nan = len(d), math.nan
    out: dict[str, Any] = {"n": n, "seeds": seeds, "diffs": d, "mean": statistics.mean(d) if d else nan,
                           "sd": nan, "ci95": [nan, nan], "p_t": nan, "p_wilcoxon": nan}
    if n < 2:
        return out
    sd = statistics.stdev(d)
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    out.update(sd=sd, ci95=[out["mean"] - half, out["mean"] + half])
    if sd > 0:
        out["p_t"] = float(stats.ttest_rel(a=[a[s] for s in seeds], b=[b[s] for s in seeds]).pvalue)
    if any(x != 0 for x in d):
        out["p_wilcoxon"] = float(stats.wilcoxon(d).pvalue)
    return out


def mean_sd(xs: list[float]) -> tuple[float, float, int]:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return math.nan, math.nan, 0
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0), len(xs)


def fmt_ms(xs: list[float], digits: int = 2) -> str:
    m, s, n = mean_sd(xs)
    return "n/a" if n == 0 else f"{m:.{digits}f} ± {s:.{digits}f}"


def _p(x: float) -> str:
    return "n/a" if not math.isfinite(x) else (f"{x:.3f}" if x >= 0.001 else f"{x:.1e}")


# ---- per-run metrics ------------------------------------------------------------------------
def gt_test(r: dict) -> float:
    return float((r.get("ground_truth") or {}).get("test", math.nan))


def tau(r: dict, key: str = "tau") -> float:
    v = (r.get("kendall") or {}).get(key)
    return math.nan if v is None else float(v)


METRICS = {"GT test of found cell (pp)": gt_test, "Kendall tau (all)": lambda r: tau(r, "tau"),
           "Kendall tau (top 10 %)": lambda r: tau(r, "tau_top10")}


def run_name(run: Path) -> str:
    """'<label>__s<seed>' of a study run directory (scratch folders are `<label>__s<seed>__<hash>/<run>/`),
    else the run directory's own name."""
    return run.parent.name.rsplit("__", 1)[0] if "__s" in run.parent.name else run.name


def load_records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def other_derivations(records: list[dict]) -> list[dict]:
    """Virtual records `<label>@<derivation>` for the derivations a TNAS-G run recorded but did not
    return (e.g. 'best-of' when gradient.derive=mode): same run, same supernet, same tau and cost;
    only the final cell (genotype, GT test, kind, supernet accuracy) differs. They pair exactly
    with the run's own label, seed by seed."""
    out = []
    for r in records:
        for name, d in (r.get("derivations") or {}).items():
            if name == r.get("derive"):
                continue
            gt = {**(r.get("ground_truth") or {}), "test": d["ground_truth_test"]}
            out.append({**r, "label": f"{r['label']}@{name}", "derived_from": r["label"], "genotype": d["genotype"],
                        "ground_truth": gt, "cell_kind": d["cell_kind"],
                        "supernet_valid_acc": d["supernet_valid_acc"]})
    return out


def by_label(records: list[dict]) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for r in records:
        out.setdefault(r["label"], {})[int(r["seed"])] = r
    return out


# ---- tables --------------------------------------------------------------------------------
def method_table(groups: dict[str, dict[int, dict]], labels: list[str]) -> list[str]:
    lines = ["| run label | n | GT test of found cell (%) | Kendall tau (all) | Kendall tau (top 10 %) | "
             "conv / param-free / disconnected | supernet valid (%) | wall / CPU per run (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for lab in labels:
        rs = list(groups.get(lab, {}).values())
        if not rs:
            continue
        kinds = "/".join(str(sum(r.get("cell_kind") == k for r in rs)) for k in KINDS)
        lines.append(f"| {lab} | {len(rs)} | {fmt_ms([gt_test(r) for r in rs])} | {fmt_ms([tau(r) for r in rs], 3)} | "
                     f"{fmt_ms([tau(r, 'tau_top10') for r in rs], 3)} | {kinds} | "
                     f"{fmt_ms([r.get('supernet_valid_acc') or math.nan for r in rs])} | "
                     f"{mean_sd([r['job_wall'] for r in rs])[0]:.0f} / "
                     f"{mean_sd([r.get('job_cpu', math.nan) for r in rs])[0]:.0f} |")
    return lines


def label_summary(rs: list[dict]) -> dict[str, Any]:
    """Mean, sd and n of the headline metrics of one run label, its cell kinds and costs."""
    out: dict[str, Any] = {}
    for key, f in {"gt_test": gt_test, "tau": tau, "tau_top10": lambda r: tau(r, "tau_top10"),
                   "job_wall": lambda r: r["job_wall"], "job_cpu": lambda r: r.get("job_cpu", math.nan)}.items():
        m, s, n = mean_sd([f(r) for r in rs])
        out[key] = {"mean": m, "sd": s, "n": n}
    out["kinds"] = {k: sum(r.get("cell_kind") == k for r in rs) for k in KINDS}
    out["seeds"] = sorted(int(r["seed"]) for r in rs)
    return out


def paired_rows(groups: dict[str, dict[int, dict]], pairs: list[tuple[str, str]]) -> tuple[list[str], list[dict]]:
    """Markdown rows and JSON entries of every metric's paired comparison for each (a, b) pair."""
    lines = ["| comparison (a − b) | metric | n | mean diff | 95 % CI | paired t p | Wilcoxon p | a better / worse |",
             "|---|---|---|---|---|---|---|---|"]
    out = []
    for a, b in pairs:
        if a not in groups or b not in groups:
            continue
        same_runs = all(r.get("derived_from") == b for r in groups[a].values())  # `other_derivations`
        for name, f in METRICS.items():
            if same_runs and not name.startswith("GT"):
                continue  # another derivation of the same runs: same supernet, tau identical by construction
            st = paired({s: f(r) for s, r in groups[a].items()}, {s: f(r) for s, r in groups[b].items()})
            if st["n"] == 0:
                continue
            d = 2 if name.startswith("GT") else 3
            lo, hi = st["ci95"]
            ci = f"[{lo:+.{d}f}, {hi:+.{d}f}]" if math.isfinite(lo) else "n/a"
            lines.append(f"| {a} − {b} | {name} | {st['n']} | {st['mean']:+.{d}f} | {ci} | "
                         f"{_p(st['p_t'])} | {_p(st['p_wilcoxon'])} | {sum(x > 0 for x in st['diffs'])} / "
                         f"{sum(x < 0 for x in st['diffs'])} |")
            out.append({"a": a, "b": b, "metric": name, **st})
    return lines, out


def table4_rows(groups: dict[str, dict[int, dict]], labels: list[str]) -> tuple[list[str], dict]:
    """Max and mean GT test of the first 10/50/100/300 sampler draws (mean ± sd over seeds), and
    the same over the GA's evaluation order (its budget caps the counts)."""
    head = " | ".join(f"max@{n}" for n in T4_COUNTS) + " | " + " | ".join(f"mean@{n}" for n in T4_COUNTS)
    lines = [f"| run label | source | n | {head} | param-free share of draws |", "|---|---|---|" + "---|" * 9]
    data = {}
    for lab in labels:
        rs = [r for r in groups.get(lab, {}).values() if r.get("table4")]
        if not rs:
            continue
        for src, get in (("sampler", lambda r: r["table4"]["gt_test"]), ("GA order", lambda r: r.get("ga_gt_test", []))):
            cells, row = [], {}
            for agg in (max, statistics.mean):
                for n in T4_COUNTS:
                    xs = [agg(get(r)[:n]) for r in rs if len(get(r)) >= n]
                    row[f"{agg.__name__}@{n}"] = xs
                    cells.append(fmt_ms(xs) if xs else "–")
            free = ""
            if src == "sampler":
                shares = [100 * r["table4"]["kinds"].get("parameter-free", 0) / len(r["table4"]["gt_test"]) for r in rs]
                free = fmt_ms(shares, 1) + " %"
            name = rs[0]["table4"]["source"] if src == "sampler" else src
            lines.append(f"| {lab} | {name} | {len(rs)} | " + " | ".join(cells) + f" | {free} |")
            data[f"{lab} / {src}"] = row
    return lines, data


def per_run_rows(records: list[dict]) -> list[str]:
    lines = ["| run label | seed | found cell | kind | GT test | tau | tau top10 | wall (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (r["label"], r["seed"])):
        lines.append(f"| {r['label']} | {r['seed']} | `{r['genotype']}` | {r.get('cell_kind')} | {gt_test(r):.2f} | "
                     f"{tau(r):.3f} | {tau(r, 'tau_top10'):.3f} | {r['job_wall']:.0f} |")
    return lines
