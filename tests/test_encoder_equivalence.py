"""An empty plan is SpeechBrain's ConformerEncoder, bit for bit (<= 1e-5)."""

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
from speechbrain.lobes.models.transformer.TransformerASR import TransformerASR, make_transformer_src_mask
from speechbrain.nnet.attention import RelPosEncXL
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from speechbrain_tinyconf import SharedConformerEncoder

CFG = dict(num_layers=3, d_model=48, d_ffn=96, nhead=4, kernel_size=7, dropout=0.0)
TOL = 1e-5


def _pair(**extra):
    torch.manual_seed(0)
    ref = ConformerEncoder(**CFG, **extra).eval()
    torch.manual_seed(1)  # different init: equality must come from the copied weights
    ours = SharedConformerEncoder(**CFG, **extra).eval()
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _inputs(batch=3, frames=37):
    torch.manual_seed(2)
    x = torch.randn(batch, frames, CFG["d_model"])
    return x, RelPosEncXL(CFG["d_model"])(x)


def test_full_sequence_identical():
    ref, ours = _pair()
    x, pos = _inputs()
    assert (ref(x, pos_embs=pos)[0] - ours(x, pos_embs=pos)[0]).abs().max() <= TOL


def test_padding_mask_identical():
    ref, ours = _pair()
    x, pos = _inputs()
    pad = torch.zeros(3, 37, dtype=torch.bool)
    pad[1, 25:] = True
    pad[2, 10:] = True
    a = ref(x, src_key_padding_mask=pad, pos_embs=pos)[0]
    b = ours(x, src_key_padding_mask=pad, pos_embs=pos)[0]
    assert (a - b).abs().max() <= TOL


def test_dynamic_chunk_identical():
    ref, ours = _pair()
    x, pos = _inputs()
    config = DynChunkTrainConfig(chunk_size=8, left_context_size=2)
    mask = make_transformer_src_mask(x, dynchunktrain_config=config)
    a = ref(x, src_mask=mask, pos_embs=pos, dynchunktrain_config=config)[0]
    b = ours(x, src_mask=mask, pos_embs=pos, dynchunktrain_config=config)[0]
    assert (a - b).abs().max() <= TOL


def test_hidden_states_and_regular_mha():
    ref, ours = _pair(attention_type="regularMHA", output_hidden_states=True)
    x, _ = _inputs()
    a, _, ha = ref(x)
    b, _, hb = ours(x)
    assert (a - b).abs().max() <= TOL
    assert len(ha) == len(hb) == CFG["num_layers"] + 1


def _asr(encoder_cls):
    return TransformerASR(
        input_size=CFG["d_model"],
        tgt_vocab=10,
        d_model=CFG["d_model"],
        nhead=CFG["nhead"],
        num_encoder_layers=CFG["num_layers"],
        num_decoder_layers=0,
        d_ffn=CFG["d_ffn"],
        kernel_size=CFG["kernel_size"],
        attention_type="RelPosMHAXL",
        positional_encoding=None,
        encoder_module="conformer",
        normalize_before=True,
        causal=False,
    )


def test_streaming_through_transformer_asr_identical():
    """Swapped into SpeechBrain's TransformerASR, chunk-by-chunk streaming is unchanged."""
    torch.manual_seed(0)
    ref = _asr(ConformerEncoder).eval()
    ours = _asr(ConformerEncoder).eval()
    ours.load_state_dict(ref.state_dict())
    shared = SharedConformerEncoder(**CFG).eval()
    shared.load_state_dict(ref.encoder.state_dict())
    ours.encoder = shared
    config = DynChunkTrainConfig(chunk_size=8, left_context_size=2)
    ctx_a, ctx_b = ref.make_streaming_context(config), ours.make_streaming_context(config)
    torch.manual_seed(3)
    src = torch.randn(2, 40, CFG["d_model"])
    outs_a, outs_b = [], []
    with torch.no_grad():
        for chunk in src.split(8, dim=1):
            outs_a.append(ref.encode_streaming(chunk, ctx_a))
            outs_b.append(ours.encode_streaming(chunk, ctx_b))
    assert len(outs_b) == 5
    assert (torch.cat(outs_a, 1) - torch.cat(outs_b, 1)).abs().max() <= TOL
    # and the full-sequence encode of the same model still matches
    full_a = ref.encode(src, dynchunktrain_config=config)
    full_b = ours.encode(src, dynchunktrain_config=config)
    assert (full_a - full_b).abs().max() <= TOL


def test_layer_scales_path_equals_plain_path_at_init():
    """`per_layer: [scales]` (a ChannelScale after norm2); at init (scales=1) it equals the plain layer."""
    plain = SharedConformerEncoder(**CFG, sharing={"unique_blocks": 1}).eval()
    scaled = SharedConformerEncoder(**CFG, sharing={"unique_blocks": 1, "per_layer": ["scales"]}).eval()
    result = scaled.load_state_dict(plain.state_dict(), strict=False)  # norm2.* -> norm2.0.*
    assert sorted(result.missing_keys) == [f"layers.{i}.norm2.1.scale" for i in range(CFG["num_layers"])]
    assert not result.unexpected_keys
    x, pos = _inputs()
    assert (plain(x, pos_embs=pos)[0] - scaled(x, pos_embs=pos)[0]).abs().max() <= TOL
    config = DynChunkTrainConfig(chunk_size=8, left_context_size=2)
    ca, cb = plain.make_streaming_context(config), scaled.make_streaming_context(config)
    for chunk in x.split(8, dim=1):
        p = RelPosEncXL(CFG["d_model"])(torch.empty(1, chunk.shape[1] + (ca.layers[0].mha_left_context.shape[1] if ca.layers[0].mha_left_context is not None else 0)))
        a = plain.forward_streaming(chunk, ca, pos_embs=p)[0]
        b = scaled.forward_streaming(chunk, cb, pos_embs=p)[0]
        assert (a - b).abs().max() <= TOL
    # a non-trivial scale changes the output: the scales are really applied
    with torch.no_grad():
        scaled.layers[1].norm2[1].scale.fill_(0.5)
    assert (plain(x, pos_embs=pos)[0] - scaled(x, pos_embs=pos)[0]).abs().max() > 1e-3


def test_missing_pos_embs_raises():
    enc = SharedConformerEncoder(**CFG, sharing={"per_layer": ["scales"]})
    with pytest.raises(ValueError, match="positional embeddings are mandatory"):  # SpeechBrain's own check
        enc(torch.randn(1, 5, CFG["d_model"]))
