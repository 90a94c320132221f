"""The `tnas` command line.

Each subcommand lives in its own module in this package and exposes
`register(subparsers) -> None`, which adds its parser and sets `func=run` (a function taking the
parsed args and returning an exit code). Bad input raises `TnasError`: printed as one paragraph,
exit code 2, no traceback (an OSError nobody turned into a TnasError gets the same treatment).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from tnas.version import __version__
from tnas.errors import TnasError, os_error

# Subcommand modules, in the order `tnas --help` lists them.
COMMANDS: tuple[str, ...] = ("search", "train", "export", "query", "table", "bench", "data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tnas",
        description=(
            "Neural architecture search with a learned architecture sampler (TNAS: a transformer VAE "
            "over architecture tokens). Run `tnas search` for a one-shot search on the built-in digits "
            "data (space=nb201|darts|shufflenet, strategy=tnas-os|spos|darts|gdas|tnas-g), `tnas train "
            "GENOTYPE --space ...` to train a found architecture from scratch, `tnas export RUN_DIR` to write "
            "the found network as state_dict, TorchScript or ONNX, `tnas query ARCH` for "
            "NAS-Bench-201 ground truth, `tnas bench sampler` for the "
            "sampler-quality benchmark. `tnas COMMAND --help` explains each command."
        ),
    )
    parser.add_argument("--version", action="version", version=f"tnas {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"tnas.cli.{name}")
        except ModuleNotFoundError as e:  # a subcommand not built yet
            if e.name != f"tnas.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except TnasError as e:
        print(f"tnas: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a read or write that failed where no caller named the file itself
        print(f"tnas: error: {os_error(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tnas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
