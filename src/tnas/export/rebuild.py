"""Rebuilding the found network of a run directory (or of an export folder) as a plain `nn.Module`.

Three sources, one result (`Rebuilt`):
- a finished `tnas search` run: the found cell with the weights it inherits from the trained
  supernet, its BN statistics recalibrated on the same training batches the search stage used
  (the stream 'search', `tnas.evaluate.eval_batches`), then cut out of the supernet by the
  supernet's `extract(arch)`; so the network scores exactly the `supernet_valid_acc` of
  result.json. Needs the run's data (it is loaded as the run loaded it).
- a finished `tnas train` run: the family's stand-alone network with the trained weights.
- a folder written by `tnas export` (network.json + network.pt): rebuilt from the description and
  the weights alone, without data.

Checkpoints and weights are read with `torch.load(weights_only=True)` (`tnas.run.checkpoint`):
opening a run never executes code.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from tnas.export.validate import check_result, check_spec, warn_accuracy
from tnas.data import DataSplits, load_dataset
from tnas.errors import TnasError
from tnas.evaluate import eval_batches, recalibrate_bn
from tnas.run.checkpoint import load_checkpoint
from tnas.run.config import RunConfig, config_from_dict
from tnas.run.dist import resolve_device
from tnas.run.resume import command_of, read_run_config
from tnas.seeds import stream
from tnas.space import SearchSpace, get_space
from tnas.supernet.registry import NetSize, build_supernet, get_family
from tnas.train.config import train_config_from_dict
from tnas.version import __version__

_log = logging.getLogger(__name__)

SPEC_NAME, WEIGHTS_NAME = "network.json", "network.pt"
SPEC_FORMAT, SPEC_VERSION = "tnas-network", 1


@dataclass
class Rebuilt:
    """A rebuilt network and what it takes to rebuild it again (`spec`).

    Attributes:
        network: the module, in eval mode; called as network(x float [B, C, H, W]) -> logits [B, classes].
        space, arch: the architecture (arch long [D]).
        size: channels, depth, classes and the input size of the network.
        builder: 'extract' (a search run's cell cut out of its supernet) or 'network' (the family's
            stand-alone network, as `tnas train` builds it, with `options`).
        source: 'search', 'train' or 'export': what it was rebuilt from.
        run_dir: the run directory it came from.
        normalization: per-channel {'mean', 'std'} of x / 255 the inputs must be normalised with
            (None when the run did not record it).
        sample: a few inputs float [B, C, H, W] (real images when the data was loaded) for checks.
        checks: numbers measured while rebuilding (e.g. the valid accuracy, %).
    """

    network: nn.Module
    space: SearchSpace
    arch: Tensor
    size: NetSize
    builder: str
    source: str
    run_dir: str
    options: dict[str, Any] = field(default_factory=dict)
    normalization: dict[str, list[float]] | None = None
    sample: Tensor | None = None
    checks: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        """The JSON description (network.json) that `build_from_spec` rebuilds the module from."""
        s = self.size
        return {"format": SPEC_FORMAT, "version": SPEC_VERSION, "tnas_version": __version__,
                "space": self.space.name, "genotype": self.space.to_genotype(self.arch), "arch": self.arch.tolist(),
                "builder": self.builder, "options": self.options,
                "size": {"C": s.C, "N": s.N, "num_classes": s.num_classes, "in_channels": s.in_channels,
                         "image_size": s.image_size},
                "input": {"shape": ["batch", s.in_channels, s.image_size, s.image_size], "dtype": "float32",
                          "normalization": self.normalization,
                          "note": "images as x / 255, normalised per channel: (x / 255 - mean) / std"},
                "source": self.source, "run_dir": self.run_dir, "checks": self.checks}


def rebuild(path: str | Path, device: str | torch.device = "cpu") -> Rebuilt:
    """The network of a finished run directory or of an export folder (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise TnasError(f"'{path}' does not exist. Pass a run directory that `tnas search` or `tnas train` printed, "
                        "or a folder written by `tnas export`.")
    dev = resolve_device(str(device))
    if (path / SPEC_NAME).is_file():
        return _from_export(path, dev)
    if not (path / "config.yaml").is_file():
        raise TnasError(_not_a_run(path))
    tree = read_run_config(path)
    if command_of(tree) == "train":
        return _from_train(path, tree, dev)
    return _from_search(path, dev)


def load_network(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The found network of a finished `tnas search` / `tnas train` run directory, or of a folder
    written by `tnas export`, as an `nn.Module` in eval mode on `device`.

    A search run gives the found cell with its inherited supernet weights, BN recalibrated on the
    search stage's training batches (the run's data is loaded for that); a train run gives the
    trained network. Inputs are images float [B, C, H, W] normalised as the run's data (network.json
    of an export names mean and std); the output is logits [B, num_classes].

    Raises:
        TnasError: the path is missing, is no run directory or export, or the run is unfinished.
    """
    return rebuild(path, device).network


def _not_a_run(path: Path) -> str:
    runs = sorted(p.name for p in path.iterdir() if (p / "config.yaml").is_file())[:3] if path.is_dir() else []
    hint = f" It holds run directories ({', '.join(runs)}): pass one of them." if runs else ""
    return (f"'{path}' is neither a tnas run directory (no config.yaml) nor a `tnas export` folder (no {SPEC_NAME})."
            f"{hint} Pass the folder that `tnas search` or `tnas train` printed as its run directory.")


def _result(path: Path) -> dict[str, Any]:
    try:
        result = json.loads((path / "result.json").read_text())
    except (OSError, ValueError) as e:
        raise TnasError(f"'{path / 'result.json'}' is unreadable ({type(e).__name__}) although the checkpoint says the "
                        f"run finished; resume it to write it again: `tnas search --resume {path}`.") from None
    if not isinstance(result, dict) or not isinstance(result.get("arch"), list):
        raise TnasError(f"'{path / 'result.json'}' holds no found architecture ('arch'); the run directory is damaged. "
                        f"Resume it to write it again: `tnas search --resume {path}`.")
    return result


@dataclass
class TrainedSupernet:
    """A finished search run's trained supernet with the data its search stage scored on.

    Attributes:
        cfg: the run's RunConfig; result: its result.json.
        supernet: the trained weights (BN statistics as training left them: recalibrate per path).
        calib: the search stage's BN-calibration batches, images float [B, C, H, W].
        valid: the search stage's validation batches (x, y), the fitness of every GA evaluation.
        data: the run's data splits (train / valid / test), loaded as the run loaded them.
    """

    cfg: RunConfig
    result: dict[str, Any]
    space: SearchSpace
    size: NetSize
    supernet: nn.Module
    calib: list[Tensor]
    valid: list[tuple[Tensor, Tensor]]
    data: DataSplits


def load_trained_supernet(path: str | Path, device: str | torch.device = "cpu") -> TrainedSupernet:
    """The trained supernet of a finished `tnas search` run and its search stage's own batches."""
    path, device = Path(path), resolve_device(str(device))
    ck = load_checkpoint(path / "ckpt" / "last.pt")
    if ck.get("phase") == "done" and not (path / "result.json").is_file():
        raise TnasError(f"'{path}' is a finished search whose result.json is missing; write it again with "
                        f"`tnas search --resume {path}` (it finishes at once), then export.")
    if ck.get("phase") != "done":
        state = ck.get("state") if isinstance(ck.get("state"), dict) else {}
        raise TnasError(f"'{path}' is an unfinished search (phase {ck.get('phase')!r}, {state.get('epoch', '?')} epochs "
                        f"done): it has no found network yet. Finish it with `tnas search --resume {path}`, then export.")
    cfg = config_from_dict(ck["config"])
    result = _result(path)
    space = get_space(cfg.space)
    check_result(result, path, space)
    data = load_dataset(cfg.data.name, cfg.data.root, device=device, split_seed=cfg.data.split_seed,
                        limit=cfg.data.limit, image_size=cfg.data.image_size)
    train = data.train
    size = NetSize(C=cfg.supernet.C, N=cfg.supernet.N, num_classes=train.num_classes,
                   in_channels=train.images.shape[1], image_size=int(train.images.shape[-1]))
    with torch.random.fork_rng(devices=[]):  # initial weights are overwritten; the caller's RNG stays untouched
        supernet = build_supernet(space, size).to(device)
    supernet.load_state_dict(ck["supernet"])
    s = cfg.search
    # the search stage's own calibration and validation batches (its stream 'search', drawn first)
    calib, valid = eval_batches(train, data.valid, s.eval_batch_size, s.bn_batches, s.eval_batches,
                                stream(cfg.seed, "search"))
    return TrainedSupernet(cfg, result, space, size, supernet, calib, valid, data)


