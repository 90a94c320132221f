"""Zero-cost proxies: training-free scores of a network at initialisation from one real minibatch.

Each proxy scores the stand-alone network of one architecture (built by the space's family with
fresh, seeded initial weights) on a batch x [B, C, H, W], y [B]; higher = better. Definitions
follow the papers and their public reference implementations (read, not copied):

- `naswot` (Mellor et al., ICML 2021, "Neural Architecture Search without Training", v2): the
  log-determinant of the Hamming kernel of the binary ReLU codes, K[i, j] = sum over every ReLU
  unit of [c_i == c_j] (c = input > 0), i.e. sum of c c^T + (1 - c)(1 - c)^T over ReLU calls.
- `synflow` (Tanaka et al., NeurIPS 2020; as a NAS proxy: Abdelfattah et al., ICLR 2021): with
  every weight replaced by its absolute value, BN removed, float64 and an all-ones input of one
  image, R = sum(logits); score = sum over conv / linear weights of |w * dR/dw|.
- `snip` (Lee et al., ICLR 2019; Abdelfattah et al.): sum |w * dL/dw| over conv / linear
  weights, L = cross-entropy of the batch.
- `grad_norm` (Abdelfattah et al.): sum over conv / linear layers of ||dL/dw||_2.
- `jacov` (Mellor et al., 2020, v1 of NASWOT): the per-image input Jacobians J_i = d sum(logits_i)
  / dx_i, their correlation matrix Sigma; score = -sum(log(v + k) + 1 / (v + k)) over its
  eigenvalues v, k = 1e-5.

Passes are shared: `naswot`, `jacov`, `snip` and `grad_norm` need one forward in train mode (BN
on batch statistics, as the reference code runs them) and at most two backward passes (input
gradient, then weight gradient); `synflow` needs its own pass on a BN-free float64 copy.

ReLUs are found by intercepting every ReLU call (`torch.nn.functional.relu`, `torch.relu` and
their in-place forms, which `nn.ReLU` uses too) with a `TorchFunctionMode`, so functional ReLUs
count as well as `nn.ReLU` modules; a network without ReLUs gets a clear error for `naswot`.
"""
from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from tnas.errors import TnasError

ZERO_COST = ("naswot", "synflow", "snip", "grad_norm", "jacov")
_JACOV_K = 1e-5
_RELUS = {F.relu, torch.relu, torch.relu_, torch.nn.functional.relu_}
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


class _ReLUCodes(TorchFunctionMode):
    """Accumulates the NASWOT kernel over every ReLU call: K += c c^T + (1 - c)(1 - c)^T with
    c = (input > 0) per image (float64 [B, B]); counts the calls."""

    def __init__(self, batch: int) -> None:
        super().__init__()
        self.K = torch.zeros(batch, batch, dtype=torch.float64)
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's signature
        if func in _RELUS and args and isinstance(args[0], Tensor) and args[0].dim() >= 1:
            x = args[0].detach()
            if x.shape[0] == self.K.shape[0]:
                c = (x.reshape(x.shape[0], -1) > 0).float()
                # c c^T + (1 - c)(1 - c)^T = 2 c c^T - r 1^T - 1 r^T + P (r = ones per image, P =
                # units): one matmul instead of two; float32 sums of 0/1 are exact below 2^24 units
                r = c.sum(1, dtype=torch.float64).cpu()
                cc = (c @ c.T).double().cpu()
                self.K += 2 * cc - r[:, None] - r[None, :] + c.shape[1]
                self.calls += 1
        return func(*args, **(kwargs or {}))


def _weighted_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, _WEIGHTED)]


def _logdet(K: Tensor) -> float:
    sign, value = torch.linalg.slogdet(K)
    if float(sign) > 0:
        return float(value)
    # K is a sum of Gram matrices (positive semi-definite); a singular K (two images with the same
    # codes everywhere) has no finite log-determinant. A ridge of 1e-6 of its mean diagonal gives a
    # finite value far below any regular network's, so it ranks last and samplers can learn from it.
    ridge = 1e-6 * float(K.diagonal().mean().clamp_min(1.0))
    return float(torch.linalg.slogdet(K + ridge * torch.eye(K.shape[0], dtype=K.dtype))[1])


