"""Under torchrun: several `tnas search` command lines in one launch (one process-group start-up
instead of one per search), then a check that the ranks' drift measure can see a difference.

    torchrun --nproc_per_node=2 ddp_searches.py OUT STRATEGY[,STRATEGY...] KEY=VALUE...

Each strategy runs `tnas.cli.main(["search", "strategy=S", KEY=VALUE..., "out=OUT/S"])`, exactly as
`torchrun -m tnas search ...` would. Then every rank holds its own rank number in a tensor and
`tnas.run.dist.sync_from_main` must report the spread (world - 1) and leave rank 0's value
everywhere. Exits non-zero on the first failure.
"""
from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from tnas.cli import main
from tnas.run.dist import DistInfo, sync_from_main


def _spread_is_seen() -> None:
    info = DistInfo(dist.get_rank(), dist.get_world_size())
    t = torch.full((3,), float(info.rank))
    spread = sync_from_main([t], info)
    assert spread == info.world - 1, spread
    assert torch.equal(t, torch.zeros(3)), t
    same = torch.ones(2)
    assert sync_from_main([same], info) == 0.0


if __name__ == "__main__":
    out, strategies, extra = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
    for strategy in strategies:
        rc = main(["search", "--no-progress", f"strategy={strategy}", *extra, f"out={out}/{strategy}"])
        if rc:
            sys.exit(rc)
    _spread_is_seen()