def _from_search(path: Path, device: torch.device) -> Rebuilt:
    """The found cell of a finished search run, BN recalibrated as the search stage did."""
    run = load_trained_supernet(path, device)
    space, result, supernet = run.space, run.result, run.supernet
    arch = torch.tensor(result["arch"], dtype=torch.long)
    space.validate(arch)
    if not hasattr(supernet, "extract"):
        raise TnasError(f"A search run of space '{space.name}' cannot be exported with inherited weights: its supernet "
                        "has no extract(arch). Train the found cell from scratch and export that run: "
                        f"`tnas train '{result.get('genotype', '')}' --space {space.name}`, then `tnas export RUN_DIR`.")
    recalibrate_bn(supernet, arch, run.calib, len(run.calib))
    net = supernet.extract(arch).eval()
    valid, train = run.valid, run.data.train
    measured = accuracy(net, valid)
    warn_accuracy(measured, result.get("supernet_valid_acc"), path)
    checks = {"valid_acc": measured, "supernet_valid_acc": result.get("supernet_valid_acc"),
              "bn_batches": len(run.calib), "valid_images": sum(int(y.numel()) for _, y in valid)}
    return Rebuilt(net, space, arch, run.size, "extract", "search", str(path),
                   normalization={"mean": list(train.mean), "std": list(train.std)},
                   sample=valid[0][0][:8].cpu(), checks=checks)


