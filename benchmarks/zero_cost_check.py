"""Zero-cost proxies against NB201 ground truth and the published correlations (issue 22, item 2).

Measures, on the NB201 stand-alone network (C=16, N=5, 32x32, real CIFAR-10 training batches of
64, weights at initialisation from the score seed), for `--cells` uniformly drawn cells: Spearman
rho and Kendall tau of each proxy (`tnas.evaluate.score`, the product's code path) with NB201
CIFAR-10 test accuracy (200 epochs), next to the published values, and the cost per cell of each
proxy alone on one core. Every cell's scores are appended to `<out>/cells.jsonl` as it finishes, so
a stopped run resumes where it was.

    python benchmarks/zero_cost_check.py --cells 1000 --out docs/results/zero_cost_check   # ~25 min, 1 core
    python benchmarks/zero_cost_check.py --report --out docs/results/zero_cost_check
    python benchmarks/zero_cost_check.py --cells 20 --timing-cells 3 --out /tmp/zc           # smoke
"""
from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np
import torch

from _common import machine_line

PROXIES = ("naswot", "synflow", "snip", "grad_norm", "jacov")
# Published correlations with NB201 CIFAR-10 accuracy, networks at initialisation, one batch:
# grad_norm, snip, synflow, jacov: |Spearman| over all 15,625 cells vs test accuracy, batch 64, from the
# authors' notebook of Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021
# (SamsungLabs/zero-cost-nas @ a43bfbc, notebooks/nasbench201_correlations.ipynb, "Table 1"; synflow
# without BN, as here). naswot: Spearman 0.77 over 1,000 random cells, batch 64, vs validation accuracy
# (NAS-Bench-Suite-Zero, Krishnakumar et al., NeurIPS 2022 D&B, Fig. 2); Kendall tau 0.574 (Mellor et
# al., ICML 2021, Fig. 3, batch 128).
PUBLISHED = {
    "naswot": {"rho": 0.77, "tau": 0.574, "source": "ρ: NAS-Bench-Suite-Zero Fig. 2; τ: Mellor et al. 2021 Fig. 3"},
    "synflow": {"rho": 0.737, "tau": None, "source": "Abdelfattah et al. 2021 (zero-cost-nas notebook, Table 1)"},
    "snip": {"rho": 0.596, "tau": None, "source": "Abdelfattah et al. 2021 (zero-cost-nas notebook, Table 1)"},
    "grad_norm": {"rho": 0.594, "tau": None, "source": "Abdelfattah et al. 2021 (zero-cost-nas notebook, Table 1)"},
    "jacov": {"rho": 0.731, "tau": None, "source": "Abdelfattah et al. 2021 (zero-cost-nas notebook, jacob_cov)"},
}
SCORE_SEED = 0


def _scorer(names: tuple[str, ...], data, batch: int):
    import tnas
    from tnas.evaluate.score import Scorer, ScoreInputs, ScoreSpec
    from tnas.supernet.registry import NetSize, get_family

    space = tnas.get_space("nb201")
    fam = get_family("nb201")
    size = NetSize(C=16, N=5, num_classes=10, in_channels=3, image_size=32)
    x, y = data.train.random_batch(batch, torch.Generator().manual_seed(0), augment=False)
    inputs = ScoreInputs(space, batches=[(x, y)], network=lambda a: fam.network(space, a, size, {}), seed=SCORE_SEED)
    spec = ScoreSpec(names, ensemble=len(names) > 1)
    return space, Scorer(spec, inputs)


def _cells(n: int):
    import tnas

    space = tnas.get_space("nb201")
    keys = torch.randperm(space.size, generator=torch.Generator().manual_seed(2022))[:n]
    return space, keys


