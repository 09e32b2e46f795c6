"""Transducer (RNN-T) loss for CPU and GPU training.

SpeechBrain 1.1's ``speechbrain.nnet.losses.transducer_loss`` needs numba with
CUDA; :func:`transducer_loss` has the same signature (relative lengths, as SpeechBrain
passes them). On a GPU, or with a gradient ``clamp``, it calls torchaudio's kernel. On a CPU
it calls :func:`rnnt_loss_batched`: torchaudio's CPU kernel walks one utterance at a time on
one thread (it was a third of a campaign training step on 2 cores), while the same
recursion written as batched tensor operations keeps both cores busy and is 10-20x faster
(``bench/train_throughput.py``); values and gradients agree with torchaudio to float rounding
(``tests/test_losses.py``).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import torch
import torchaudio

REDUCTIONS = ("mean", "batchmean", "sum", "none")


def rnnt_loss_batched(
    logits: torch.Tensor,
    targets: torch.Tensor,
    frames: torch.Tensor,
    labels: torch.Tensor,
    blank: int,
    reduction: str = "mean",
) -> torch.Tensor:
    """RNN-T negative log-likelihood with the forward (alpha) recursion as batched tensor ops.

    ``alpha[t, u]`` is the log-probability of emitting the first ``u`` labels within the first
    ``t`` frames, ``alpha[t, u] = logaddexp(alpha[t-1, u] + blank[t-1, u], alpha[t, u-1] + label[t, u-1])``.
    Within a frame the ``u`` recursion is a log-space prefix sum, so each frame is one
    ``logcumsumexp`` over the whole batch: ``alpha[t] = C[t] + logcumsumexp(alpha[t-1] + blank[t-1] - C[t])``
    with ``C[t, u]`` the cumulative label log-probabilities. Positions beyond an utterance's
    lengths never feed its own value, so padding needs no masking; autograd gives the gradient.

    Arguments
    ---------
    logits : torch.Tensor
        ``(batch, T, U+1, vocab)`` joint outputs before log-softmax.
    targets : torch.Tensor
        ``(batch, U)`` label ids.
    frames, labels : torch.Tensor
        Absolute lengths (frames of ``T``, labels of ``U``) per utterance.
    blank : int
        Id of the blank symbol.
    reduction : str
        ``mean`` (over utterances), ``sum`` or ``none``.

    Example
    -------
    >>> logits = torch.randn(2, 6, 4, 5)
    >>> targets = torch.tensor([[1, 2, 3], [4, 1, 0]])
    >>> frames, labels = torch.tensor([6, 3]), torch.tensor([3, 2])
    >>> ours = rnnt_loss_batched(logits, targets, frames, labels, blank=0, reduction="none")
    >>> theirs = torchaudio.functional.rnnt_loss(logits, targets.int(), frames.int(), labels.int(), blank=0,
    ...                                         reduction="none")
    >>> bool(torch.allclose(ours, theirs, rtol=1e-5))
    True
    """
    batch, num_frames, positions, _ = logits.shape
    if not (bool((frames >= 1).all()) and bool((frames <= num_frames).all())
            and bool((labels >= 0).all()) and bool((labels < positions).all())):
        raise ValueError(f"rnnt_loss_batched: lengths out of range (frames {frames.tolist()} for T={num_frames}, "
                         f"labels {labels.tolist()} for U={positions - 1})")
    log_probs = logits.float().log_softmax(dim=-1)
    blank_lp = log_probs[..., blank]  # (batch, T, U+1)
    index = targets.long().clamp(min=0)[:, None, :, None].expand(batch, num_frames, positions - 1, 1)
    label_lp = log_probs[:, :, :-1].gather(-1, index).squeeze(-1)  # (batch, T, U)
    cumulative = torch.cat((label_lp.new_zeros(batch, num_frames, 1), label_lp.cumsum(dim=-1)), dim=-1)
    alphas = [cumulative[:, 0]]
    for t in range(1, num_frames):
        arrive = alphas[-1] + blank_lp[:, t - 1]
        alphas.append(cumulative[:, t] + torch.logcumsumexp(arrive - cumulative[:, t], dim=-1))
    alpha = torch.stack(alphas, dim=1)
    rows = torch.arange(batch, device=logits.device)
    last, ends = frames.long() - 1, labels.long()
    nll = -(alpha[rows, last, ends] + blank_lp[rows, last, ends])
    if reduction == "mean":
        return nll.mean()
    if reduction == "sum":
        return nll.sum()
    return nll


def transducer_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    input_lens: torch.Tensor,
    target_lens: torch.Tensor,
    blank_index: int,
    reduction: str = "mean",
    clamp: float = -1.0,
    impl: str = "auto",
) -> torch.Tensor:
    """RNN-T loss of unnormalised ``logits (batch, T, U+1, vocab)``.

    Arguments
    ---------
    logits : torch.Tensor
        Joint network outputs before log-softmax.
    targets : torch.Tensor
        ``(batch, U)`` token ids without blanks.
    input_lens, target_lens : torch.Tensor
        Relative lengths in ``[0, 1]`` (SpeechBrain convention).
    blank_index : int
        Id of the blank symbol.
    reduction : str
        ``mean`` / ``batchmean`` (average over utterances), ``sum`` or ``none``.
    clamp : float
        Gradient clamp (``-1`` disables it); torchaudio's kernel applies it.
    impl : str
        ``auto`` (:func:`rnnt_loss_batched` on CPU without a clamp, else torchaudio), ``batched`` or
        ``torchaudio`` (e.g. to compare them: ``bench/train_throughput.py``).

    Example
    -------
    >>> logits = torch.randn(2, 6, 4, 5)
    >>> targets = torch.tensor([[1, 2, 3], [4, 1, 0]])
    >>> loss = transducer_loss(logits, targets, torch.tensor([1.0, 0.5]), torch.tensor([1.0, 2 / 3]), 0)
    >>> bool(loss > 0)
    True
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"transducer_loss: reduction={reduction!r}; expected mean, batchmean, sum or none")
    if impl not in ("auto", "batched", "torchaudio"):
        raise ValueError(f"transducer_loss: impl={impl!r}; expected auto, batched or torchaudio")
    frames = (input_lens * logits.shape[1]).round().int()
    labels = (target_lens * targets.shape[1]).round().int()
    reduction = "mean" if reduction == "batchmean" else reduction
    if impl == "batched" or (impl == "auto" and logits.device.type == "cpu" and clamp <= 0):
        return rnnt_loss_batched(logits, targets, frames, labels, blank_index, reduction)
    return torchaudio.functional.rnnt_loss(logits.float(), targets.int(), frames, labels, blank=blank_index,
                                           clamp=clamp, reduction=reduction)
