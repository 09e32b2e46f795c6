"""Faster training on CPU: bf16 autocast where the CPU supports it, and a cheaper dropout mask.

:func:`cpu_precision` is the precision a CPU run actually gets: ``bf16`` (SpeechBrain's
autocast; losses and checkpoints stay fp32) needs a CPU with bf16 support (AVX512-BF16 or
AMX), otherwise the run falls back to ``fp32`` with one warning line.

:class:`FastDropout` is swapped into a model in place of ``nn.Dropout``. On a 2-core CPU, ``nn.Dropout``'s ``bernoulli_`` mask was the second most expensive op of a
training step (19 % of a ``shared_lowrank_5M`` step in fp32, 23 % in bf16: it draws one random
number per element). :class:`FastDropout` draws four 16-bit random integers per 64-bit draw
and keeps an element when its integer clears ``p`` quantised to 1/65,536, so its mask costs a
third of the time (8.5 ms against 25-35 ms for 3.3 M elements, measured). It is the same
distribution up to that quantisation (keep probability ``1 - round(p * 65536) / 65536``; the
kept values are scaled by its inverse, so the expectation is exact), uses torch's generator
(seeded runs stay reproducible), has no parameters (checkpoints are unchanged) and is the
identity in eval mode (inference and export are unchanged). Off the CPU it is ``nn.Dropout``.

>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.1))
>>> use_fast_dropout(model)
1
>>> model[1]
FastDropout(p=0.1, inplace=False)
>>> x = torch.ones(1000, 100)
>>> kept = (model[1](x) != 0).float().mean().item()
>>> 0.89 < kept < 0.91
True
"""

from __future__ import annotations

import logging

import torch
from torch import nn

logger = logging.getLogger(__name__)
_INT64 = torch.iinfo(torch.int64)
_LEVELS = 1 << 16


class FastDropout(nn.Dropout):
    """``nn.Dropout`` whose CPU training mask comes from 16-bit integers (see the module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu":
            return super().forward(x)
        if self.p == 1.0:
            return torch.zeros_like(x)
        dropped = round(self.p * _LEVELS)
        n = x.numel()
        draws = torch.randint(_INT64.min, _INT64.max, ((n + 3) // 4,), dtype=torch.int64)
        keep = draws.view(torch.int16)[:n].view(x.shape) >= dropped - _LEVELS // 2
        scale = _LEVELS / (_LEVELS - dropped)
        out = x * keep.to(x.dtype).mul_(scale)
        return out if not self.inplace else x.copy_(out)


def use_fast_dropout(model: nn.Module) -> int:
    """Replaces every ``nn.Dropout`` inside ``model`` by a :class:`FastDropout` of the same ``p``;
    returns how many were replaced."""
    swaps = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if type(child) is nn.Dropout]
    for parent, name, child in swaps:
        setattr(parent, name, FastDropout(child.p, child.inplace).train(child.training))
    return len(swaps)


def bf16_supported() -> bool:
    """True when oneDNN runs bf16 natively on this CPU (AVX512-BF16, AMX or AVX512 core)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cpu_precision(precision: str, device: str, supported: bool = None) -> str:
    """``precision`` for a run on ``device``; ``bf16`` on a CPU without bf16 support becomes
    ``fp32``, with one warning line (GPU runs are left to SpeechBrain).

    >>> cpu_precision("bf16", "cpu", supported=False)
    'fp32'
    >>> cpu_precision("bf16", "cuda:0", supported=False)
    'bf16'
    """
    if precision != "bf16" or not str(device).startswith("cpu"):
        return precision
    if supported is None:
        supported = bf16_supported()
    if not supported:
        logger.warning("precision=bf16: this CPU has no bf16 support (AVX512-BF16/AMX); training in fp32")
        return "fp32"
    return precision
