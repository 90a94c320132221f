"""`tnas data download` against a local HTTP server serving an archive in the official layout.

The archive is built here from real images (scikit-learn digits, upscaled to 32x32 RGB) as the
official `cifar-10-python.tar.gz`: a `cifar-10-batches-py/` folder of Python-2-style pickles.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from tnas.cli import main
from tnas.data import load_dataset

pytestmark = pytest.mark.slow

NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _digit_batches() -> dict[str, bytes]:
    d = load_digits()
    grey = np.rint(d.images[:120] * (255 / 16)).astype(np.uint8)
    rgb = np.repeat(np.kron(grey, np.ones((4, 4), np.uint8))[:, None], 3, axis=1)  # [120, 3, 32, 32]
    out = {}
    for j, name in enumerate(NAMES):
        part = slice(20 * j, 20 * j + 20)
        batch = {
            b"batch_label": name.encode(),
            b"labels": d.target[part].tolist(),
            b"data": rgb[part].reshape(20, -1),
        }
        out[name] = pickle.dumps(batch, protocol=2)
    return out


def _tarball(path: Path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.md5(path.read_bytes()).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server(tmp_path):
    """Serve `tmp_path/www` on 127.0.0.1 (a free port) from a background thread."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_download_verifies_unpacks_and_loads(server, tmp_path):
    www, base = server
    batches = _digit_batches()
    md5 = _tarball(
        www / "cifar-10-python.tar.gz", {f"cifar-10-batches-py/{n}": b for n, b in batches.items()}
    )
    root = tmp_path / "data"
    argv = [
        "data",
        "download",
        "cifar10",
        "--root",
        str(root),
        "--url",
        f"{base}/cifar-10-python.tar.gz",
        "--md5",
        md5,
        "--no-progress",
    ]
    assert main(argv) == 0
    assert _leftovers(root) == ["cifar-10-batches-py"]  # no temp files left behind
    assert sorted(p.name for p in (root / "cifar-10-batches-py").iterdir()) == sorted(NAMES)
    splits = load_dataset("cifar10", root)
    # a class-stratified half of the 100 training digits (classes with odd counts round down)
    assert len(splits.train) + len(splits.valid) == 100 and abs(len(splits.train) - 50) <= 5
    assert len(splits.test) == 20
    assert splits.train.images.shape[1:] == (3, 32, 32)
    assert main(argv) == 0  # already complete: returns without fetching again


def test_checksum_mismatch_keeps_nothing(server, tmp_path, capsys):
    www, base = server
    md5 = _tarball(www / "c10.tar.gz", {f"cifar-10-batches-py/{n}": b for n, b in _digit_batches().items()})
    root = tmp_path / "data"
    wrong = "0" * 32
    rc = main(
        [
            "data",
            "download",
            "cifar10",
            "--root",
            str(root),
            "--url",
            f"{base}/c10.tar.gz",
            "--md5",
            wrong,
            "--no-progress",
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "Checksum mismatch" in err and md5 in err and wrong in err
    assert _leftovers(root) == []


def test_unsafe_archive_is_refused(server, tmp_path, capsys):
    www, base = server
    md5 = _tarball(
        www / "evil.tar.gz",
        {"cifar-10-batches-py/../../escaped": b"x", "cifar-10-batches-py/test_batch": b"y"},
    )
    root = tmp_path / "data"
    rc = main(
        [
            "data",
            "download",
            "cifar10",
            "--root",
            str(root),
            "--url",
            f"{base}/evil.tar.gz",
            "--md5",
            md5,
            "--no-progress",
        ]
    )
    assert rc == 2 and "unexpected entry" in capsys.readouterr().err
    assert _leftovers(root) == [] and not (tmp_path / "escaped").exists()


def test_unreachable_url_is_a_clear_error(server, tmp_path, capsys):
    _, base = server
    rc = main(
        [
            "data",
            "download",
            "cifar100",
            "--root",
            str(tmp_path / "d"),
            "--url",
            f"{base}/missing.tar.gz",
            "--no-progress",
        ]
    )
    assert rc == 2 and "Could not download" in capsys.readouterr().err
    assert _leftovers(tmp_path / "d") == []
