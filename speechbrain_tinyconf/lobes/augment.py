"""Augmentation SpeechBrain lacks: telephone-band speech, for models that must also hear 8 kHz audio.

:class:`Narrowband` is what a narrowband recording resampled to 16 kHz looks like: the signal is
resampled to ``narrow_rate`` and back with SpeechBrain's :class:`Resample` (torchaudio's sinc
resampler), so nothing above ``narrow_rate / 2`` survives, and is cut or padded back to its
length (an odd-length input otherwise grows by a sample). It takes and returns
``(batch, time)`` waveforms, so it fits in SpeechBrain's :class:`Augmenter`.

>>> import torch
>>> t = torch.arange(16001).unsqueeze(0) / 16000
>>> high, low = torch.sin(2 * torch.pi * 6000 * t), torch.sin(2 * torch.pi * 1000 * t)  # 6 kHz, 1 kHz
>>> Narrowband()(high).shape
torch.Size([1, 16001])
>>> bool(Narrowband()(high)[:, 200:-200].abs().max() < 0.01)  # above the 4 kHz band edge: gone
True
>>> bool((Narrowband()(low) - low)[:, 200:-200].abs().max() < 0.01)  # inside the band: kept
True
"""

from __future__ import annotations

import torch
from speechbrain.augment.time_domain import Resample


class Narrowband(torch.nn.Module):
    """Band-limits ``(batch, time)`` audio at ``sample_rate`` to ``narrow_rate / 2`` (same length)."""

    def __init__(self, sample_rate: int = 16000, narrow_rate: int = 8000):
        super().__init__()
        self.down = Resample(orig_freq=sample_rate, new_freq=narrow_rate)
        self.up = Resample(orig_freq=narrow_rate, new_freq=sample_rate)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        out = self.up(self.down(waveforms))
        length = waveforms.shape[1]
        if out.shape[1] >= length:
            return out[:, :length]
        return torch.nn.functional.pad(out, (0, length - out.shape[1]))
