"""The CPU transducer loss (batched recursion) against torchaudio's kernel: values and gradients."""

import pytest
import torch
import torchaudio

from speechbrain_tinyconf.lobes.losses import rnnt_loss_batched, transducer_loss


def _batch(seed, batch=5, frames=40, labels=9, vocab=17, scale=3.0):
    gen = torch.Generator().manual_seed(seed)
    logits = (scale * torch.randn(batch, frames, labels + 1, vocab, generator=gen)).requires_grad_()
    targets = torch.randint(1, vocab, (batch, labels), generator=gen, dtype=torch.int32)
    frame_lens = torch.randint(labels, frames + 1, (batch,), generator=gen, dtype=torch.int32)
    label_lens = torch.randint(0, labels + 1, (batch,), generator=gen, dtype=torch.int32)
    frame_lens[0], label_lens[0] = frames, labels  # one full-length row, as in every padded batch
    label_lens[1] = 0  # an empty transcript: all blanks
    return logits, targets, frame_lens, label_lens


@pytest.mark.parametrize("seed,scale", [(0, 1.0), (1, 3.0), (2, 10.0)])
def test_batched_loss_and_gradient_equal_torchaudio(seed, scale):
    logits, targets, frames, labels = _batch(seed, scale=scale)
    ours = rnnt_loss_batched(logits, targets, frames, labels, blank=0, reduction="none")
    theirs = torchaudio.functional.rnnt_loss(logits, targets, frames, labels, blank=0, reduction="none")
    # losses of 120-760 nats in fp32: measured max |diff| 3e-5 to 9e-5 over these three seeds
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=2e-4), (ours - theirs).abs().max()
    (g_ours,) = torch.autograd.grad(ours.mean(), logits)
    (g_theirs,) = torch.autograd.grad(theirs.mean(), logits)
    # gradients are softmax differences in [-1, 1]: measured max |diff| 6e-6 to 2.4e-5
    assert torch.allclose(g_ours, g_theirs, atol=1e-4), (g_ours - g_theirs).abs().max()
    # padding beyond each utterance's lengths gets no gradient
    assert g_ours[2, frames[2]:].abs().sum() == 0 and g_ours[2, :, labels[2] + 1:].abs().sum() == 0


def test_blank_index_other_than_zero_and_reductions():
    logits, targets, frames, labels = _batch(3, vocab=9)
    blank = 8
    targets = targets.clamp(max=7)
    per = torchaudio.functional.rnnt_loss(logits, targets, frames, labels, blank=blank, reduction="none")
    assert torch.allclose(rnnt_loss_batched(logits, targets, frames, labels, blank, "none"), per, atol=2e-4)
    assert torch.allclose(rnnt_loss_batched(logits, targets, frames, labels, blank, "sum"), per.sum(), atol=1e-3)
    assert torch.allclose(rnnt_loss_batched(logits, targets, frames, labels, blank, "mean"), per.mean(), atol=2e-4)


def test_transducer_loss_uses_the_batched_loss_on_cpu_and_torchaudio_for_a_clamp(monkeypatch):
    logits, targets, frames, labels = _batch(4)
    rel_frames, rel_labels = frames / logits.shape[1], labels / targets.shape[1]
    calls = []
    real = torchaudio.functional.rnnt_loss
    monkeypatch.setattr(torchaudio.functional, "rnnt_loss", lambda *a, **k: calls.append(k) or real(*a, **k))
    loss = transducer_loss(logits, targets, rel_frames, rel_labels, 0, reduction="batchmean")
    assert calls == []
    assert torch.allclose(loss, real(logits, targets, frames, labels, blank=0), atol=2e-4)
    transducer_loss(logits, targets, rel_frames, rel_labels, 0, clamp=1.0)
    assert len(calls) == 1 and calls[0]["clamp"] == 1.0
    transducer_loss(logits, targets, rel_frames, rel_labels, 0, impl="torchaudio")
    assert len(calls) == 2
    with pytest.raises(ValueError, match="impl='numba'"):
        transducer_loss(logits, targets, rel_frames, rel_labels, 0, impl="numba")
    with pytest.raises(ValueError, match="reduction='avg'"):
        transducer_loss(logits, targets, rel_frames, rel_labels, 0, reduction="avg")


def test_lengths_out_of_range_are_refused_not_wrapped():
    """A zero frame length would index frame -1 (the last) and give a wrong, finite loss."""
    logits, targets, frames, labels = _batch(5)
    frames[2] = 0
    with pytest.raises(ValueError, match="lengths out of range"):
        rnnt_loss_batched(logits, targets, frames, labels, blank=0)
    frames[2], labels[3] = 10, targets.shape[1] + 1
    with pytest.raises(ValueError, match="lengths out of range"):
        rnnt_loss_batched(logits, targets, frames, labels, blank=0)
