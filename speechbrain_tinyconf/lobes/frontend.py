"""Feature front-ends selectable from the recipe YAML (``frontend: speechbrain | kaldi``).

``kaldi`` computes the log-mel filterbank that sherpa-onnx computes itself at inference time
(kaldi-native-fbank with sherpa-onnx's defaults: 80 bins, 25/10 ms frames, povey window,
dither 0, ``snip_edges=False``, 20 Hz to Nyquist - 400 Hz, pre-emphasis 0.97, DC removed,
samples in [-1, 1], no CMVN), so a model trained on it can be run by sherpa-onnx. It uses
torchaudio's Kaldi-compliance implementation; ``tests/test_frontend.py`` checks it against
kaldi-native-fbank itself.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import torch
from speechbrain.utils.filter_analysis import FilterProperties

FRONTENDS = ("speechbrain", "kaldi")


class KaldiFbank(torch.nn.Module):
    """Kaldi-compatible log-mel filterbank of a batch of waveforms, as sherpa-onnx computes it.

    Arguments
    ---------
    sample_rate : int
        Audio sample rate (Hz).
    n_mels : int
        Mel bins (sherpa-onnx's ``feature_dim``).
    frame_length_ms, frame_shift_ms : float
        Window and hop.
    low_freq, high_freq : float
        Mel range in Hz; a ``high_freq`` <= 0 is an offset from Nyquist (sherpa-onnx: -400).

    Example
    -------
    >>> fbank = KaldiFbank()
    >>> fbank(torch.zeros(2, 16000)).shape
    torch.Size([2, 100, 80])
    """

    def __init__(self, sample_rate: int = 16000, n_mels: int = 80, frame_length_ms: float = 25.0,
                 frame_shift_ms: float = 10.0, low_freq: float = 20.0, high_freq: float = -400.0):
        super().__init__()
        self.sample_rate, self.n_mels = int(sample_rate), int(n_mels)
        self.frame_length_ms, self.frame_shift_ms = float(frame_length_ms), float(frame_shift_ms)
        self.low_freq, self.high_freq = float(low_freq), float(high_freq)

    def forward(self, wavs: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` in [-1, 1] -> ``(batch, frames, n_mels)``; frames = round(samples / hop)."""
        from torchaudio.compliance.kaldi import fbank

        with torch.no_grad():
            feats = [
                fbank(wav[None].float(), num_mel_bins=self.n_mels, frame_length=self.frame_length_ms,
                      frame_shift=self.frame_shift_ms, dither=0.0, preemphasis_coefficient=0.97,
                      remove_dc_offset=True, window_type="povey", round_to_power_of_two=True,
                      low_freq=self.low_freq, high_freq=self.high_freq, snip_edges=False, use_energy=False,
                      sample_frequency=float(self.sample_rate))
                for wav in wavs
            ]
        return torch.stack(feats).to(wavs.device)

    def get_filter_properties(self) -> FilterProperties:
        """Window and stride in samples, for SpeechBrain's ``StreamingFeatureWrapper``."""
        return FilterProperties(window_size=round(self.sample_rate * self.frame_length_ms / 1000),
                                stride=round(self.sample_rate * self.frame_shift_ms / 1000))

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, frame_length_ms={self.frame_length_ms:g}, "
                f"frame_shift_ms={self.frame_shift_ms:g}, low_freq={self.low_freq:g}, high_freq={self.high_freq:g}")


def make_frontend(kind: str = "speechbrain", sample_rate: int = 16000, n_mels: int = 80, n_fft: int = 400,
                  win_length: float = 25) -> torch.nn.Module:
    """The recipe's ``compute_features``: SpeechBrain's ``Fbank`` or :class:`KaldiFbank`.

    Example
    -------
    >>> type(make_frontend("kaldi")).__name__, type(make_frontend("speechbrain")).__name__
    ('KaldiFbank', 'Fbank')
    >>> make_frontend("mfcc")
    Traceback (most recent call last):
    ...
    ValueError: frontend='mfcc': expected one of speechbrain, kaldi
    """
    if kind == "speechbrain":
        from speechbrain.lobes.features import Fbank

        return Fbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, win_length=win_length)
    if kind == "kaldi":
        return KaldiFbank(sample_rate=sample_rate, n_mels=n_mels, frame_length_ms=win_length)
    raise ValueError(f"frontend={kind!r}: expected one of {', '.join(FRONTENDS)}")