def _from_train(path: Path, tree: dict[str, Any], device: torch.device) -> Rebuilt:
    """The trained network of a finished `tnas train` run (`tree`: its config.yaml)."""
    ck = load_checkpoint(path / "ckpt" / "last.pt")
    state = ck.get("state") if isinstance(ck.get("state"), dict) else {}
    if ck.get("kind") != "train" or not state.get("done"):
        raise TnasError(f"'{path}' is an unfinished `tnas train` run ({state.get('epoch', '?')} epochs done): its "
                        f"network is not trained yet. Finish it with `tnas train --resume {path}`, then export.")
    cfg = train_config_from_dict(ck["config"])
    result = _result(path)
    space = get_space(cfg.space)
    check_result(result, path, space, expect_arch=space.from_genotype(cfg.genotype).tolist(), kind="train")
    spec = {"space": cfg.space, "arch": result["arch"], "builder": "network", "size": result["net"],
            "options": {"auxiliary": cfg.reg.auxiliary}}
    net = build_from_spec(spec, ck["model"], device)
    data = tree.get("_meta", {}).get("data", {}) if isinstance(tree.get("_meta"), dict) else {}
    norm = {"mean": data["mean"], "std": data["std"]} if isinstance(data, dict) and "mean" in data else None
    space = get_space(cfg.space)
    return Rebuilt(net, space, torch.tensor(result["arch"], dtype=torch.long), NetSize(**result["net"]), "network",
                   "train", str(path), options=spec["options"], normalization=norm,
                   checks={"test_acc": result.get("test_acc")})


def _from_export(path: Path, device: torch.device) -> Rebuilt:
    """A folder written by `tnas export`: network.json + the weights-only network.pt."""
    spec_path = path / SPEC_NAME
    try:
        spec = json.loads(spec_path.read_text())
    except (OSError, ValueError) as e:
        raise TnasError(f"'{spec_path}' is not readable JSON ({type(e).__name__}); export the run again with "
                        "`tnas export RUN_DIR`.") from None
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT or spec.get("version") != SPEC_VERSION:
        found = spec.get("version") if isinstance(spec, dict) else type(spec).__name__
        raise TnasError(f"'{spec_path}' is not a {SPEC_FORMAT} description of version {SPEC_VERSION} (found {found!r}); "
                        "export the run again with this tnas: `tnas export RUN_DIR`.")
    check_spec(spec, spec_path)
    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        raise TnasError(f"'{path}' has {SPEC_NAME} but no {WEIGHTS_NAME}; export the run again with "
                        "`tnas export RUN_DIR --format state`.")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)  # tensors only, never code
    except Exception as e:  # noqa: BLE001 - refused, truncated or not a torch file: unusable either way
        raise TnasError(f"'{weights}' could not be read as a weights-only state_dict ({type(e).__name__}); export "
                        "the run again with `tnas export RUN_DIR`.") from None
    net = build_from_spec(spec, state, device)
    space = get_space(spec["space"])
    return Rebuilt(net, space, torch.tensor(spec["arch"], dtype=torch.long), NetSize(**spec["size"]), spec["builder"],
                   "export", str(spec.get("run_dir", path)), options=dict(spec.get("options") or {}),
                   normalization=(spec.get("input") or {}).get("normalization"), checks=dict(spec.get("checks") or {}))


def build_from_spec(spec: dict[str, Any], state: dict[str, Tensor], device: torch.device) -> nn.Module:
    """The module `spec` describes (see `Rebuilt.spec`), with the weights `state`, in eval mode."""
    try:
        space = get_space(spec["space"])
        arch = torch.tensor(spec["arch"], dtype=torch.long)
        size = NetSize(**spec["size"])
        builder, options = spec["builder"], dict(spec.get("options") or {})
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise TnasError(f"The network description lacks or mangles {e}; export the run again with "
                        "`tnas export RUN_DIR`.") from None
    space.validate(arch)
    with torch.random.fork_rng(devices=[]):  # initial weights are overwritten by `state`
        if builder == "extract":
            net = build_supernet(space, size).extract(arch)
        elif builder == "network":
            family = get_family(space.name)
            if family.network is None:
                raise TnasError(f"Space '{space.name}' registers no stand-alone network builder; register the family "
                                "with network=... to rebuild its networks.")
            net = family.network(space, arch, size, options)
        else:
            raise TnasError(f"Unknown network builder {builder!r} in the description; expected 'extract' or 'network'.")
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise TnasError(f"The saved weights do not fit the network rebuilt for '{space.to_genotype(arch)}' ({first}); "
                        "the files are of another tnas version or damaged. Export the run again.") from None
    return net.to(device).eval()


@torch.no_grad()
def accuracy(net: nn.Module, batches: list[tuple[Tensor, Tensor]]) -> float:
    """Top-1 accuracy (%) of `net` (eval mode) over (x, y) batches."""
    correct = total = 0
    for x, y in batches:
        correct += int((net(x).argmax(1) == y).sum())
        total += int(y.numel())
    return 100.0 * correct / max(total, 1)
