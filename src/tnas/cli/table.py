"""`tnas table`: the NAS-Bench-201 table: where it is (`info`) and how to make it (`convert`)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from typing import TYPE_CHECKING

from tnas.bench.protocol import NUM_ARCHS, PROTOCOL, SUPERNET_FILE

if TYPE_CHECKING:
    from tnas.bench.nb201 import NB201Table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "table",
        help="locate or build the NAS-Bench-201 ground-truth table",
        description="Show where the NAS-Bench-201 table is and what it holds (`info`), or convert the official "
                    "NATS-Bench topology files into it (`convert`).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="location, rows, protocol and load time of the table",
                              description="Load the table (validating it) and print its location, row count, "
                                          "protocol and load time.")
    info.add_argument("--path", default=None, help="nb201_all.csv or its folder (default: $TNAS_DATA/nb201 when "
                      "it exists, else the table bundled with tnas)")
    info.set_defaults(func=run_info)
    conv = actions.add_parser(
        "convert", help="convert official NATS-Bench / NAS-Bench-201 v1.1 files",
        description="Convert the official topology files (a NATS-tss-v1_0-3ffb9-simple folder, "
                    "NATS-tss-v1_0-3ffb9.pickle.pbz2 or NAS-Bench-201-v1_1-096897.pth) into DIR/nb201_all.csv "
                    "(200-epoch results, mean over seeds). Needs `pip install 'tnas[nats]'`. Then set "
                    "TNAS_DATA to DIR's parent if DIR is named nb201, or pass --path DIR to other commands.")
    conv.add_argument("source", metavar="SRC", help="official benchmark folder or file")
    conv.add_argument("--out", required=True, metavar="DIR", help="folder to write nb201_all.csv into")
    conv.add_argument("--hp", default="200", choices=("200", "12"),
                      help="training epochs (default 200; 12 writes 12-epoch numbers under the same column names, "
                           "so tnas.bench.PROTOCOL no longer describes them)")
    conv.add_argument("--unsafe-pickle", action="store_true",
                      help="also load files that hold Python objects beyond plain data, with Python's full "
                           "unpickler: that runs whatever code the file contains, so only for files from a source "
                           "you trust (by default such files are refused)")
    conv.set_defaults(func=run_convert)
    exp = actions.add_parser(
        "export", help="write the bundled table as CSV files",
        description="Write the NB201 table bundled with tnas as DIR/nb201_all.csv and DIR/supernet_estimates_c10.csv "
                    "(the layout of the shared data; every value equal to the bundle's), for code that reads the CSV.")
    exp.add_argument("out", metavar="DIR", help="folder to write into (created if missing)")
    exp.set_defaults(func=run_export)


def run_info(args: argparse.Namespace) -> int:
    from tnas.bench import locate_table  # the table layer loads torch: only when the command runs
    from tnas.bench.nb201 import NB201Table

    path = locate_table(args.path)
    t0 = time.perf_counter()
    # uncached, so the time is a real load
    table = NB201Table.from_bundle(path) if path.suffix == ".npz" else NB201Table.from_csv(path, strict=False)
    _print_info(table, time.perf_counter() - t0)
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from tnas.bench import convert_nats, load_nb201

    out = convert_nats(args.source, args.out, hp=args.hp, allow_unsafe_pickle=args.unsafe_pickle)
    table = load_nb201(out, strict=False)
    print(f"wrote     {out}")
    print(f"rows      {len(table)} of {NUM_ARCHS}" + ("" if table.complete else
          "  (partial: load it with load_nb201(path, strict=False))"))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from tnas.bench.bundle import write_csv

    path = write_csv(Path(args.out))
    print(f"wrote     {path}")
    print(f"          {path.parent / SUPERNET_FILE}")
    return 0


def _print_info(table: NB201Table, seconds: float) -> None:
    from tnas.bench.bundle import BUNDLE_FILE

    print(f"table     {table.path}" + ("  (bundled with tnas)" if table.path == BUNDLE_FILE else ""))
    print(f"rows      {len(table)} of {NUM_ARCHS}" + ("" if table.complete else "  (partial)"))
    print(f"protocol  {PROTOCOL}")
    print(f"supernet  {table.supernet_path or 'not present (supernet estimates unavailable)'}")
    print(f"load      {seconds * 1000:.0f} ms (parse + validate)")
