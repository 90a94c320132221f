"""The plain-data unpickler (issue 24): a batch file that calls an unknown codec is a clean error."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tnas.data.formats import load_batch_pickle
from tnas.errors import TnasError


def test_unknown_codec_is_a_tnas_error(tmp_path: Path) -> None:
    # GLOBAL _codecs.encode, then ('x', 'no-such-codec') -> REDUCE: what a tampered CIFAR batch can hold
    payload = b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00xX\r\x00\x00\x00no-such-codec\x86R."
    with pytest.raises(LookupError):
        pickle.loads(payload)  # the raw failure the loader must not let escape
    path = tmp_path / "data_batch_1"
    path.write_bytes(payload)
    with pytest.raises(TnasError, match="Could not read .*data_batch_1 as a batch pickle.*no-such-codec"):
        load_batch_pickle(path, "a CIFAR-10 batch", "Download it again.")
