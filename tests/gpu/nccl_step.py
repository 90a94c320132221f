"""Run under `torchrun --nproc_per_node=1` (tests/gpu/test_cuda.py): one single-path step with the
gradients all-reduced over a real NCCL group equals the same step without it."""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from tnas.run.dist import allreduce_grads
from tnas.space import get_space
from tnas.supernet import NB201Supernet


def grads(sync: bool) -> tuple[float, list[torch.Tensor]]:
    torch.manual_seed(0)
    net = NB201Supernet(C=8, N=1).cuda()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 3, 32, 32, generator=g).cuda(), torch.randint(0, 10, (16,), generator=g).cuda()
    loss = F.cross_entropy(net(x, get_space("nb201").sample_uniform(1, g)[0]), y)
    loss.backward()
    if sync:
        loss = allreduce_grads(net, loss)
    return float(loss), [p.grad.clone() for p in net.parameters() if p.grad is not None]


def main() -> None:
    torch.cuda.set_device(0)
    dist.init_process_group("nccl")
    assert dist.get_world_size() == 1
    loss_a, a = grads(sync=True)
    loss_b, b = grads(sync=False)
    assert loss_a == loss_b and len(a) == len(b) and all(torch.equal(u, v) for u, v in zip(a, b))
    dist.destroy_process_group()
    print("nccl allreduce ok")


if __name__ == "__main__":
    main()
