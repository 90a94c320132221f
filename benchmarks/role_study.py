"""Issue 23, items 2-3: sampler roles x scores, paired by seed, one uniform supernet per seed shared.

Protocol (the one-shot study's CPU proxy: `nb201-cifar10-cpu-proxy`, 40 epochs, GA budget 100):

- per seed, a `strategy=tnas-os sampler.role=seed` run. Role `seed` trains the supernet exactly as
  SPOS does (weight for weight: tests/integration/test_roles_search.py), so this one training serves
  every SPOS arm (SPOS+EA with each score, run in this process with the product's search-stage code
  and generator state, initial population uniform) and every TNAS-seed arm (`tnas search --resume
  RUN search.score=S`: the run's own search stage, GA seeded by the VAE's `propose`).
- per seed and training role (steer, reject, steer-unbiased), a run of that role; its arms are
  its search stage resumed with each score.
- the learned sampler always learns from `sampler.feedback_score=synflow` (FEEDBACK: the best
  single ranker of the score study, and free of the supernet, so it cannot reward what the supernet
  overrates); the search scores are the score study's three best (SCORES) and, for SPOS, accuracy.

Seeds: tune on 100-104 (the training roles on 100-102 for time), report on 0-9, final check on
300-309 with the chosen configuration only. `--report` picks the winner on the tuning seeds alone
(highest mean found-cell GT test over the tuning seeds every candidate has) and checks the
issue's targets for it on the reporting / final seeds.

Records: `<out>/runs/<role>/s<seed>.json`, written when a (seed, role) job is done (training
and all its arms); a stopped job resumes its training run from the scratch folder.

    python benchmarks/role_study.py --phase tune --workers 2
    python benchmarks/role_study.py --phase report --roles seed --workers 2
    python benchmarks/role_study.py --report
    python benchmarks/role_study.py --smoke --out /tmp/role-smoke --seeds 1 --roles seed,reject
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import time
from pathlib import Path

from _common import machine_line, run_pool, train_or_resume
from score_study import PRESET, STUDY_SETS, SMOKE_SETS as SCORE_SMOKE_SETS
from _study import fmt_ms, mean_sd, paired, _p

ROOT = Path(__file__).resolve().parents[1]
# the score study's protocol (its preset, 40 epochs, stratified tau set), so the two studies' arms compare
SMOKE_SETS = [*SCORE_SMOKE_SETS, "train.steps_per_epoch=6", "sampler.min_observations=2", "sampler.top_k=3"]
FEEDBACK = "synflow"
SCORES = ("synflow", "rank:naswot+synflow", "rank:accuracy+naswot+synflow")
SPOS_SCORES = ("accuracy",) + SCORES
ROLES = ("seed", "steer", "reject", "steer-unbiased")
PHASES = {"tune": (100, 101, 102, 103, 104), "report": tuple(range(10)), "final": tuple(range(300, 310))}
TRAINING_ROLE_TUNE_SEEDS = (100, 101, 102)
T4_DRAWS, T4_SEED = 300, 10_000  # table 4: 300 draws of the trained p(a|z), generator T4_SEED + seed


def _train(seed: int, role: str, sets: list[str], scratch: Path, score: str) -> tuple[dict, Path]:
    """The seed's run of `role` (resumed from the scratch folder when an earlier attempt stopped)."""
    return train_or_resume(scratch / f"{role}__s{seed}", PRESET,
                           [*sets, "strategy=tnas-os", f"sampler.role={role}", f"sampler.feedback_score={FEEDBACK}",
                            f"search.score={score}", f"seed={seed}"])


def _gt(space, table, genotype: str) -> float:
    return float(table.lookup(space.from_genotype(genotype)[None], "cifar10", "test")[0])


