"""CPU training speed-ups (speechbrain_tinyconf/cpu_training.py), the telephone-band augmentation
and early stopping: same distributions, same inference, the fallbacks and the wiring in the recipe."""

import logging

import pytest
import torch

from speechbrain_tinyconf.recipe.cpu_training import FastDropout, cpu_precision, use_fast_dropout
from speechbrain.utils.epoch_loop import EpochCounter

from speechbrain_tinyconf.recipe.progress import epoch_counter


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_fast_dropout_keeps_each_element_with_the_same_probability_and_scale(p):
    torch.manual_seed(0)
    x = torch.ones(1000, 1000)
    y = FastDropout(p).train()(x)
    kept = y != 0
    # 1e6 Bernoulli draws: std of the kept share is sqrt(p(1-p)/1e6) <= 5e-4; 4 std, plus the 1/65536 quantisation
    assert abs(kept.float().mean().item() - (1 - p)) < 2.1e-3
    dropped = round(p * 65536)
    assert torch.allclose(y[kept], torch.full_like(y[kept], 65536 / (65536 - dropped)))  # E[y] = x exactly
    assert abs(y.mean().item() - 1.0) < 4e-3


def test_fast_dropout_gradient_is_the_mask_and_eval_is_identity():
    torch.manual_seed(1)
    x = torch.randn(64, 33, requires_grad=True)
    layer = FastDropout(0.2).train()
    torch.manual_seed(2)
    y = layer(x)
    y.sum().backward()
    mask = (y != 0).float().mul_(65536 / (65536 - round(0.2 * 65536)))
    assert torch.equal(x.grad, mask)  # d(x*m)/dx = m
    assert layer.eval()(x) is x
    torch.manual_seed(2)
    again = FastDropout(0.2).train()(x)
    assert torch.equal(again, y)  # torch's generator: seeded runs repeat


def test_swapped_model_is_unchanged_for_inference_and_checkpoints():
    from speechbrain_tinyconf.lobes.lowrank import svd_init_skipped
    from speechbrain_tinyconf.recipe.hparams import load_detached

    with svd_init_skipped():  # any weights do: the SVDs of random dense weights would only cost time
        hp = load_detached("hparams/shared_lowrank_5M.yaml", {"num_encoder_layers": 4, "sharing": {"unique_blocks": 2}})
    model = hp["model"].eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(1, 40, 256)
    enc = hp["Transformer"].encoder
    pos = hp["Transformer"].positional_encoding(x)
    reference = enc(x, pos_embs=pos)[0]
    n = use_fast_dropout(model)
    assert n > 0 and not any(type(m) is torch.nn.Dropout for m in model.modules())
    assert all(isinstance(m, FastDropout) for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert torch.equal(enc(x, pos_embs=pos)[0], reference)
    assert model.state_dict().keys() == before.keys()


def test_bf16_without_cpu_support_falls_back_to_fp32_with_one_line(caplog):
    with caplog.at_level(logging.WARNING):
        assert cpu_precision("bf16", "cpu", supported=False) == "fp32"
    assert len(caplog.records) == 1 and "training in fp32" in caplog.records[0].getMessage()
    assert cpu_precision("bf16", "cpu", supported=True) == "bf16"
    assert cpu_precision("fp32", "cpu", supported=False) == "fp32"


def test_a_resumed_run_remembers_its_best_dev_wer(tmp_path):
    """Through SpeechBrain's Checkpointer, as a relaunch recovers it. SpeechBrain 1.1.2's
    EpochCounterWithStopper alone saved only the epoch: the resumed counter had no best WER, so two
    evaluations without improvement after a relaunch did not stop the run (seen 2026-12-06)."""
    from speechbrain.utils.checkpoints import Checkpointer

    counter = epoch_counter(limit=50, early_stop_patience=2)
    for wer in [70.0, 66.66, 67.29]:  # epoch 3 did not improve
        next(counter)
        counter.update_metric(wer)
    Checkpointer(tmp_path, {"counter": counter}).save_checkpoint()
    resumed = epoch_counter(limit=50, early_stop_patience=2)
    Checkpointer(tmp_path, {"counter": resumed}).recover_if_possible()
    assert (resumed.current, resumed.best_score, resumed.best_limit) == (3, 66.66, 2)
    epochs = []
    for epoch in resumed:
        epochs.append(epoch)
        resumed.update_metric(67.02)
    assert epochs == [4]  # the second evaluation without improvement stops it


def test_a_checkpoint_from_before_the_fix_still_resumes(tmp_path):
    """Runs saved by EpochCounter's hook hold the epoch alone: it is restored, the patience starts again."""
    from speechbrain.utils.checkpoints import Checkpointer

    old = EpochCounter(50)
    next(old), next(old)
    Checkpointer(tmp_path, {"counter": old}).save_checkpoint()
    resumed = epoch_counter(limit=50, early_stop_patience=2)
    Checkpointer(tmp_path, {"counter": resumed}).recover_if_possible()
    assert resumed.current == 2 and resumed.best_score == float("inf")


def test_early_stopping_counts_evaluations_not_epochs():
    counter = epoch_counter(limit=50, early_stop_patience=2, valid_search_interval=3)
    wers = {3: 80.0, 6: 60.0, 9: 61.0, 12: 59.5, 15: 70.0, 18: 60.0}  # evaluated every 3rd epoch
    seen = []
    for epoch in counter:
        seen.append(epoch)
        if epoch in wers:
            counter.update_metric(wers[epoch])
    assert seen[-1] == 18 and counter.best_score == 59.5  # 15 and 18 did not beat 12: two evaluations
    with pytest.raises(ValueError, match="early_stop_patience=0"):
        epoch_counter(limit=5, early_stop_patience=0)


def test_robust_augmentation_draws_noise_and_narrowband():
    import random

    from speechbrain_tinyconf.lobes.lowrank import svd_init_skipped
    from speechbrain_tinyconf.recipe.hparams import load_detached

    with svd_init_skipped():  # only the augmentation is used: the model's SVD initialisation would only cost time
        hp = load_detached("hparams/shared_lowrank_5M.yaml", {"robust_augment_prob": 1.0})
    torch.manual_seed(0)
    random.seed(0)
    t = torch.arange(16000) / 16000
    x = torch.stack([torch.sin(2 * torch.pi * 6000 * t), torch.sin(2 * torch.pi * 5000 * t)]) * 0.1
    kinds = set()
    for _ in range(12):
        y, lens = hp["robust_augment"](x, torch.ones(2))
        assert y.shape == x.shape
        # narrowband removes the tones (energy ratio ~0); 10-30 dB of white noise keeps them (>= 0.9)
        kinds.add("narrowband" if y[:, 200:-200].pow(2).mean() < 0.1 * x.pow(2).mean() else "noise")
    assert kinds == {"narrowband", "noise"}
