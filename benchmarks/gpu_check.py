"""One GPU check (issue 13): the CUDA tests, supernet training throughput vs xautodl (fp32 and
bf16) and TNAS-OS vs SPOS at the paper's NB201 CIFAR-10 setting with seeds sharing the GPU, in
one command that fits a time budget (default 540 s = 9 min on one H200).

    python benchmarks/gpu_check.py --prepare              # here: CIFAR-10 + xautodl wheel -> .gpu_carry/
    python benchmarks/gpu_check.py --out DIR              # on the GPU machine
    python benchmarks/gpu_check.py --smoke --out DIR      # CPU, tiny sizes, < 1 min (tests/integration)

Sections, in order: (a) `pytest -m gpu tests/gpu`; (b) tnas `NB201Supernet` vs xautodl's
`TinyNetworkRANDOM`, same architectures and batches, interleaved (benchmarks/throughput.py), in
fp32 and bf16, with model TFLOP/s and the share of the GPU's bf16 peak; (c) a pilot of the
search runs (2 short epochs, every seed of both strategies at once on the GPU) sizes the main
runs to the remaining budget: `tnas search nb201-cifar10` (C=16, N=5, 32x32, cifar10-valid
split, GA search, tau over 200 cells) for TNAS-OS and SPOS, `--seeds` seeds each, all as
concurrent processes; reports GT test of the found cells, Kendall tau and seconds per epoch.

Runs from a checkout without installing tnas (it puts src/ first on the path of itself and of
every process it starts); needs torch and tnas's dependencies (it lists missing ones first).
Writes DIR/results.json and DIR/summary.md; docs/results/gpu_check.md says how to run it there.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's tnas, installed or not

import torch  # noqa: E402

CARRY = ROOT / ".gpu_carry"
CARRY_LIMIT = 64 * 2**20  # what travels to the device machine: the working tree and .gpu_carry/ together
WHEEL = "xautodl-1.0.0-py3-none-any.whl"
NPZ = ("cifar10_jpeg_q75_train.npz", "cifar10_jpeg_q75_test.npz")
DEPS = ("numpy", "scipy", "yaml", "tqdm", "matplotlib", "sklearn", "PIL", "tensorboard")
# dense bf16 tensor-core peak, TFLOP/s (datasheets give twice this "with sparsity")
BF16_PEAK = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "A10": 125.0}
STRATEGIES = ("tnas-os", "spos")


@dataclass(frozen=True)
class Plan:
    """What the check runs: full size on the GPU, or `smoke` sizes on the CPU."""

    device: str
    budget_s: float
    net: dict[str, int]  # throughput: C, N, batch, size, steps, repeats, warmup
    seeds: int
    threads: int
    max_epochs: int
    min_epochs: int  # TNAS-OS must score sampler.min_observations archs (100 at 97 per nb201-cifar10 epoch)
    study: dict[str, str]  # overrides of the nb201-cifar10 preset for the pilot and the main runs
    pilot: dict[str, str] = field(default_factory=dict)  # overrides of the pilot only


def full_plan(args: argparse.Namespace) -> Plan:
    seeds = args.seeds
    threads = max(1, (os.cpu_count() or 2) // (len(STRATEGIES) * seeds))
    pilot = {"train.epochs": "2", "train.steps_per_epoch": "48", "sampler.min_observations": "1",
             "search.budget": "20", "search.population": "10", "search.parents": "3", "search.mutations": "5",
             "search.crossovers": "5", "eval.tau_cells": "0"}
    return Plan("cuda", args.budget_s, dict(C=16, N=5, batch=64, size=32, steps=25, repeats=4, warmup=5), seeds,
                threads, args.max_epochs, 2, {"data.root": str(args.data)}, pilot)


def smoke_plan(args: argparse.Namespace) -> Plan:
    study = {"data.root": str(ROOT / "tests" / "data" / "cifar10"), "data.image_size": "16", "supernet.C": "4",
             "supernet.N": "1", "train.batch_size": "32", "train.steps_per_epoch": "6", "train.score_every": "1",
             "sampler.min_observations": "2", "sampler.train_steps": "3", "search.budget": "8",
             "search.population": "4", "search.parents": "2", "search.mutations": "2", "search.crossovers": "2",
             "search.bn_batches": "1", "search.eval_batches": "1", "search.eval_batch_size": "100",
             "eval.tau_cells": "12"}
    pilot = {"train.epochs": "2", "train.steps_per_epoch": "3", "eval.tau_cells": "0"}
    return Plan("cpu", args.budget_s, dict(C=4, N=1, batch=16, size=16, steps=2, repeats=2, warmup=1), 1, 1, 2, 1,
                study, pilot)


# ---- environment ------------------------------------------------------------------------------
def environment(device: str) -> dict[str, Any]:
    """Machine, versions, missing dependencies; puts a carried xautodl wheel on the path."""
    missing = [m for m in DEPS if importlib.util.find_spec(m) is None]
    if importlib.util.find_spec("xautodl") is None and (CARRY / WHEEL).exists():
        sys.path.insert(0, str(CARRY / WHEEL))  # a pure-Python wheel imports from the zip
    env = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
           "torch": torch.__version__, "cuda": torch.version.cuda, "cpus": os.cpu_count(), "device": device,
           "missing_deps": missing, "xautodl": importlib.util.find_spec("xautodl") is not None}
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), gpu_count=torch.cuda.device_count(),
                   bf16=torch.cuda.is_bf16_supported())
    return env


def child_env(threads: int) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT / "src"), *([p for p in sys.path if p.endswith(".whl")])])
    old = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": path + (os.pathsep + old if old else ""), "OMP_NUM_THREADS": str(threads),
            "PYTHONUNBUFFERED": "1"}


# ---- (a) CUDA tests ---------------------------------------------------------------------------
def run_tests(out: Path, timeout: float) -> dict[str, Any]:
    """`pytest -m gpu tests/gpu`: counts and each test's outcome and seconds (junit XML)."""
    xml = out / "gpu_tests.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests/gpu", "-p", "no:cacheprovider",
           f"--junitxml={xml}"]
    t0 = time.perf_counter()
    proc = _run(cmd, timeout, child_env(4))
    tests = []
    if xml.exists():
        for case in ET.parse(xml).iter("testcase"):
            kind = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
            detail = next((c.get("message", "") for c in case if c.tag in ("failure", "error", "skipped")), "")
            tests.append({"name": case.get("name"), "outcome": kind, "seconds": float(case.get("time", 0)),
                          "detail": detail[:300]})
    counts = {k: sum(t["outcome"] == k for t in tests) for k in ("passed", "failure", "error", "skipped")}
    return {"command": " ".join(cmd[1:]), "returncode": proc["returncode"], "seconds": time.perf_counter() - t0,
            "counts": counts, "tests": tests, "tail": proc["tail"]}