def _spos_arms(run: Path, scores: tuple[str, ...]) -> dict[str, dict]:
    """SPOS+EA on the run's (uniformly trained) supernet with each score: the search stage's own
    batches and generator state, a uniform initial population (what `strategy=spos` does)."""
    import torch

    from tnas.bench import load_nb201
    from tnas.evaluate import eval_batches
    from tnas.evaluate.score import MemoScore, Scorer, parse_score
    from tnas.export import load_trained_supernet
    from tnas.run.checkpoint import load_checkpoint
    from tnas.run.scoring import score_inputs
    from tnas.seeds import stream
    from tnas.strategy.evolution import spos_ga

    ts = load_trained_supernet(run)
    cfg, space, s = ts.cfg, ts.space, ts.cfg.search
    init = load_checkpoint(run / "ckpt" / "last.pt")["init_params"]
    g = stream(cfg.seed, "search")
    calib, valid = eval_batches(ts.data.train, ts.data.valid, s.eval_batch_size, s.bn_batches, s.eval_batches, g)
    ga_state = g.get_state()
    table = load_nb201()
    inputs = score_inputs(cfg, space, ts.data.train, torch.device("cpu"), supernet=ts.supernet, init_params=init,
                          calib=calib, valid=valid)
    cache: dict = {}
    out = {}
    for score in scores:
        c0 = time.process_time()
        g.set_state(ga_state)
        h = spos_ga(space, MemoScore(space, Scorer(parse_score(score), inputs, cache=cache)), s.budget, g,
                    population=s.population, parents=s.parents, mutations=s.mutations, crossovers=s.crossovers,
                    mutate_prob=s.mutate_prob)
        genotype = space.to_genotype(h.archs[h.best_index()])
        out[score] = {"genotype": genotype, "gt_test": _gt(space, table, genotype),
                      "cpu_s": time.process_time() - c0}
    return out


def _tnas_arms(run: Path, first: dict, scores: tuple[str, ...]) -> dict[str, dict]:
    """The run's own search stage (GA seeded by the VAE) with each score, by `--resume RUN search.score=S`."""
    from tnas.bench import load_nb201
    from tnas.run.search import run_search
    from tnas.space import get_space

    space, table = get_space("nb201"), load_nb201()
    out = {}
    for score in scores:
        c0 = time.process_time()
        result = first if (first.get("score") or {}).get("name") == score else None
        if result is None:
            result, _ = run_search(resume=run, overrides={"search.score": score}, progress_bar=False)
        out[score] = {"genotype": result["genotype"], "gt_test": _gt(space, table, result["genotype"]),
                      "cpu_s": time.process_time() - c0}
    return out


def _table4(run: Path, seed: int) -> dict:
    """GT test of T4_DRAWS draws of the trained p(a|z) and of as many uniform draws (same generator seed)."""
    import torch

    from tnas.bench import load_nb201
    from tnas.run.checkpoint import load_checkpoint
    from tnas.run.config import config_from_dict
    from tnas.sampler.tnas import TNASSampler
    from tnas.space import get_space

    space, table = get_space("nb201"), load_nb201()
    ck = load_checkpoint(run / "ckpt" / "last.pt")
    cfg = config_from_dict(ck["config"])
    sampler = TNASSampler(space, cfg.sampler, seed=cfg.seed + 1)
    sampler.load_state_dict(ck["sampler"])
    vae = (sampler.sample_vae(T4_DRAWS, torch.Generator().manual_seed(T4_SEED + seed)) if sampler.trained
           else space.sample_uniform(T4_DRAWS, torch.Generator().manual_seed(T4_SEED + seed)))
    uni = space.sample_uniform(T4_DRAWS, torch.Generator().manual_seed(T4_SEED + seed))
    return {"trained": bool(sampler.trained),
            "vae": [round(float(x), 3) for x in table.lookup(vae, "cifar10", "test")],
            "uniform": [round(float(x), 3) for x in table.lookup(uni, "cifar10", "test")]}


