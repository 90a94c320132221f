"""Checks that need the loaded data or the built network, run before a run directory is claimed
or anything is trained (issue 10): a config that passes them does not fail later for a reason
that was knowable at the start.

`validate_config` (run/config.py) checks values on their own; these check them against the data
(batch sizes vs split sizes, labels vs classes) and the network (one probe forward pass at the
real image size and per-step batch, so a too-small image or an impossible width fails now).
"""
from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from tnas.checks import bad_value
from tnas.errors import TnasError

T = TypeVar("T")


def check_batch(key: str, batch_size: int, split: Any) -> None:
    """`batch_size` images per step must fit in `split` (an ImageSet): training drops the last
    incomplete batch, so a larger batch would leave an epoch empty."""
    if batch_size > len(split):
        raise bad_value(key, batch_size, f"at most {len(split)}, the number of images in split '{split.name}' "
                                         "(an epoch would hold no full batch)")


def built(make: Callable[[], T], what: str, fix: str) -> T:
    """`make()`, with an out-of-memory or shape failure turned into a TnasError naming the fix."""
    try:
        return make()
    except TnasError as e:  # the family's own check (e.g. a width too narrow for a block): add the config keys
        raise TnasError(f"Could not build the {what}: {e} {fix}") from None
    except (RuntimeError, MemoryError) as e:
        raise TnasError(f"Could not build the {what} ({_first_line(e)}). {fix}") from None


def probe_forward(model: nn.Module, forward: Callable[[torch.Tensor], Any], shape: tuple[int, ...],
                  device: torch.device, what: str, fix: str) -> None:
    """Run one training-mode forward pass on zeros of `shape` [B, C, H, W] without gradients and
    restore every buffer (BN statistics) afterwards, so the run is unchanged; a failure (an image
    too small for the network's reductions, a batch of one through batch norm) is a TnasError."""
    saved = copy.deepcopy(model.state_dict())
    mode = model.training
    try:
        model.train()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            forward(torch.zeros(shape, device=device))
    except (RuntimeError, ValueError, MemoryError) as e:
        raise TnasError(f"The {what} cannot run on input of shape {list(shape)} ({_first_line(e)}). {fix}") from None
    finally:
        model.load_state_dict(saved)
        model.train(mode)


def check_eval_memory(s: Any, train: Any, valid: Any, device: torch.device) -> None:
    """The search stage holds `s.bn_batches` calibration batches and up to `s.eval_batches`
    validation batches (float32) in memory at once: they must fit in half of it."""
    per_image = 4 * int(torch.tensor(train.shape).prod())
    images = s.bn_batches * min(s.eval_batch_size, len(train)) + min(s.eval_batches * s.eval_batch_size, len(valid))
    need, have = images * per_image, _memory_bytes(device)
    if need > have / 2:
        raise TnasError(
            f"search.bn_batches={s.bn_batches}, search.eval_batches={s.eval_batches} and search.eval_batch_size="
            f"{s.eval_batch_size} hold {images} images ({need / 2**30:.1f} GiB) for evaluating candidates, more than "
            f"half of the {have / 2**30:.1f} GiB on {device}. Lower search.bn_batches or search.eval_batch_size.")


def _memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__
