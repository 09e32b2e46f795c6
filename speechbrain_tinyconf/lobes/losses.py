"""Transducer loss on CPU and GPU through torchaudio.

SpeechBrain 1.1's ``speechbrain.nnet.losses.transducer_loss`` needs numba with
CUDA; this function has the same signature (relative lengths, as SpeechBrain
passes them) and calls ``torchaudio.functional.rnnt_loss`` instead.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import torch
import torchaudio


def transducer_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    input_lens: torch.Tensor,
    target_lens: torch.Tensor,
    blank_index: int,
    reduction: str = "mean",
    clamp: float = -1.0,
) -> torch.Tensor:
    """RNN-T loss of unnormalised ``logits (batch, T, U+1, vocab)``.

    Arguments
    ---------
    logits : torch.Tensor
        Joint network outputs before log-softmax (fused inside torchaudio).
    targets : torch.Tensor
        ``(batch, U)`` token ids without blanks.
    input_lens, target_lens : torch.Tensor
        Relative lengths in ``[0, 1]`` (SpeechBrain convention).
    blank_index : int
        Id of the blank symbol.
    reduction : str
        ``mean`` / ``batchmean`` (average over utterances), ``sum`` or ``none``.
    clamp : float
        Gradient clamp passed to torchaudio (``-1`` disables it).

    Example
    -------
    >>> logits = torch.randn(2, 6, 4, 5)
    >>> targets = torch.tensor([[1, 2, 3], [4, 1, 0]])
    >>> loss = transducer_loss(logits, targets, torch.tensor([1.0, 0.5]), torch.tensor([1.0, 2 / 3]), 0)
    >>> bool(loss > 0)
    True
    """
    if reduction not in ("mean", "batchmean", "sum", "none"):
        raise ValueError(f"transducer_loss: reduction={reduction!r}; expected mean, batchmean, sum or none")
    frames = (input_lens * logits.shape[1]).round().int()
    labels = (target_lens * targets.shape[1]).round().int()
    return torchaudio.functional.rnnt_loss(
        logits.float(),
        targets.int(),
        frames,
        labels,
        blank=blank_index,
        clamp=clamp,
        reduction="mean" if reduction == "batchmean" else reduction,
    )
