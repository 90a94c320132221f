"""One run of the one-shot study (benchmarks/oneshot_study.py) in a worker process.

A job is (label, method, seed, overrides, scratch folder, record path). It runs `run_search`
(resuming the run directory in the scratch folder if an earlier attempt was stopped), then adds
what the study's tables need and writes one small JSON record atomically; a record that exists
is the study's "done" mark. Records carry no supernet weights: the found cell, its ground truth
and kind, the tau set's per-cell supernet accuracies, the GA's evaluated cells' ground truth in
order, (one-shot methods) the ground truth of `T4_DRAWS` draws from the trained sampler
p(a|z) (TNAS-OS) or from the uniform distribution (SPOS) for the paper's table 4, and (TNAS-G)
every derivation of the final cell.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

T4_DRAWS = 300  # table 4's largest sample count (10 / 50 / 100 / 300)
T4_SEED = 10_000  # draws use torch.Generator().manual_seed(T4_SEED + seed): fixed per seed


def _gt_of(genotypes: list[str], space: Any, table: Any, dataset: str) -> list[float]:
    import torch

    if not genotypes:
        return []
    archs = torch.stack([space.from_genotype(g) for g in genotypes])
    return [round(float(x), 3) for x in table.lookup(archs, dataset, "test")]


def _ga_order(run: Path) -> list[str]:
    """Genotypes the search stage evaluated, in order (archs.jsonl rows of phase 'search')."""
    path = run / "archs.jsonl"
    if not path.exists():
        return []
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return [r["genotype"] for r in rows if r.get("phase") == "search"]


def _draws(run: Path, method: str, seed: int, space: Any) -> tuple[str, Any]:
    """T4_DRAWS cells from the trained sampler p(a|z) (tnas-os, from ckpt/last.pt) or uniform."""
    import torch

    from tnas.run.checkpoint import load_checkpoint
    from tnas.run.config import config_from_dict
    from tnas.sampler.tnas import TNASSampler

    g = torch.Generator().manual_seed(T4_SEED + seed)
    if method != "tnas-os":
        return "uniform", space.sample_uniform(T4_DRAWS, g)
    ck = load_checkpoint(run / "ckpt" / "last.pt")
    cfg = config_from_dict(ck["config"])
    sampler = TNASSampler(space, cfg.sampler, seed=cfg.seed + 1)
    sampler.load_state_dict(ck["sampler"])
    if not sampler.trained:
        return "uniform (VAE never trained)", space.sample_uniform(T4_DRAWS, g)
    return "vae", sampler.sample_vae(T4_DRAWS, g)


def _extras(result: dict, run: Path, method: str, seed: int) -> dict[str, Any]:
    """Cell kind, GA-order ground truth and the table-4 draws for one finished run."""
    from tnas.bench import load_nb201
    from tnas.evaluate.ranking import cell_kind
    from tnas.space import get_space

    space, table = get_space("nb201"), load_nb201()
    dataset = (result.get("ground_truth") or {}).get("dataset", "cifar10")
    out: dict[str, Any] = {"cell_kind": cell_kind(result["genotype"]),
                           "ga_gt_test": _gt_of(_ga_order(run), space, table, dataset)}
    if method in ("spos", "tnas-os"):
        source, archs = _draws(run, method, seed, space)
        kinds = [cell_kind(space.to_genotype(a)) for a in archs]
        out["table4"] = {"source": source, "gt_test": [round(float(x), 3) for x in table.lookup(archs, dataset, "test")],
                         "unique": int(space.keys(archs).unique().numel()),
                         "kinds": {k: kinds.count(k) for k in sorted(set(kinds))}}
    return out


def derivation_fields(result: dict) -> dict[str, Any]:
    """`derive` and `derivations` for a TNAS-G record: every derivation of the final cell in
    result.json ('mode' and 'best-of', both from the same trained decoder and supernet), each with
    its genotype, supernet accuracy, GT test and kind; {} for runs with a single derivation
    (DARTS, GDAS, one-shot)."""
    from tnas.evaluate.ranking import cell_kind

    ders = result.get("derivations") or {}
    if len(ders) < 2:
        return {}
    return {"derive": result.get("derive"),
            "derivations": {name: {"genotype": d["genotype"], "supernet_valid_acc": d.get("supernet_valid_acc"),
                                   "ground_truth_test": d.get("ground_truth_test"),
                                   "cell_kind": cell_kind(d["genotype"])} for name, d in ders.items()}}


def add_derivations(record: Path) -> bool:
    """Add `derive` and `derivations` to an older record from its run directory's result.json
    (records written before they carried them); True when the record changed."""
    rec = json.loads(record.read_text())
    result_path = Path(rec["run"]) / "result.json"
    if "derivations" in rec or not result_path.exists():
        return False
    fields = derivation_fields(json.loads(result_path.read_text()))
    if not fields:
        return False
    _write_atomic(record, {**rec, **fields})
    return True


def _run_dir(scratch: Path) -> Path | None:
    """The run directory of an earlier, stopped attempt (one with a checkpoint), if any."""
    found = sorted(p.parent.parent for p in scratch.glob("*/ckpt/last.pt")) if scratch.exists() else []
    return found[-1] if found else None


def _write_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def run_job(job: tuple[str, str, int, list[str], str, str]) -> dict[str, Any]:
    """`_run_job`, with a failure returned as {'label', 'seed', 'error'} so the study goes on."""
    try:
        return _run_job(job)
    except Exception as e:  # noqa: BLE001 - one failed run must not stop the other runs
        import traceback

        traceback.print_exc()
        return {"label": job[0], "seed": job[2], "error": f"{type(e).__name__}: {e}"}


def _run_job(job: tuple[str, str, int, list[str], str, str]) -> dict[str, Any]:
    """Run (or resume) one search and write its record; returns the record."""
    label, method, seed, sets, scratch, record = job
    import torch

    torch.set_num_threads(1)
    from tnas.run.config import resolve_config
    from tnas.run.overrides import parse_override_args
    from tnas.run.search import run_search

    t0, c0 = time.perf_counter(), time.process_time()
    scratch_dir = Path(scratch)
    earlier = _run_dir(scratch_dir)
    if earlier is not None:
        result, path = run_search(resume=earlier, progress_bar=False)
    else:
        preset, *rest = sets
        overrides = parse_override_args([*rest, f"strategy={method}", f"seed={seed}", f"out={scratch_dir}"])
        result, path = run_search(resolve_config(preset, overrides), progress_bar=False)
    rec = {"label": label, "method": method, "seed": seed, "sets": sets, "run": str(path),
           "job_wall": time.perf_counter() - t0, "resumed": earlier is not None,
           **{k: result.get(k) for k in ("genotype", "ground_truth", "supernet_valid_acc", "supernet_test_acc",
                                         "wall_seconds", "epochs", "evaluated", "kendall")}}
    if rec.get("kendall"):  # the set's keys are fixed by (table, seed, sizes): keep the estimates only
        rec["kendall"] = {k: v for k, v in rec["kendall"].items() if k != "keys"}
    rec.update(_extras(result, Path(path), method, seed))
    rec.update(derivation_fields(result))  # TNAS-G: the derivation it did not return is free to compare
    rec["job_wall"] = time.perf_counter() - t0
    rec["job_cpu"] = time.process_time() - c0  # CPU seconds: the cost measure that survives a loaded machine
    _write_atomic(Path(record), rec)
    return rec
