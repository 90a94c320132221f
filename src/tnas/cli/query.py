"""`tnas query ARCH`: NAS-Bench-201 ground truth for one cell (string or official index)."""
from __future__ import annotations

import argparse

from tnas.bench.protocol import DATASETS, NUM_ARCHS, PROTOCOL, canonical_dataset
from tnas.errors import TnasError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "query",
        help="NAS-Bench-201 ground truth of one cell",
        description=(
            "Print the NAS-Bench-201 ground truth of one cell: its official index and string, valid/test "
            f"accuracy ({PROTOCOL}), CIFAR-10 params/FLOPs/latency and the supernet estimates where known. "
            "ARCH is an NB201 string like '|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|"
            "skip_connect~2|' (quote it) or an index 0..15624."
        ),
    )
    p.add_argument("arch", metavar="ARCH", help="NB201 architecture string or official index 0..15624")
    p.add_argument("--dataset", default="all",
                   help="cifar10, cifar100, ImageNet16-120 (aliases c10, c100, in16), NB201's cifar10-valid, "
                        "or all (default)")
    p.add_argument("--path", default=None, help="nb201_all.csv or its folder (default: $TNAS_DATA/nb201 when "
                   "it exists, else the table bundled with tnas)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tnas.bench import load_nb201  # torch: only when the command runs

    datasets = list(DATASETS) if args.dataset.strip().lower() == "all" else [canonical_dataset(args.dataset)]
    text = args.arch.strip()
    if text.lstrip("+-").isdigit() and not 0 <= int(text) < NUM_ARCHS:  # before it meets a 64-bit tensor
        raise TnasError(f"Architecture index {text} is out of range; expected an integer in 0..{NUM_ARCHS - 1}.")
    table = load_nb201(args.path, strict=False)  # a converted partial table works; a missing cell errors
    arch = table.as_arch(args.arch)
    if not table.complete:
        print(f"table     {table.path} (partial: {len(table)} of 15625 cells)")
    print(f"index     {int(table.index_of(arch))}")
    print(f"arch      {table.space.to_genotype(arch)}")
    print(f"protocol  {PROTOCOL}")
    print(f"{'dataset':<16}{'valid %':>10}{'test %':>10}")
    for d in datasets:
        print(f"{d:<16}{table.query(arch, d, 'valid'):>10.2f}{table.query(arch, d, 'test'):>10.2f}")
    if "cifar10-valid" in datasets:
        print("note      cifar10-valid test = official test set after training on 25k images (NATS-Bench); "
              "cifar10 test = after training on all 50k")
    for line in _extras(table, arch):
        print(line)
    return 0


def _extras(table, arch) -> list[str]:  # noqa: ANN001 - NB201Table, Tensor
    """Cost and supernet lines; each is left out when this table does not know it."""
    lines = []
    try:
        lines.append(f"CIFAR-10 cost: {float(table.cost(arch, 'params')):.4f} M params, "
                     f"{float(table.cost(arch, 'flops')):.2f} MFLOPs, "
                     f"latency {1000 * float(table.cost(arch, 'latency')):.2f} ms")
    except TnasError:
        pass
    try:
        lines.append(f"CIFAR-10 supernet estimate: one-shot {float(table.supernet_estimate(arch, 'oneshot')):.2f} %, "
                     f"few-shot {float(table.supernet_estimate(arch, 'fewshot')):.2f} %")
    except TnasError:
        pass
    return lines
