"""Data parallelism under `torchrun`: NCCL on GPUs, gloo on CPU.

Every rank draws the same architecture and the same global batch (same generators), takes its
own slice of the batch, and gradients are summed across ranks before the optimizer step, so the
sampler's feedback and state stay identical on every rank and only rank 0 writes the run
directory. We all-reduce the gradients ourselves rather than wrapping the supernet in
DistributedDataParallel: a single-path step leaves most supernet parameters unused, which DDP
only tolerates with `find_unused_parameters=True` (an extra autograd-graph walk every step),
while here every rank knows exactly which parameters have gradients (the same path on all).
"""
from __future__ import annotations

import atexit
import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from tnas.errors import TnasError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _leave_group() -> None:
    if dist.is_initialized():
        if dist.get_backend() == "gloo":
            # every rank reaches the exit before any tears down its gloo pairs: a peer's closed pair
            # can abort a rank that is still leaving ("terminate called without an active exception",
            # seen under load). Bounded: a rank that has already gone must not hold the others.
            try:
                dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
            except RuntimeError:
                pass
        dist.destroy_process_group()


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); else a 1-process info."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        # leave the group before the interpreter exits: a gloo group torn down by its destructor
        # at exit can abort the process ("terminate called without an active exception")
        atexit.register(_leave_group)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local)


def device_for(device: torch.device, info: DistInfo) -> torch.device:
    """cuda -> this rank's GPU under torchrun."""
    if device.type == "cuda" and info.world > 1:
        return torch.device("cuda", info.local_rank)
    return device


def allreduce_grads(model: nn.Module, loss: torch.Tensor) -> torch.Tensor:
    """Sum the gradients of `model` and the loss shares over all ranks, as one flat buffer
    (one collective). Every rank ran the same path, so the same parameters have gradients.
    Returns the global loss."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch.cat([loss.detach().reshape(1)] + [g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    loss = flat[0]
    flat = flat[1:]
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
    return loss


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when present, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise TnasError(f"Unknown device '{name}'. Expected auto, cpu, cuda or cuda:N.") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TnasError(f"device={name} was requested but CUDA is not available here; use device=cpu or device=auto.")
    return dev


def allreduce_(tensors: list[torch.Tensor]) -> None:
    """Sum `tensors` in place over all ranks: one collective per dtype (one flat buffer each).
    The reduce of the gradient strategies' data parallelism (`tnas.strategy.parallel.Parallel`)."""
    for dtype in dict.fromkeys(t.dtype for t in tensors):
        group = [t for t in tensors if t.dtype == dtype]
        flat = torch.cat([t.reshape(-1) for t in group])
        dist.all_reduce(flat)
        offset = 0
        for t in group:
            t.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any (Ctrl-C reaches the ranks of a job at different
    steps, or only one node's; all must stop at the same step, or the others wait in a collective)."""
    if info.world <= 1:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def agreed_stop(flag: Callable[[], bool], info: DistInfo, device: torch.device,
                every: int = 10) -> Callable[[], bool]:
    """should_stop() for a loop run by every rank of a torchrun job, called once per step: the Ctrl-C
    `flag` agreed over the ranks (`any_rank`) at every `every`-th call, so that all ranks stop after
    the same step (a Ctrl-C reaches them at different steps, or only one node's). Checking every
    step would add a collective and a device sync per step; a stop comes at most `every` steps late.
    One process: `flag` itself, every call."""
    if info.world <= 1:
        return flag
    calls = [0]

    def should_stop() -> bool:
        calls[0] += 1
        return calls[0] % every == 0 and any_rank(flag(), info, device)

    return should_stop


def sync_from_main(tensors: list[torch.Tensor], info: DistInfo) -> float:
    """Make `tensors` rank 0's on every rank and return how far they were apart before: the largest
    |x_rank - x_0| over all ranks and elements (0.0 when the ranks were identical, as data parallelism
    with the same generators keeps them; nondeterministic GPU kernels could make them drift)."""
    if info.world <= 1 or not tensors:
        return 0.0
    flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])
    main = flat.clone()
    dist.broadcast(main, 0)
    spread = (flat - main).abs().max().reshape(1) if flat.numel() else flat.new_zeros(1)
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    offset = 0
    with torch.no_grad():
        for t in tensors:
            t.copy_(main[offset : offset + t.numel()].view_as(t).to(t.dtype))
            offset += t.numel()
    return float(spread.item())
