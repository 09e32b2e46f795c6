"""The recipe drops an update whose gradients are not finite (SpeechBrain's ``skip_nonfinite_grads``,
on in transducer_recipe.yaml): one NaN gradient must not turn every weight into NaN, which is how a
campaign run was lost (a finite loss, a NaN gradient, then NaN losses until Brain gave up)."""

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes" / "LibriSpeech"))


def _brain():
    from train import TransducerASR

    from speechbrain_tinyconf.recipe.hparams import load_detached

    hp = load_detached(ROOT / "tests" / "configs" / "tiny.yaml")
    asr = TransducerASR(modules=hp["modules"], opt_class=hp["opt_class"], hparams=hp, run_opts={"device": "cpu"},
                        checkpointer=None)
    asr.init_optimizers()
    return asr


def test_an_update_with_a_nan_gradient_is_dropped_and_a_finite_one_is_taken():
    asr = _brain()
    assert asr.skip_nonfinite_grads is True
    params = [p for p in asr.modules.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    for p in params:
        p.grad = torch.ones_like(p)
    params[0].grad[0] = float("nan")  # one element of one gradient
    asr.optimizers_step()
    assert all(torch.equal(a, p) for a, p in zip(before, params)), "a NaN gradient moved the weights"
    assert all(torch.isfinite(p).all() for p in params)
    for p in params:
        p.grad = torch.ones_like(p)
    asr.optimizers_step()
    assert any(not torch.equal(a, p) for a, p in zip(before, params)), "a finite update was dropped too"
