"""How a run computes on its device: bf16 autocast, the channels-last layout and how often the
training loops wait for the GPU. Resolved once from the config (`resolve_accel`) and applied to
a model in one place (`Accel.prepare`), for supernet training, search-stage evaluation and
`tnas train` alike.

Config keys (`tnas search` and `tnas train`):
    precision=auto|fp32|bf16      auto = bf16 on CUDA (where the GPU supports it), fp32 on CPU
    channels_last=auto|on|off     auto = the model's own choice on CPU (the NB201 and DARTS
                                  supernets run NHWC there), NHWC on CUDA with bf16
    sync_every=N                  steps between host syncs of the loop's losses and scores;
                                  default: every step on CPU (free there), 50 on CUDA

With the defaults on CPU `prepare` changes nothing, so CPU results stay what they were.
"""
from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

PRECISIONS = ("auto", "fp32", "bf16")
LAYOUTS = ("auto", "on", "off")
# Steps between host syncs on CUDA when sync_every is not set: long enough that the GPU queue
# never drains (a sync costs one full drain), short enough that the progress bar and the
# sampler's feedback lag by well under a second at NB201 sizes.
CUDA_SYNC_EVERY = 50


@dataclass(frozen=True)
class Accel:
    """The resolved settings.

    Attributes:
        device: where the model and the data live.
        bf16: run forward passes under bf16 autocast (outputs are returned as float32, so losses
            and scores are computed in float32; weights and optimizer state stay float32).
        channels_last: NHWC activations (True), NCHW (False), or None = leave the model's default.
        sync_every: the training loops read losses and scores back to the host every this many
            steps (one sync), not every step.
    """

    device: torch.device
    bf16: bool = False
    channels_last: bool | None = None
    sync_every: int = 1

    def prepare(self, model: nn.Module) -> nn.Module:
        """Apply the layout and the precision to `model` in place and return it.

        Models with a `channels_last` attribute (the NB201 and DARTS supernets, the NB201
        network) convert their input themselves; others get their input converted by the
        wrapped forward. Either way the weights are stored NHWC too, so no convolution converts
        its weight on every call. The state_dict keys do not change (the forward is wrapped on
        the instance, as HF Accelerate does for mixed precision, not by a wrapper module), so
        checkpoints load either way.
        """
        convert_input = False
        if self.channels_last is not None:
            if hasattr(model, "channels_last"):
                model.channels_last = self.channels_last
            else:
                convert_input = self.channels_last
            model.to(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        if self.bf16 or convert_input:
            _wrap_forward(model, self.device.type, torch.bfloat16 if self.bf16 else None, convert_input)
        return model

    def describe(self) -> dict[str, Any]:
        """For env.json and the log: {'precision', 'channels_last', 'sync_every'}."""
        layout = "model default" if self.channels_last is None else "on" if self.channels_last else "off"
        return {"precision": "bf16" if self.bf16 else "fp32", "channels_last": layout, "sync_every": self.sync_every}


def resolve_accel(device: torch.device | str, precision: str = "auto", channels_last: str = "auto",
                  sync_every: int | None = None) -> Accel:
    """The settings for `device` (config values checked by the config's field rules).

    Args:
        precision: 'auto' (bf16 on a CUDA device that supports it, else fp32), 'fp32' or 'bf16'
            (bf16 on CPU runs too, through CPU autocast: slower on CPUs without bf16 units).
        channels_last: 'auto', 'on' or 'off' (see the module docstring).
        sync_every: steps between host syncs; None = 1 on CPU, `CUDA_SYNC_EVERY` on CUDA.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    if precision == "auto":
        bf16 = cuda and torch.cuda.is_bf16_supported()
    else:
        bf16 = precision == "bf16"
    if channels_last == "auto":
        # cuDNN's bf16 tensor-core convolutions are NHWC-native; in fp32 on CUDA and on CPU the
        # models keep their own (measured) defaults. benchmarks/gpu_check.py times both layouts.
        layout = True if cuda and bf16 else None
    else:
        layout = channels_last == "on"
    every = sync_every if sync_every is not None else CUDA_SYNC_EVERY if cuda else 1
    return Accel(device, bf16, layout, every)


def _wrap_forward(model: nn.Module, device_type: str, dtype: torch.dtype | None, convert_input: bool) -> None:
    """Replace `model.forward` on the instance by the class's forward under autocast (and with
    an NHWC input). Bound with MethodType, so `copy.deepcopy(model)` rebinds it to the copy;
    calling `prepare` again wraps the class's forward afresh (the last settings win)."""
    inner = type(model).forward

    def forward(self: nn.Module, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if convert_input:
            x = x.contiguous(memory_format=torch.channels_last)
        if dtype is None:
            return inner(self, x, *args, **kwargs)
        with torch.autocast(device_type, dtype=dtype):
            out = inner(self, x, *args, **kwargs)
        return _float32(out)

    model.forward = types.MethodType(forward, model)


def _float32(out: Any) -> Any:
    """Floating tensors of a forward output (a tensor or a tuple such as (logits, aux)) as float32."""
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, (tuple, list)):
        return type(out)(_float32(o) for o in out)
    return out
