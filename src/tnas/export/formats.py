"""Writing a rebuilt network (`tnas.export.rebuild`) to files, each format checked after writing.

- state: network.pt (the weights-only state_dict) + network.json (genotype, space, size, builder,
  input normalisation): `tnas.load_network(FOLDER)` rebuilds the module from these two without
  running any code from them.
- torchscript: network.torchscript.pt by `torch.jit.trace`. A network of one fixed architecture
  has no data-dependent control flow (the cell's live edges are fixed when it is built), so the
  trace is exact; `torch.jit.script` cannot compile the Python cell runner (dicts of nodes,
  ModuleLists indexed by a variable). Checked: reloaded with `torch.jit.load`, outputs compared
  with the eager network on a batch of another size than the trace's.
- onnx (optional extra `tnas[onnx]`): network.onnx by `torch.onnx.export` (the dynamo exporter,
  dynamic batch axis, weights inside the file). Checked with ONNX Runtime when it is installed.

Loading a TorchScript file runs the code stored in it: it is meant for the user's own deployment;
tnas itself never loads one except to check the file it has just written.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from tnas.errors import TnasError, write_error
from tnas.safeio import atomic_path, atomic_text, atomic_write

_log = logging.getLogger(__name__)

FORMATS = ("state", "torchscript", "onnx")
# Largest |difference| allowed between an exported file's logits and the eager network's (float32;
# the exporters reorder and fuse ops, so bit equality is not expected; measured ~1e-6 on NB201).
TOLERANCE = 1e-4
# loggers of the ONNX exporter and its graph optimizer, which report every pass at INFO
_CHATTY = ("torch.onnx", "onnxscript", "onnx_ir")
FIX = "or choose another folder with --out DIR."


def write_state(net: nn.Module, spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """network.pt (state_dict, tensors only) and network.json; returns {'files', 'bytes'}."""
    weights, desc = folder / "network.pt", folder / "network.json"
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    atomic_write(weights, lambda f: torch.save(state, f), fix=FIX)
    atomic_text(desc, json.dumps(spec, indent=2, allow_nan=False) + "\n", fix=FIX)
    return {"files": [weights.name, desc.name], "bytes": weights.stat().st_size}


def write_torchscript(net: nn.Module, sample: Tensor, folder: Path) -> dict[str, Any]:
    """network.torchscript.pt traced on `sample` [B, C, H, W]; returns {'file', 'bytes', 'max_abs_diff'}."""
    path = folder / "network.torchscript.pt"
    with torch.no_grad():
        # check_trace off: the reloaded file is compared below, on another batch size, which is stricter
        traced = torch.jit.trace(net, sample[:2], check_trace=False)
    atomic_write(path, lambda f: torch.jit.save(traced, f), fix=FIX)
    loaded = torch.jit.load(str(path), map_location="cpu")  # the file just written, to check it
    diff = _max_diff(lambda x: loaded(x), net, sample)
    _check(diff, "TorchScript", path)
    return {"file": path.name, "bytes": path.stat().st_size, "max_abs_diff": diff}


def write_onnx(net: nn.Module, sample: Tensor, folder: Path) -> dict[str, Any]:
    """network.onnx with a dynamic batch axis; returns {'file', 'bytes', 'max_abs_diff' (None when ONNX
    Runtime is not installed), 'opset'}."""
    try:
        import onnx  # noqa: F401 - the exporter needs both
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise TnasError(f"ONNX export needs the packages onnx and onnxscript ({e.name} is missing). Install them with "
                        "`pip install 'tnas[onnx]'` (onnx, onnxscript, onnxruntime), or leave onnx out of --format.") from None
    path = folder / "network.onnx"
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    cpu_net = net.cpu()

    def export(tmp: Path) -> None:
        # the exporter and its optimizer print progress lines and warn about absent torchvision ops:
        # kept out of the user's console (debug log)
        chatter = io.StringIO()
        loggers = [logging.getLogger(name) for name in _CHATTY]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            with contextlib.redirect_stdout(chatter), warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                torch.onnx.export(cpu_net, (sample[:2].cpu(),), str(tmp), input_names=["images"],
                                  output_names=["logits"], dynamic_shapes=({0: batch},), external_data=False,
                                  verbose=False)
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
            _log.debug("torch.onnx.export said:\n%s", chatter.getvalue())

    with atomic_path(path, FIX) as tmp:  # the exporter wants a file name: a fresh private folder
        _written(export, tmp, path)
    out: dict[str, Any] = {"file": path.name, "bytes": path.stat().st_size, "max_abs_diff": None}
    try:
        import onnxruntime as ort
    except ImportError:
        _log.warning("onnxruntime is not installed, so %s was not checked against PyTorch "
                     "(pip install onnxruntime, or 'tnas[onnx]')", path)
        return out
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    diff = _max_diff(lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0]), cpu_net, sample.cpu())
    _check(diff, "ONNX Runtime", path)
    out["max_abs_diff"] = diff
    return out


@torch.no_grad()
def _max_diff(run: Any, net: nn.Module, sample: Tensor) -> float:
    """max |run(x) - net(x)| over x = `sample` (a batch of another size than the traced one)."""
    x = sample if sample.shape[0] != 2 else torch.cat([sample, sample[:1]])
    return float((run(x).float().cpu() - net(x).float().cpu()).abs().max())


def _check(diff: float, what: str, path: Path) -> None:
    if not diff <= TOLERANCE:  # also catches NaN
        raise TnasError(f"{what} reproduces the network's logits only to {diff:.3g} (tolerance {TOLERANCE}); "
                        f"'{path}' is not a faithful export. Report this with the run directory; the weights-only "
                        "network.pt is unaffected.")


def _written(write: Any, tmp: Path, path: Path) -> None:
    """Run a writer that takes a file name; its OSError, or the RuntimeError torch raises for a
    short write (a full disk), is a TnasError naming `path`."""
    try:
        write(tmp)
    except (OSError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and not _short_write(e):
            raise
        raise write_error(path, e, FIX) from None


def _short_write(e: BaseException) -> bool:
    text = str(e).lower()
    return any(w in text for w in ("unexpected pos", "no space", "file too large", "write", "errno"))