# ---- (b) throughput ---------------------------------------------------------------------------
def run_throughput(plan: Plan) -> dict[str, Any]:
    """tnas vs xautodl (when importable), fp32 and bf16, via benchmarks/throughput.py's `bench`."""
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "benchmarks" / "throughput.py")
    tp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tp)
    device = torch.device(plan.device)
    out: dict[str, Any] = {"sizes": plan.net}
    for precision in ("fp32", "bf16"):
        args = argparse.Namespace(**plan.net, seed=0, nchw=False, tnas_nchw=True, xautodl_nhwc=True,
                                  precision=precision, steps_per_epoch=391)
        rates, per_step = tp.bench(args, device, None)
        rows = {name: {"images_per_s": statistics.median(r), "per_repeat": r,
                       "step_ms": 1e3 * plan.net["batch"] / statistics.median(r),
                       "model_tflops": tp.model_tflops(args, per_step[name])} for name, r in rates.items()}
        section: dict[str, Any] = {"rows": rows, "table": tp.report(args, rates, per_step)}
        if tp.XAUTODL in rates:
            section["ratio"] = rows[tp.TNAS]["images_per_s"] / rows[tp.XAUTODL]["images_per_s"]
        out[precision] = section
    return out


# ---- (c) TNAS-OS vs SPOS, seeds sharing the device ---------------------------------------------
def launch(plan: Plan, strategy: str, folder: Path, overrides: dict[str, str]) -> subprocess.Popen:
    """`tnas search nb201-cifar10` for every seed of `strategy` as concurrent processes (workers=)."""
    last = plan.seeds - 1
    cmd = [sys.executable, "-m", "tnas", "search", "nb201-cifar10", "--no-progress", f"strategy={strategy}",
           f"seeds=0-{last}", f"workers={plan.seeds}", f"device={plan.device}", f"threads={plan.threads}",
           f"out={folder / strategy}", *[f"{k}={v}" for k, v in {**plan.study, **overrides}.items()]]
    log = open(folder / f"{strategy}.log", "w")  # noqa: SIM115 (closed when the process is reaped)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(plan.threads),
                            cwd=ROOT, start_new_session=True, preexec_fn=_ctrl_c_works)


