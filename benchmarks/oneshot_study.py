"""Issue 12: does TNAS find better cells than SPOS and GDAS? The paired one-shot study (CPU proxy).

Parts (select with --part, comma-separated; `all` = main,table4,table3):
  main      SPOS and TNAS-OS, paired by seed (same data order, supernet initialisation, epochs,
            steps and GA budget): GT test of the found cell, Kendall tau on the stratified set
            (250 cells, 50 of them in the GT top 10 %), paired differences with 95 % CI, paired
            t and Wilcoxon p.
  table4    the paper's table 4 from real supernets: TNAS-OS at several eps_inc (--eps-inc)
            and SPOS; max / mean GT test of 10/50/100/300 draws of the trained p(a|z)
            (uniform for SPOS) and of the GA's evaluation order.
  table3    spos, tnas-os, darts (V1), gdas, tnas-g on the same budget, paired; how often the
            derived cell is parameter-free or disconnected.
  ablation  each --variant NAME=k=v,k=v (TNAS-OS, or TNAS-G when it sets strategy=tnas-g) paired
            with its baseline (SPOS, or GDAS) and with the unchanged method on the same seeds.
Runs sharing (method, overrides, seed) are run once and shared by the parts (SPOS seed 3 of
`main` is SPOS seed 3 of `table3`). Each finished run writes `<out>/runs/<label>__s<seed>.json`
and is skipped on rerun; a stopped run resumes from its checkpoint in the scratch folder. The
summary (`<out>/oneshot_study.md` + `.json`) is rebuilt from the records by `--report`.

    python benchmarks/oneshot_study.py --part all                       # the full study (~5 h on 2 cores; see the doc)
    python benchmarks/oneshot_study.py --part main --seeds 10 --seed-offset 100   # untuned seeds
    python benchmarks/oneshot_study.py --part ablation --seed-offset 100 \\
        --variant loss=train.metric=loss --variant late=sampler.eps0=0,sampler.min_observations=400
    python benchmarks/oneshot_study.py --report                         # summary from the records
    python benchmarks/oneshot_study.py --smoke --out /tmp/smoke         # every part, tiny, seconds
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import multiprocessing as mp
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

from _common import machine_line
from _study import (by_label, label_summary, load_records, method_table, other_derivations, paired_rows, per_run_rows,
                    table4_rows)
from _study_job import run_job

ROOT = Path(__file__).resolve().parents[1]
PRESET = "nb201-cifar10-cpu-proxy"
# The study's proxy (docs/results/oneshot_study.md, "Cost"): the preset at half its epochs, the eps
# schedule scaled so eps still reaches eps_max at half of training, tau on the stratified set.
STUDY_SETS = ["train.epochs=40", "sampler.eps_inc=0.04", "eval.tau_set=stratified", "eval.tau_cells=250",
              "eval.tau_top_cells=50"]
SMOKE_SETS = [f"data.root={ROOT / 'tests' / 'data' / 'cifar10'}", "train.epochs=2", "train.steps_per_epoch=3",
              "train.batch_size=32", "train.score_every=1", "sampler.min_observations=2", "sampler.top_k=4",
              "sampler.eps_inc=0.3", "search.budget=12", "search.population=4", "search.parents=2",
              "search.mutations=2", "search.crossovers=2", "search.bn_batches=1", "search.eval_batches=1",
              "search.eval_batch_size=50", "eval.tau_set=stratified", "eval.tau_cells=30", "eval.tau_top_cells=5",
              "gradient.best_of=2", "gradient.marginal_samples=8", "gradient.tnas_g.refit_every=2"]
SMOKE_VARIANTS = ["loss=train.metric=loss"]
PARTS = ("main", "table4", "table3", "ablation")
DEFAULT_SEEDS = {"main": 10, "table4": 5, "table3": 5, "ablation": 5}
TABLE3 = ("spos", "tnas-os", "darts", "gdas", "tnas-g")
COST = {"darts": 6.0, "gdas": 1.3, "tnas-g": 1.3}  # relative to one SPOS run (ordering only)
METHOD_SETS = {"darts": ["eval.tau_cells=0"]}  # a mixed-op supernet has no single-path ranking


def label_of(method: str, extra: list[str], name: str | None = None) -> str:
    if name:
        return f"{method}:{name}"
    return method + (f"[{','.join(extra)}]" if extra else "")


def _file_name(label: str, seed: int) -> str:
    return re.sub(r"[^A-Za-z0-9_.=:+-]", "_", label).replace(":", "-") + f"__s{seed}"


def _base_eps(sets: list[str]) -> float:
    from tnas.run.config import resolve_config
    from tnas.run.overrides import parse_override_args

    return resolve_config(PRESET, parse_override_args(sets)).sampler.eps_inc


def _variant(spec: str) -> tuple[str, str, list[str]]:
    """'NAME=k=v,k=v' -> (name, method, overrides)."""
    name, _, body = spec.partition("=")
    sets = [s for s in body.split(",") if s]
    if not name or not sets or not all("=" in s for s in sets):
        sys.exit(f"--variant '{spec}': expected NAME=key=value[,key=value...], e.g. loss=train.metric=loss")
    method = next((s.split("=", 1)[1] for s in sets if s.startswith("strategy=")), "tnas-os")
    return name, method, [s for s in sets if not s.startswith("strategy=")]


def plan(parts: list[str], seeds: dict[str, list[int]], eps: list[float], variants: list[str],
         base_eps: float, table3: tuple[str, ...] = TABLE3) -> list[tuple[str, str, int, list[str]]]:
    """(label, method, seed, extra overrides) for every run the parts need, each once."""
    runs: dict[tuple[str, int], tuple[str, str, int, list[str]]] = {}

    def add(method: str, extra: list[str], part: str, name: str | None = None) -> None:
        for s in seeds[part]:
            lab = label_of(method, extra, name)
            runs.setdefault((lab, s), (lab, method, s, [*METHOD_SETS.get(method, []), *extra]))

    for part in parts:
        if part == "main":
            add("spos", [], part), add("tnas-os", [], part)
        elif part == "table4":
            add("spos", [], part)
            for x in eps:
                add("tnas-os", [] if abs(x - base_eps) < 1e-12 else [f"sampler.eps_inc={x:g}"], part)
        elif part == "table3":
            for m in table3:
                add(m, [], part)
        elif part == "ablation":
            for spec in variants:
                name, method, extra = _variant(spec)
                add("gdas" if method == "tnas-g" else "spos", [], part)
                add(method, [], part)  # the unchanged method: what the variant must improve on
                add(method, extra, part, name)
    return list(runs.values())


def _method(label: str) -> str:
    """'tnas-g:slow@best-of' -> 'tnas-g' (labels: method[k=v], method:variant, ...@derivation)."""
    return re.split(r"[\[:@]", label, maxsplit=1)[0]


def _pairs(labels: set[str]) -> list[tuple[str, str]]:
    pairs = [("tnas-os", "spos"), ("tnas-g", "gdas")]
    pairs += [(m, "spos") for m in ("darts", "gdas", "tnas-g")]
    for lab in sorted(labels):
        run_label, _, derivation = lab.partition("@")
        method = _method(lab)
        if derivation:  # another derivation of the same runs: vs GDAS, the runs' own cell, and the
            # unchanged method's cell by both derivations (for a variant)
            pairs += [(lab, "gdas"), (lab, run_label), (lab, method), (lab, f"{method}@{derivation}")]
        elif method in ("tnas-os", "tnas-g") and lab != method:  # a table-4 point or an ablation variant
            pairs += [(lab, "spos" if method == "tnas-os" else "gdas"), (lab, method)]
    return list(dict.fromkeys((a, b) for a, b in pairs if a in labels and b in labels and a != b))


def _table3_lines(groups: dict[str, dict[int, dict]]) -> list[str]:
    """Table 3 on the seeds every table-3 method has (the per-method table pools all seeds of a label)."""
    present = [m for m in TABLE3 if m in groups]
    common = sorted(set.intersection(*(set(groups[m]) for m in present))) if len(present) > 1 else []
    if not common:
        return []
    sub = {m: {s: groups[m][s] for s in common} for m in present}
    return [f"## Table 3 on the seeds all its methods share ({', '.join(map(str, common))})", "",
            *method_table(sub, present), ""]


def report(out: Path, command: str) -> str:
    """Rebuild oneshot_study.md / .json from the records under out/runs."""
    records = load_records(out / "runs")
    out.mkdir(parents=True, exist_ok=True)
    virtual = other_derivations(records)  # TNAS-G's other derivation of each run's cell
    groups = by_label(records + virtual)
    labels = sorted(groups, key=lambda lab: (TABLE3.index(_method(lab)) if _method(lab) in TABLE3 else 9, lab))
    prows, pjson = paired_rows(groups, _pairs(set(labels)))
    t4rows, t4json = table4_rows(groups, [lab for lab in labels if lab == "spos" or lab.startswith("tnas-os")])
    sets = [s for s in records[0]["sets"] if all(s in r["sets"] for r in records)] if records else []
    lines = ["# One-shot study (issue 12): SPOS vs TNAS-OS, table 4, table 3", "",
             f"Last command: `{command}`  ", f"{machine_line()}  ",
             f"Report built: {datetime.datetime.now():%Y-%m-%d %H:%M}  ",
             f"Runs: {len(records)}, compute {sum(r['job_wall'] for r in records) / 3600:.2f} core-hours "
             "(sum of run wall times)  ",
             f"Common settings (preset, then overrides): `{' '.join(sets)}`; run labels add their own "
             "(`method[k=v]`: table 4's eps_inc; `method:name`: an ablation variant; `label@name`: another "
             "derivation of the final cell from the same TNAS-G runs; DARTS: `eval.tau_cells=0`)", "",
             "## Per method", "", *method_table(groups, labels), "",
             *_table3_lines(groups),
             *[f"- `{lab}`: `{' '.join(x for x in next(iter(groups[lab].values()))['sets'] if x not in sets) or '-'}`"
               for lab in labels if "@" not in lab], "",
             "## Paired differences (same seeds)", "", *prows, "",
             "## Table 4: GT test (%) of cells drawn from the trained sampler (uniform for SPOS) and in GA order", "",
             *t4rows, "", "## Per run", "", *per_run_rows(records + virtual), ""]
    md = "\n".join(lines)
    (out / "oneshot_study.md").write_text(md)
    summary = {"command": command, "settings": sets, "runs": len(records), "paired": pjson, "table4": t4json,
               "labels": {lab: label_summary(list(g.values())) for lab, g in groups.items()}}
    (out / "oneshot_study.json").write_text(json.dumps(summary, indent=1))
    return md


def _jobs(planned: list[tuple[str, str, int, list[str]]], base: list[str], out: Path, scratch: Path) -> list[tuple]:
    jobs = []
    for lab, method, seed, extra in planned:
        sets = [PRESET, *base, *extra]
        rec = out / "runs" / (_file_name(lab, seed) + ".json")
        if rec.exists():
            old = json.loads(rec.read_text())["sets"]
            if old != sets:
                sys.exit(f"{rec} was run with {old}, not {sets}; use another --out for other settings.")
            continue
        tag = hashlib.sha1(" ".join(sets).encode()).hexdigest()[:8]  # other settings never resume this run
        jobs.append((lab, method, seed, sets, str(scratch / f"{_file_name(lab, seed)}__{tag}"), str(rec)))
    # longest first (a short pool tail), then by seed: a study stopped midway has whole pairs
    return sorted(jobs, key=lambda j: (-COST.get(j[1], 1.0), j[2]))


def _collect(results, failed: list[dict], t0: float) -> None:
    """Print each finished run as it arrives; failed runs go to `failed`."""
    for r in results:
        if "error" in r:
            failed.append(r)
            print(f"{r['label']:30s} seed {r['seed']:3d}: FAILED {r['error']}", flush=True)
            continue
        gt = (r.get("ground_truth") or {}).get("test", float("nan"))
        tau = (r.get("kendall") or {}).get("tau", float("nan"))
        print(f"{r['label']:30s} seed {r['seed']:3d}: GT test {gt:6.2f}  {r['cell_kind']:14s} tau {tau:6.3f}  "
              f"{r['job_wall']:.0f}s  [{time.perf_counter() - t0:.0f}s]", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default=None, help=f"comma-separated: {', '.join(PARTS)}, all (default main; "
                    "with --smoke every part)")
    ap.add_argument("--seeds", type=int, help=f"seeds per part (default {DEFAULT_SEEDS})")
    ap.add_argument("--seed-offset", type=int, default=0, help="first seed (tune on one offset, report on another)")
    ap.add_argument("--eps-inc", default=None, help="table4: comma-separated eps_inc values (default 0,base,2.5*base)")
    ap.add_argument("--table3", default=",".join(TABLE3), help="table3: methods (drop darts to save ~40 %% of its cost)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=K=V,K=V", help="ablation variant")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None, help="records + summary (default docs/results/oneshot_study)")
    ap.add_argument("--scratch", default=None, help="run directories (default: a folder under the temp dir)")
    ap.add_argument("--report", action="store_true", help="only rebuild the summary from the records")
    ap.add_argument("--smoke", action="store_true", help="every part, 1 seed, tiny settings on the test subset")
    args = ap.parse_args()
    # Ctrl-C (and SIGTERM) stop the study cleanly even where the shell started it with SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    command = "python benchmarks/oneshot_study.py " + " ".join(sys.argv[1:])
    out = Path(args.out or (Path(tempfile.gettempdir()) / "tnas-oneshot-smoke" if args.smoke
                            else ROOT / "docs" / "results" / "oneshot_study")).resolve()
    if args.report:
        print(report(out, command))
        return
    part = args.part or (",".join(PARTS) if args.smoke else "main")
    parts = list(PARTS[:3]) if part == "all" else [p for p in part.split(",") if p]
    base = [*(SMOKE_SETS if args.smoke else STUDY_SETS), *args.set]
    variants = args.variant or (SMOKE_VARIANTS if args.smoke else [])
    bad = [p for p in parts if p not in PARTS]
    if bad or ("ablation" in parts and not variants):
        sys.exit(f"--part {part}: expected {', '.join(PARTS)} or all; ablation needs --variant")
    n = {p: args.seeds or (1 if args.smoke else DEFAULT_SEEDS[p]) for p in PARTS}
    seeds = {p: list(range(args.seed_offset, args.seed_offset + n[p])) for p in PARTS}
    be = _base_eps(base)
    eps = [float(x) for x in args.eps_inc.split(",")] if args.eps_inc else [0.0, be, round(min(1.0, 2.5 * be), 6)]
    digest = hashlib.sha1(str(out).encode()).hexdigest()[:8]
    scratch = Path(args.scratch or Path(tempfile.gettempdir()) / "tnas-oneshot-study" / digest)
    table3 = tuple(m for m in args.table3.split(",") if m)
    if not set(table3) <= set(TABLE3):
        sys.exit(f"--table3 {args.table3}: expected a subset of {','.join(TABLE3)}")
    jobs = _jobs(plan(parts, seeds, eps, variants, be, table3), base, out, scratch)
    print(f"{len(jobs)} runs to do ({args.workers} workers); records in {out / 'runs'}, run dirs in {scratch}", flush=True)
    t0, failed = time.perf_counter(), []
    if jobs:
        # a fresh process per run (no memory carried over); the smoke run reuses them (imports dominate)
        with mp.get_context("spawn").Pool(args.workers, maxtasksperchild=None if args.smoke else 1) as pool:
            try:
                _collect(pool.imap_unordered(run_job, jobs), failed, t0)
            except KeyboardInterrupt:  # the workers checkpoint on Ctrl-C; the next call resumes them
                report(out, command)
                sys.exit("stopped: finished runs are kept, stopped ones resume from their checkpoint on the same command")
    print(report(out, command))
    if failed:
        sys.exit(f"{len(failed)} run(s) failed (rerun the same command to retry them): "
                 + ", ".join(f"{r['label']} s{r['seed']}" for r in failed))


if __name__ == "__main__":
    main()