def run(args: argparse.Namespace) -> None:
    from tnas.data import load_dataset

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("cifar10", None, image_size=32)
    space, keys = _cells(args.cells)
    path = out / "cells.jsonl"
    done = {json.loads(line)["key"] for line in path.read_text().splitlines()} if path.exists() else set()
    _, scorer = _scorer(PROXIES, data, args.batch)
    with path.open("a") as f:
        for i, key in enumerate(keys.tolist()):
            if key in done:
                continue
            arch = space.from_keys(torch.tensor([key]))
            t0 = time.process_time()
            values = scorer.values(arch)
            row = {"key": key, "genotype": space.to_genotype(arch[0]), "cpu_s_all": time.process_time() - t0,
                   **{n: float(values[n][0]) for n in PROXIES}}
            f.write(json.dumps(row) + "\n")
            f.flush()
            if i % 50 == 0:
                print(f"{i}/{len(keys)} cells", flush=True)
    timing_path = out / "timing.json"
    if not timing_path.exists():
        timing = {}
        for name in PROXIES:
            _, one = _scorer((name,), data, args.batch)
            costs = []
            for key in keys[: args.timing_cells].tolist():
                t0 = time.process_time()
                one.values(space.from_keys(torch.tensor([key])))
                costs.append(time.process_time() - t0)
            timing[name] = float(np.median(costs))
        timing_path.write_text(json.dumps(timing, indent=1))
    report(args)


def report(args: argparse.Namespace) -> None:
    from scipy.stats import kendalltau, spearmanr

    import tnas
    from tnas.bench import load_nb201

    out = Path(args.out)
    rows = [json.loads(line) for line in (out / "cells.jsonl").read_text().splitlines()]
    space = tnas.get_space("nb201")
    table = load_nb201()
    archs = space.from_keys(torch.tensor([r["key"] for r in rows]))
    gt = table.lookup(archs, "cifar10", "test").numpy()
    timing = json.loads((out / "timing.json").read_text()) if (out / "timing.json").exists() else {}
    lines = [f"# Zero-cost proxies vs NB201 CIFAR-10 test accuracy ({len(rows)} uniform cells)", "",
             f"Command: `python benchmarks/zero_cost_check.py --cells {args.cells} --out {args.out}`  ",
             f"{machine_line()}, one thread; {datetime.date.today().isoformat()}.  ",
             "Network: NB201 stand-alone C=16, N=5, 32x32, PyTorch default initialisation (score seed 0, the same "
             "for every cell); one real CIFAR-10 training batch of 64 (unaugmented, normalised); NB201 v1.1, "
             "200 epochs, CIFAR-10 test (ori-test).", "",
             "| proxy | Spearman ρ | Kendall τ | published ρ | published τ | ρ − published | CPU s / cell (alone) | source |",
             "|---|---|---|---|---|---|---|---|"]
    summary = {}
    for name in PROXIES:
        v = np.array([r[name] for r in rows], dtype=float)
        v = np.where(np.isfinite(v), v, np.nanmin(v[np.isfinite(v)]) - 1)  # -inf: ranks last
        rho, tau = float(spearmanr(v, gt).statistic), float(kendalltau(v, gt).statistic)
        pub = PUBLISHED[name]
        diff = rho - pub["rho"]
        summary[name] = {"rho": rho, "tau": tau, "published_rho": pub["rho"], "cpu_s": timing.get(name)}
        pt = f"{pub['tau']:.3f}" if pub["tau"] is not None else "—"
        cost = f"{timing[name]:.3f}" if name in timing else "—"
        lines.append(f"| {name} | {rho:.3f} | {tau:.3f} | {pub['rho']:.3f} | {pt} | {diff:+.3f} | {cost} | {pub['source']} |")
    all_cost = float(np.median([r["cpu_s_all"] for r in rows]))
    lines += ["", f"All five proxies of one cell with shared passes: median {all_cost:.3f} CPU s per cell "
              "(network build included)."]
    (out / "zero_cost_check.md").write_text("\n".join(lines) + "\n")
    (out / "zero_cost_check.json").write_text(json.dumps({"cells": len(rows), "proxies": summary,
                                                         "all_cpu_s": all_cost}, indent=1))
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", type=int, default=1000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--timing-cells", type=int, default=30)
    p.add_argument("--out", default="docs/results/zero_cost_check")
    p.add_argument("--report", action="store_true", help="only rebuild the table from cells.jsonl")
    args = p.parse_args()
    report(args) if args.report else run(args)


if __name__ == "__main__":
    main()
