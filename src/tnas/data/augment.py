"""Batched image augmentation and normalisation as tensor ops (airbench style).

Every function works on a whole batch at once: no per-sample Python on the hot path. Random
numbers come from the caller's `torch.Generator` (drawn on the generator's device, then moved to
the images' device) so one seed gives the same batches on CPU and GPU.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def default_padding(height: int) -> int:
    """Crop padding for an image side: 4 px at 32 px (the NB201/CIFAR recipe), scaled, at least 1.

    16 px (ImageNet16) -> 2, 8 px (digits) -> 1.
    """
    return max(1, round(4 * height / 32))


def _randoms(shape: tuple[int, ...], high: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """Integers in [0, high) drawn on the generator's device, returned on `device`."""
    return torch.randint(0, high, shape, generator=generator, device=generator.device).to(device)


def augment_batch(images: Tensor, *, padding: int, flip: bool, generator: torch.Generator) -> Tensor:
    """Random crop with zero padding plus random horizontal flip, for a whole batch.

    The crop pads each image by `padding` px of black (as torchvision's `RandomCrop(padding=p)`)
    and cuts a window of the original size at a random offset in [0, 2p] per image and axis. The
    flip mirrors each image with probability 1/2. Both are folded into one `gather` over the
    padded tensor: the flip just reverses the column index of the flipped images (torch.where).

    Args:
        images: uint8 (or any dtype) [B, C, H, W].
        padding: crop padding in pixels; 0 disables cropping.
        flip: whether to flip horizontally with probability 1/2.
        generator: source of randomness (2 * B integers and B flips per call).

    Returns:
        Tensor of the same dtype, shape and device as `images`.
    """
    if padding <= 0 and not flip:
        return images
    b, c, h, w = images.shape
    dev = images.device
    if padding > 0:
        offsets = _randoms((2, b), 2 * padding + 1, generator, dev)
        padded = F.pad(images, (padding, padding, padding, padding))
    else:
        offsets = torch.zeros(2, b, dtype=torch.long, device=dev)
        padded = images
    rows = offsets[0, :, None] + torch.arange(h, device=dev)  # [B, H]
    cols = offsets[1, :, None] + torch.arange(w, device=dev)  # [B, W]
    if flip:
        flips = _randoms((b,), 2, generator, dev).bool()
        cols = torch.where(flips[:, None], cols.flip(1), cols)
    src = padded.reshape(b, c, -1)
    # One gather over the flattened (padded) image: a single [B, 1, H*W] index, broadcast over
    # channels, was ~3x faster on CPU than two gathers (rows, then columns) or advanced indexing.
    flat = (rows[:, :, None] * padded.shape[3] + cols[:, None, :]).view(b, 1, h * w)
    return src.gather(2, flat.expand(b, c, h * w)).view(b, c, h, w)


def normalize(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """uint8 pixels [B, C, H, W] -> float32 (x / 255 - mean) / std, per channel.

    Args:
        images: uint8 [B, C, H, W], values 0..255.
        mean: per-channel mean of x / 255 (length C).
        std: per-channel standard deviation of x / 255 (length C).

    Returns:
        float32 [B, C, H, W] on the images' device.
    """
    shift, scale = _affine(tuple(mean), tuple(std), images.device)
    # One multiply-add: x * (1 / (255 std)) - mean / std.
    return torch.addcmul(shift, images.to(torch.float32), scale)


@functools.lru_cache(maxsize=64)
def _affine(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> tuple[Tensor, Tensor]:
    """(-mean / std, 1 / (255 std)) as [1, C, 1, 1] float32 on `device`, made once per device
    (saves two host-to-device copies per batch on CUDA)."""
    std_t = torch.tensor(std, dtype=torch.float64).view(1, -1, 1, 1)
    mean_t = torch.tensor(mean, dtype=torch.float64).view(1, -1, 1, 1)
    return (-(mean_t / std_t)).float().to(device), (1.0 / (255.0 * std_t)).float().to(device)


def channel_stats(images: Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images [N, C, H, W], in units of x / 255.

    Computed in float64 over chunks so large sets need little extra memory.
    """
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].to(torch.float64).div_(255.0)
        total += x.sum(dim=(0, 2, 3)).cpu()
        total_sq += x.square().sum(dim=(0, 2, 3)).cpu()
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(1e-12).sqrt()
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