def _job(job: tuple[int, str, list[str], str, str]) -> dict:
    seed, role, sets, scratch, record = job
    import torch

    # every module this worker uses, imported now: the repository may change while a long study runs
    import tnas.bench  # noqa: F401
    import tnas.evaluate.score  # noqa: F401
    import tnas.export  # noqa: F401
    import tnas.run.search  # noqa: F401
    import tnas.sampler.tnas  # noqa: F401
    import tnas.strategy.evolution  # noqa: F401

    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    result, run = _train(seed, role, sets, Path(scratch), SCORES[0])
    train_cpu = time.process_time() - c0
    arms = {f"tnas-{role}:{k}": v for k, v in _tnas_arms(Path(run), result, SCORES).items()}
    if role == "seed":  # the same supernet SPOS trains: its arms cost a search stage each
        arms.update({f"spos:{k}": v for k, v in _spos_arms(Path(run), SPOS_SCORES).items()})
    rec = {"seed": seed, "role": role, "run": str(run), "sets": sets, "feedback_score": FEEDBACK,
           "train_cpu_s": train_cpu, "job_wall_s": time.perf_counter() - t0, "arms": arms,
           "table4": _table4(Path(run), seed)}
    tmp = Path(record).with_suffix(".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(rec, indent=1))
    os.replace(tmp, record)
    print(f"seed {seed} role {role} done: " + ", ".join(f"{k} {v['gt_test']:.2f}" for k, v in arms.items()), flush=True)
    return rec


# ---- report -------------------------------------------------------------------------------------
def _records(out: Path) -> dict[str, dict[int, float]]:
    """arm -> {seed: found-cell GT test} over every record."""
    col: dict[str, dict[int, float]] = {}
    for p in sorted((out / "runs").glob("*/s*.json")):
        r = json.loads(p.read_text())
        for arm, v in r["arms"].items():
            col.setdefault(arm, {})[r["seed"]] = v["gt_test"]
    return col


def choose(col: dict[str, dict[int, float]]) -> tuple[str | None, list[int]]:
    """The winner among the TNAS arms on the tuning seeds alone: the highest mean found-cell GT test
    over the tuning seeds that every TNAS arm has (pairs the roles trained on fewer seeds fairly)."""
    tune = set(PHASES["tune"])
    arms = [a for a in col if a.startswith("tnas-") and col[a].keys() & tune]
    common = sorted(set.intersection(*(col[a].keys() & tune for a in arms))) if arms else []
    if not common:
        return None, []
    return max(arms, key=lambda a: sum(col[a][s] for s in common) / len(common)), common


def _vs(col, a: str, b: str, seeds: tuple[int, ...]) -> str:
    sa = {s: v for s, v in col.get(a, {}).items() if s in seeds}
    sb = {s: v for s, v in col.get(b, {}).items() if s in seeds}
    d = paired(sa, sb)
    if d["n"] < 2:
        return "n/a"
    w, lo = sum(x > 0 for x in d["diffs"]), sum(x < 0 for x in d["diffs"])
    return f"{d['mean']:+.2f} ({d['ci95'][0]:+.2f} … {d['ci95'][1]:+.2f}), p {_p(d['p_t'])}, {w}/{lo}, n {d['n']}"


def _phase_table(col, phase: str) -> list[str]:
    seeds = PHASES[phase]
    arms = [a for a in col if col[a].keys() & set(seeds)]
    if not arms:
        return [f"No records on the {phase} seeds yet."]
    lines = [f"| arm | n | found cell GT test | vs spos:accuracy (pp, 95 % CI, p, W/L) | vs SPOS with the same score |",
             "|---|---|---|---|---|"]
    for a in sorted(arms, key=lambda a: (not a.startswith("spos"), a)):
        xs = [v for s, v in col[a].items() if s in seeds]
        same = "spos:" + a.split(":", 1)[1]
        lines.append(f"| {a} | {len(xs)} | {fmt_ms(xs)} | {'—' if a == 'spos:accuracy' else _vs(col, a, 'spos:accuracy', seeds)} | "
                     f"{_vs(col, a, same, seeds) if a.startswith('tnas-') else '—'} |")
    return lines


def _table4_rows(out: Path, arm: str, seeds: set[int]) -> list[str]:
    role = arm.split(":")[0][len("tnas-"):]
    recs = [json.loads(p.read_text()) for p in (out / "runs" / role).glob("s*.json")]
    recs = [r for r in recs if r["seed"] in seeds and r["table4"]["trained"]]
    if not recs:
        return []
    lines = ["| draws of | n seeds | " + " | ".join(f"max@{n}" for n in (10, 50, 100, 300)) + " | "
             + " | ".join(f"mean@{n}" for n in (10, 50, 100, 300)) + " |", "|---|---|" + "---|" * 8]
    for src in ("vae", "uniform"):
        label = f"p(a\\|z), role {role}" if src == "vae" else "uniform"  # \| : a | inside a table cell
        cells = [fmt_ms([agg(r["table4"][src][:n]) for r in recs]) for agg in (max, lambda x: sum(x) / len(x))
                 for n in (10, 50, 100, 300)]
        lines.append(f"| {label} | {len(recs)} | " + " | ".join(cells) + " |")
    return lines


def report(out: Path) -> None:
    col = _records(out)
    if not col:
        print("no records yet")
        return
    winner, common = choose(col)
    lines = ["# Sampler roles x scores (issue 23): paired by seed, CPU proxy", "",
             "Command: `python benchmarks/role_study.py --phase tune|report|final --workers 2` then `--report`.  ",
             f"{machine_line()}; {datetime.date.today().isoformat()}.  ",
             f"Per seed one `{PRESET}` {' '.join(STUDY_SETS)} run of `strategy=tnas-os sampler.role=ROLE "
             f"sampler.feedback_score={FEEDBACK}`; role seed trains the SPOS supernet weight for weight, so the "
             "`spos:SCORE` arms are SPOS+EA on that same supernet (uniform initial population) and the "
             "`tnas-seed:SCORE` arms its own search stage (GA seeded from p(a|z)) resumed with search.score=SCORE. "
             "Ground truth: NB201 v1.1 CIFAR-10 test (200 epochs) of the found cell. Paired differences a − b with a "
             "95 % t interval, paired t-test p, wins/losses.", ""]
    for phase in ("tune", "report", "final"):
        lines += [f"## {phase} seeds ({PHASES[phase][0]}–{PHASES[phase][-1]})", "", *_phase_table(col, phase), ""]
    lines += ["## The choice (tuning seeds only)", ""]
    if winner is None:
        lines += ["No TNAS arm has tuning records yet."]
    else:
        lines += [f"Winner on the tuning seeds {common[0]}–{common[-1]} (the seeds every TNAS arm has, n = {len(common)}): "
                  f"**{winner}** (mean {sum(col[winner][s] for s in common) / len(common):.2f} %)."]
        same = "spos:" + winner.split(":", 1)[1]
        for phase in ("report", "final"):
            seeds = PHASES[phase]
            w = {s: v for s, v in col.get(winner, {}).items() if s in seeds}
            if len(w) < 2:
                lines += [f"- {phase} seeds: not run yet."]
                continue
            a = paired(w, {s: v for s, v in col["spos:accuracy"].items() if s in seeds})
            b = paired(w, {s: v for s, v in col.get(same, {}).items() if s in seeds})
            mean = mean_sd(list(w.values()))[0]
            t1 = a["mean"] >= 1.0 and a["p_t"] < 0.05 and mean >= 93.0
            t2 = b["n"] >= 2 and b["mean"] >= 0.3 and b["p_t"] < 0.05
            lines += [f"- {phase} seeds: mean {mean:.2f} %; vs spos:accuracy {_vs(col, winner, 'spos:accuracy', seeds)} "
                      f"→ target (≥ +1.0 pp, p < 0.05, mean ≥ 93.0) **{'met' if t1 else 'not met'}**; vs {same} "
                      f"{_vs(col, winner, same, seeds)} → target (≥ +0.3 pp, p < 0.05) **{'met' if t2 else 'not met'}**."]
        t4 = _table4_rows(out, winner, set(PHASES["report"]) | set(PHASES["final"])) or _table4_rows(out, winner, set(PHASES["tune"]))
        if t4:
            lines += ["", f"Table 4 for the winner's role (GT test of draws of the trained p(a|z) vs uniform draws):", "", *t4]
    cpu = [json.loads(p.read_text())["train_cpu_s"] for p in (out / "runs").glob("*/s*.json")]
    cpu = [c for c in cpu if c > 60]
    if cpu:
        lines += ["", f"Training: {mean_sd(cpu)[0]:.0f} CPU s per run (mean of {len(cpu)} runs trained in the study's processes)."]
    (out / "role_study.md").write_text("\n".join(lines) + "\n")
    (out / "role_study.json").write_text(json.dumps({"winner": winner, "tuning_seeds": common,
                                                     "arms": {a: col[a] for a in sorted(col)}}, indent=1))
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phase", choices=sorted(PHASES), default="tune")
    p.add_argument("--roles", default=",".join(ROLES))
    p.add_argument("--seeds", type=int, default=None, help="only the first N seeds of the phase")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "docs" / "results" / "role_study"))
    p.add_argument("--scratch", default=str(Path.home() / "tnas-scratch" / "role_study"))
    p.add_argument("--report", action="store_true")
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    out = Path(args.out)
    if args.report:
        report(out)
        return
    roles = args.roles.split(",")
    bad = [r for r in roles if r not in ROLES]
    if bad:
        p.error(f"unknown role {bad[0]!r}; expected some of {', '.join(ROLES)}")
    seeds = PHASES[args.phase][: args.seeds]
    sets = SMOKE_SETS if args.smoke else STUDY_SETS
    jobs = []
    for seed in seeds:  # seed by seed, so a stop leaves whole seeds
        for role in roles:
            if args.phase == "tune" and role != "seed" and seed not in TRAINING_ROLE_TUNE_SEEDS:
                continue
            record = out / "runs" / role / f"s{seed}.json"
            if not record.exists():
                jobs.append((seed, role, sets, str(Path(args.scratch) / args.phase), str(record)))
    run_pool(_job, jobs, args.workers)
    report(out)


if __name__ == "__main__":
    main()