def run_all(plan: Plan, folder: Path, overrides: dict[str, str], timeout: float) -> dict[str, Any]:
    """Both strategies at once; waits up to `timeout` s (then stops them). Returns per strategy
    its rows (summary.json) or the runs' partial metrics, and the wall time."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    procs = {s: launch(plan, s, folder, overrides) for s in STRATEGIES}
    codes = {s: _wait(p, t0 + timeout) for s, p in procs.items()}
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "returncodes": codes, "strategies": {s: collect(folder / s) for s in STRATEGIES}}


def collect(folder: Path) -> dict[str, Any]:
    """Summary rows (when the seeds axis finished) and each run's epoch seconds and split size."""
    runs = []
    # the seeds axis keeps its runs inside its own folder (issue 24); older layouts had them beside it
    found = [*folder.glob("*-s[0-9]*"), *folder.glob("*-seeds*/*-s[0-9]*")]
    for run in sorted((p for p in found if (p / "config.yaml").exists()), key=lambda p: p.name):
        metrics = [json.loads(x) for x in _read(run / "metrics.jsonl").splitlines() if x.strip()]
        result = json.loads(_read(run / "result.json") or "{}")
        meta = _meta(run)
        runs.append({"run": run.name, "epoch_seconds": [m["seconds"] for m in metrics if m.get("phase") == "train"],
                     "wall_seconds": result.get("wall_seconds"), "evaluated": result.get("evaluated"),
                     "train_images": meta.get("split", {}).get("sizes", {}).get("train"),
                     "accel": meta.get("accel"), "gt_test": (result.get("ground_truth") or {}).get("test"),
                     "tau": (result.get("kendall") or {}).get("tau"), "genotype": result.get("genotype")})
    summary = next(folder.glob("*-seeds*/summary.json"), None)
    return {"runs": runs, "summary": json.loads(summary.read_text()) if summary else None}


