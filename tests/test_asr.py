"""SharedTransformerASR: SpeechBrain's TransformerASR around a shared encoder; the plan validated once."""

import pytest
import torch
from speechbrain.lobes.models.transformer.TransformerASR import TransformerASR

from speechbrain_tinyconf import SharedConformerEncoder, SharedTransformerASR, SharingPlan

ARGS = dict(input_size=40, tgt_vocab=10, d_model=32, nhead=4, num_encoder_layers=6, num_decoder_layers=0, d_ffn=64,
            kernel_size=7, attention_type="RelPosMHAXL", positional_encoding=None, normalize_before=True,
            causal=False, encoder_module="conformer")


def test_plan_validated_once(monkeypatch):
    validated = []
    validate = SharingPlan.validate
    monkeypatch.setattr(SharingPlan, "validate", lambda plan, n: validated.append(n) or validate(plan, n))
    asr = SharedTransformerASR(**ARGS, sharing={"unique_blocks": 2})
    assert validated == [6]
    assert isinstance(asr.encoder, SharedConformerEncoder) and len(asr.encoder.layers) == 6
    assert asr.plan.unique_blocks == 2


def test_same_modules_as_speechbrains_conformer_asr():
    """Without sharing, the same parameters (names and shapes) and the same outputs for the same weights; the
    stock model's decoder sinusoid table is the only difference (ours has no decoder to use it), and the
    stock state dict, table included, loads strictly."""
    from speechbrain_tinyconf.lobes.asr import DECODER_TABLE

    ours, stock = SharedTransformerASR(**ARGS), TransformerASR(**ARGS)
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(stock) == {**shapes(ours), DECODER_TABLE: (1, 2500, 32)}
    ours.load_state_dict(stock.state_dict(), strict=True)
    x = torch.rand(2, 12, 40)
    assert torch.allclose(ours.eval().encode(x), stock.eval().encode(x), atol=1e-6)


def test_seeded_init_is_speechbrains_random_stream():
    """SpeechBrain's TransformerASR is built first (its encoder too): the same seed gives the same weights as
    building the stock model and then the shared encoder, so seeded runs keep their starting point."""
    torch.manual_seed(0)
    ours = SharedTransformerASR(**ARGS, sharing={"unique_blocks": 2})
    torch.manual_seed(0)
    stock = TransformerASR(**ARGS)
    shared = SharedConformerEncoder(num_layers=6, d_model=32, d_ffn=64, nhead=4, kernel_size=7, dropout=0.1,
                                    attention_type="RelPosMHAXL", sharing={"unique_blocks": 2})
    assert torch.equal(ours.custom_src_module.layers[0].w.weight, stock.custom_src_module.layers[0].w.weight)
    assert all(torch.equal(a, b) for a, b in zip(ours.encoder.state_dict().values(), shared.state_dict().values()))


@pytest.mark.parametrize("change, message", [
    ({"encoder_module": "transformer"}, "only 'conformer' can be shared"),
    ({"num_encoder_layers": 5}, "unique_blocks"),
])
def test_errors_name_the_argument(change, message):
    with pytest.raises(ValueError, match=message):
        SharedTransformerASR(**{**ARGS, **change}, sharing={"unique_blocks": 2})