def _jacov(jacobians: Tensor) -> float:
    """-sum(log(v + k) + 1/(v + k)) over eigenvalues v of the correlation of the rows of J [B, P]."""
    J = jacobians.reshape(jacobians.shape[0], -1).double()
    J = J - J.mean(1, keepdim=True)
    norms = J.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):  # an image whose Jacobian is constant: correlation undefined
        return _jacov_floor(J.shape[0])
    J = J / norms
    v = torch.linalg.eigvalsh(J @ J.T).clamp_min(0)
    return float(-(torch.log(v + _JACOV_K) + 1.0 / (v + _JACOV_K)).sum())


def _jacov_floor(batch: int) -> float:
    """jacov's lowest value (every eigenvalue 0): a finite score for a network whose output ignores its input."""
    return -batch * (math.log(_JACOV_K) + 1.0 / _JACOV_K)


def _without_bn(net: nn.Module) -> nn.Module:
    """A float64 copy of `net` with every BatchNorm replaced by the identity (synflow's network)."""
    clone = copy.deepcopy(net).double()
    for module in list(clone.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, name, nn.Identity())
    return clone


def _synflow(net: nn.Module, x: Tensor) -> float:
    clone = _without_bn(net)
    clone.eval()  # dropout (a stand-alone network may have one) must not zero paths
    with torch.no_grad():
        for p in clone.parameters():
            p.abs_()
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    clone.zero_grad(set_to_none=True)
    clone(ones).sum().backward()
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for m in _weighted_layers(clone):
        if m.weight.grad is not None:
            total += (m.weight * m.weight.grad).abs().sum()
    return float(total.detach())


def zero_cost_scores(net: nn.Module, x: Tensor, y: Tensor, names: Sequence[str]) -> dict[str, float]:
    """The zero-cost proxies `names` of `net` (at its current, i.e. initial, weights) on one batch.

    Args:
        net: a stand-alone network, logits [B, classes] from images [B, C, H, W]; its BN runs on
            batch statistics (train mode) for the shared pass; its weights are left unchanged
            (its gradients are cleared).
        x: float [B, C, H, W] images (normalised as for training), on the network's device.
        y: long [B] labels.
        names: proxies from `ZERO_COST`, each at most once.
    Returns:
        {name: score} (higher = better, always finite: a degenerate network gets a value below every regular one).
    """
    unknown = [n for n in names if n not in ZERO_COST]
    if unknown:
        raise TnasError(f"Unknown zero-cost proxy {unknown[0]!r}; expected one of {', '.join(ZERO_COST)}.")
    out: dict[str, float] = {}
    want = set(names)
    if want & {"naswot", "jacov", "snip", "grad_norm"}:
        out.update(_shared_pass(net, x, y, want))
    if "synflow" in want:
        out["synflow"] = _synflow(net, x)
    return {n: out[n] for n in names}


def _shared_pass(net: nn.Module, x: Tensor, y: Tensor, want: set[str]) -> dict[str, float]:
    """One train-mode forward (NASWOT codes recorded), the input gradient of sum(logits) for
    jacov, then the weight gradient of the cross-entropy for snip and grad_norm."""
    was_training = net.training
    net.train()
    net.zero_grad(set_to_none=True)
    xin = x.detach().clone().requires_grad_("jacov" in want)
    codes = _ReLUCodes(x.shape[0])
    out: dict[str, float] = {}
    try:
        grads = torch.enable_grad() if want - {"naswot"} else torch.no_grad()
        with grads, codes if "naswot" in want else contextlib.nullcontext():
            logits = net(xin)
        if "naswot" in want:
            if codes.calls == 0:
                raise TnasError("Zero-cost proxy 'naswot' needs a network with ReLUs (it scores their binary "
                                "activation codes); this network applies none. Use another score, e.g. synflow.")
            out["naswot"] = _logdet(codes.K)
        weights_wanted = bool(want & {"snip", "grad_norm"})
        if "jacov" in want:
            (jac,) = torch.autograd.grad(logits.sum(), xin, retain_graph=weights_wanted, allow_unused=True)
            # None: the output does not depend on the input (a disconnected cell): no correlation to score
            out["jacov"] = _jacov_floor(x.shape[0]) if jac is None else _jacov(jac)
        if weights_wanted:
            F.cross_entropy(logits, y).backward()
            layers = [m for m in _weighted_layers(net) if m.weight.grad is not None]
            if "snip" in want:
                out["snip"] = float(sum((m.weight.detach() * m.weight.grad).abs().sum().double() for m in layers))
            if "grad_norm" in want:
                out["grad_norm"] = float(sum(m.weight.grad.norm().double() for m in layers))
    finally:
        net.zero_grad(set_to_none=True)
        net.train(was_training)
    return out