def size_main(plan: Plan, pilot: dict[str, Any], remaining: float) -> dict[str, Any]:
    """Epochs for the main runs from the pilot: per-step seconds (last pilot epoch, all processes
    running), per-evaluation seconds of the search stage, and the fixed cost of a process."""
    runs = [r for s in pilot["strategies"].values() for r in s["runs"] if r["epoch_seconds"] and r["wall_seconds"]]
    if not runs:
        raise RuntimeError("the pilot runs did not finish; see the logs in the pilot folder")
    settings = {**plan.study, **plan.pilot}
    step_s = max(r["epoch_seconds"][-1] for r in runs) / int(settings["train.steps_per_epoch"])
    eval_s = max(r["wall_seconds"] - sum(r["epoch_seconds"]) for r in runs) / int(settings["search.budget"])
    fixed_s = max(0.0, pilot["wall_s"] - max(r["wall_seconds"] for r in runs))  # start-up, data, report
    steps = int(plan.study.get("train.steps_per_epoch") or runs[0]["train_images"] // 64)  # the preset's batch
    evals = int(plan.study.get("search.budget", 500)) + int(plan.study.get("eval.tau_cells", 200)) + 10
    spare = remaining - fixed_s - 1.2 * evals * eval_s - 15  # 15 s: the final checkpoint and report
    epochs = max(plan.min_epochs, min(plan.max_epochs, int(spare / (1.1 * step_s * steps))))
    return {"step_s": step_s, "eval_s": eval_s, "fixed_s": fixed_s, "search_s": evals * eval_s,
            "steps_per_epoch": steps, "epochs": epochs, "predicted_s": fixed_s + evals * eval_s + epochs * step_s * steps}


def run_study(plan: Plan, out: Path, deadline: float) -> dict[str, Any]:
    pilot = run_all(plan, out / "pilot", plan.pilot, timeout=max(30.0, deadline - time.perf_counter()))
    sizing = size_main(plan, pilot, deadline - time.perf_counter())
    main = run_all(plan, out / "main", {"train.epochs": str(sizing["epochs"])},
                   timeout=max(10.0, deadline - time.perf_counter()))
    return {"pilot": pilot, "sizing": sizing, "main": main}


# ---- report -----------------------------------------------------------------------------------
def summary_md(res: dict[str, Any]) -> str:
    env = res["environment"]
    machine = env.get("gpu") or f"CPU ({env['cpus']} cores)"
    lines = [f"# GPU check ({'smoke, CPU' if res['smoke'] else 'full'})", "",
             f"Command: `{res['command']}`", "",
             f"- Machine: {machine}; torch {env['torch']} (CUDA {env['cuda']}), Python {env['python']}; "
             f"{env['date']}; total {res['seconds']:.0f} s of a {res['budget_s']:.0f} s budget "
             f"({', '.join(f'{k} {v:.0f} s' for k, v in res['section_seconds'].items())})",
             f"- Missing dependencies: {', '.join(env['missing_deps']) or 'none'}; xautodl: "
             f"{'yes' if env['xautodl'] else 'no (throughput of tnas only)'}", ""]
    lines += [f"**{name} failed**: {err}\n" for name, err in res.get("errors", {}).items()]
    t = res.get("tests")
    if t:
        lines += ["## (a) CUDA tests", "", f"`{t['command']}`: return code {t['returncode']}, {t['counts']}", ""]
        lines += [f"- {x['name']}: {x['outcome']} ({x['seconds']:.1f} s) {x['detail']}" for x in t["tests"]] + [""]
    tp = res.get("throughput")
    if tp and "fp32" in tp:
        lines += ["## (b) Supernet training throughput, tnas vs xautodl", ""]
        for precision in ("fp32", "bf16"):
            lines += [f"### {precision}", "", tp[precision]["table"]]
        peak = next((v for k, v in BF16_PEAK.items() if k in str(env.get("gpu"))), None)
        tflops = tp["bf16"]["rows"]["tnas NB201Supernet"]["model_tflops"]
        share = f"{100 * tflops / peak:.2f} % of the {peak:g} TFLOP/s dense bf16 peak" if peak else "peak unknown"
        lines += [f"tnas bf16: {tflops:.3g} model TFLOP/s = {share}.", ""]
    st = res.get("study")
    if st:
        lines += study_md(st)
    return "\n".join(lines) + "\n"


def study_md(st: dict[str, Any]) -> list[str]:
    sz = st["sizing"]
    lines = ["## (c) TNAS-OS vs SPOS, nb201-cifar10, seeds sharing the device", "",
             f"Pilot: {sz['step_s'] * 1e3:.1f} ms per step with every process running, {sz['eval_s']:.2f} s per "
             f"search evaluation, {sz['fixed_s']:.0f} s per process start-up -> {sz['epochs']} epochs of "
             f"{sz['steps_per_epoch']} steps (predicted {sz['predicted_s']:.0f} s; took {st['main']['wall_s']:.0f} s).",
             "", "| strategy | seed | epochs | s / epoch | GT test | tau | genotype |", "|---|---|---|---|---|---|---|"]
    for s, data in st["main"]["strategies"].items():
        for r in data["runs"]:
            ep = r["epoch_seconds"]
            lines.append(f"| {s} | {r['run'].rsplit('-s', 1)[-1]} | {len(ep)} | "
                         f"{statistics.mean(ep) if ep else float('nan'):.1f} | {_f(r['gt_test'])} | {_f(r['tau'], 3)} | "
                         f"`{r['genotype']}` |")
    procs = sum(len(d["runs"]) for d in st["main"]["strategies"].values())
    hundred = sz["fixed_s"] + sz["search_s"] + 100 * sz["step_s"] * sz["steps_per_epoch"]
    lines += ["", f"{procs} processes shared the device: {procs / sz['step_s']:.0f} training steps/s in all. At the "
              f"pilot's pace a 100-epoch run takes ~{hundred / 60:.1f} min per process with {procs} running at once, "
              f"i.e. ~{hundred / 60 / procs:.1f} min of the device per search (target: a 100-epoch TNAS-OS search "
              "in under 10 min when seeds share the GPU)."]
    for s, data in st["main"]["strategies"].items():
        ms = (data["summary"] or {}).get("mean_sd", {})
        if "gt_test" in ms:
            lines.append(f"\n{s}: GT test {ms['gt_test'][0]:.2f} ± {ms['gt_test'][1]:.2f}"
                         + (f", tau {ms['tau'][0]:.3f} ± {ms['tau'][1]:.3f}" if "tau" in ms else ""))
    return lines + [""]


def _f(v: Any, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


# ---- helpers ----------------------------------------------------------------------------------
def _run(cmd: list[str], timeout: float, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=_ctrl_c_works)
    try:
        text, _ = proc.communicate(timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        _stop(proc)
        text, _ = proc.communicate()
    return {"returncode": proc.returncode, "tail": (text or "")[-3000:]}


def _wait(proc: subprocess.Popen, deadline: float) -> int | None:
    try:
        return proc.wait(timeout=max(1.0, deadline - time.perf_counter()))
    except subprocess.TimeoutExpired:
        _stop(proc)
        return None


def _ctrl_c_works() -> None:
    """In the child before exec: a shell's background job ignores SIGINT, and so would the child
    (Python then installs no KeyboardInterrupt handler); `_stop` relies on it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process and the workers it started (its own session)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):  # Ctrl-C first: runs checkpoint and stop
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=15)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _meta(run: Path) -> dict[str, Any]:
    import yaml

    return (yaml.safe_load(_read(run / "config.yaml")) or {}).get("_meta", {})


def prepare(data: Path | None) -> None:
    """Fill .gpu_carry/ for the device machine, whose image has torch, pytest and tnas's
    dependencies but no registry: CIFAR-10 (the shared JPEG npz files, repacked without their
    'names' column of source paths, which tnas does not read: the images and labels are the same
    bytes, and the repository plus .gpu_carry/ must stay under 64 MiB) and the xautodl wheel."""
    import numpy as np

    from tnas.paths import find_data

    src = Path(data) if data else find_data("cifar10", None, "the CIFAR-10 npz files")
    dst = CARRY / "data" / "cifar10"
    dst.mkdir(parents=True, exist_ok=True)
    for name in NPZ:
        with np.load(src / name, allow_pickle=False) as z:
            np.savez(dst / name, jpeg=z["jpeg"], offsets=z["offsets"], labels=z["labels"])
    if not (CARRY / WHEEL).exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "xautodl==1.0.0", "--no-deps", "-d", str(CARRY)],
                       check=True)
    carried = sum(p.stat().st_size for p in CARRY.rglob("*") if p.is_file())
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True).stdout.split("\0")
    tree = sum((ROOT / f).stat().st_size for f in listed if f and (ROOT / f).is_file())
    print(f"{CARRY}: {carried / 2**20:.1f} MiB + working tree {tree / 2**20:.1f} MiB = "
          f"{(carried + tree) / 2**20:.1f} MiB (limit {CARRY_LIMIT / 2**20:.0f} MiB)")
    if carried + tree > CARRY_LIMIT:
        raise SystemExit("over the device machine's limit: remove untracked files or what .gpu_carry/ need not hold")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, help="folder for results.json, summary.md, logs and run directories")
    p.add_argument("--smoke", action="store_true", help="CPU, tiny sizes, < 1 minute")
    p.add_argument("--prepare", action="store_true", help="fill .gpu_carry/ (CIFAR-10, xautodl wheel) and exit")
    p.add_argument("--data", type=Path, default=CARRY / "data", help="folder holding cifar10/ (full check)")
    p.add_argument("--budget-s", type=float, help="wall-clock budget in s (default 540; smoke 180)")
    p.add_argument("--seeds", type=int, default=4, help="seeds per strategy, all running at once (full check)")
    p.add_argument("--max-epochs", type=int, default=100, help="upper bound of the main runs' epochs")
    p.add_argument("--skip", default="", help="comma-separated sections to skip: tests, throughput, study")
    args = p.parse_args()
    if args.budget_s is None:
        args.budget_s = 180.0 if args.smoke else 540.0  # smoke: a limit; it takes < 1 min on an idle CPU
    return args


def main() -> None:
    args = parse_args()
    if args.prepare:
        prepare(None if args.data == CARRY / "data" else args.data)
        return
    if args.out is None:
        raise SystemExit("--out DIR is required")
    args.out, args.data = args.out.resolve(), args.data.resolve()  # the processes it starts run in the repo root
    t0 = time.perf_counter()
    plan = smoke_plan(args) if args.smoke else full_plan(args)
    if plan.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --smoke on a CPU machine")
    args.out.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    res: dict[str, Any] = {"command": "python benchmarks/gpu_check.py " + " ".join(sys.argv[1:]),
                           "smoke": args.smoke, "budget_s": plan.budget_s, "plan": asdict(plan),
                           "environment": environment(plan.device)}
    deadline = t0 + plan.budget_s
    sections = {"tests": lambda: run_tests(args.out, timeout=min(0.3 * plan.budget_s, 180.0)),
                "throughput": lambda: run_throughput(plan), "study": lambda: run_study(plan, args.out, deadline)}
    res["section_seconds"] = {}
    for name, run in sections.items():
        if name in skip:
            continue
        t = time.perf_counter()
        try:
            res[name] = run()
        except Exception as e:  # noqa: BLE001 - report it and go on: the other sections still tell something
            res.setdefault("errors", {})[name] = f"{type(e).__name__}: {e}"
        res["section_seconds"][name] = round(time.perf_counter() - t, 1)
        res["seconds"] = time.perf_counter() - t0
        write(args.out, res)  # after every section: a run cut short still leaves its results
    print(summary_md(res))
    if res.get("errors"):
        sys.exit(1)


def write(out: Path, res: dict[str, Any]) -> None:
    (out / "results.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    (out / "summary.md").write_text(summary_md(res))


if __name__ == "__main__":
    main()
