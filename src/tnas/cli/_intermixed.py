"""Subcommand parsers whose options may sit anywhere among the positional arguments."""
from __future__ import annotations

import argparse


class _IntermixedParser(argparse.ArgumentParser):
    """Options may sit between the positional arguments (`tnas train GENOTYPE --space darts PRESET
    key=value`): plain argparse stops collecting a '*' positional at the first option."""

    _mixing = False

    def parse_known_args(self, args=None, namespace=None):
        if self._mixing:  # parse_known_intermixed_args calls back into parse_known_args
            return super().parse_known_args(args, namespace)
        self._mixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._mixing = False


def intermixed(parser: argparse.ArgumentParser) -> None:
    """Let options follow `key=value` overrides (`tnas search PRESET seed=1 --no-progress`)."""
    parser.__class__ = _IntermixedParser  # the subparsers action builds plain ArgumentParsers
