"""`sharing.branch_scales`: a per-virtual-layer scale on each residual branch of SpeechBrain's layer,
as a `ChannelScale` module inside the branch (no hooks, SpeechBrain's own forward)."""

import copy
import pickle

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
from speechbrain.nnet.attention import RelPosEncXL
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from speechbrain_tinyconf import SharedConformerEncoder, size_report
from speechbrain_tinyconf.lobes.scales import ChannelScale

CFG = dict(num_layers=4, d_model=32, d_ffn=64, nhead=4, kernel_size=7, dropout=0.0)
TOL = 1e-5


def _inputs(batch=2, frames=24):
    torch.manual_seed(2)
    x = torch.randn(batch, frames, CFG["d_model"])
    return x, RelPosEncXL(CFG["d_model"])(x)


# The residual branches of SpeechBrain's ConformerEncoderLayer and where their scale sits.
BRANCH_SCALE = {
    "ffn_module1": lambda layer: layer.ffn_module1[-1],
    "mha_layer": lambda layer: layer.mha_layer.out_proj[1],
    "convolution_module": lambda layer: layer.convolution_module.after_conv[-1],
    "ffn_module2": lambda layer: layer.ffn_module2[-1],
}
BRANCHES = tuple(BRANCH_SCALE)


def _scale(layer, branch):
    module = BRANCH_SCALE[branch](layer)
    assert isinstance(module, ChannelScale)
    return module.scale


def _scales(enc):
    ids = {id(_scale(layer, b)) for layer in enc.layers for b in BRANCHES}
    return {name: p for name, p in enc.named_parameters() if id(p) in ids}


def _speechbrain_keys(state_dict):
    """Our state_dict in SpeechBrain's ConformerEncoder names (the scales dropped)."""
    return {k.replace("out_proj.0.", "out_proj."): v for k, v in state_dict.items() if not k.endswith(".scale")}


def test_unit_scales_equal_speechbrain_encoder():
    torch.manual_seed(0)
    ref = ConformerEncoder(**CFG).eval()
    ours = SharedConformerEncoder(**CFG, sharing={"branch_scales": 1.0}).eval()
    result = ours.load_state_dict(ref.state_dict(), strict=False)  # SpeechBrain's names load (out_proj mapped)
    assert sorted(result.missing_keys) == sorted(_scales(ours)) and not result.unexpected_keys  # only scales new
    x, pos = _inputs()
    assert (ref(x, pos_embs=pos)[0] - ours(x, pos_embs=pos)[0]).abs().max() <= TOL


def test_every_branch_is_scaled():
    """With every branch scaled to 0 each layer is only its final LayerNorm."""
    enc = SharedConformerEncoder(**CFG, sharing={"branch_scales": 0.1, "unique_blocks": 2}).eval()
    x, pos = _inputs()
    with torch.no_grad():
        for scale in _scales(enc).values():
            scale.zero_()
        expected = x
        for layer in enc.layers:
            expected = layer.norm2(expected)
        expected = enc.norm(expected)
    assert (enc(x, pos_embs=pos)[0] - expected).abs().max() <= TOL
    # and each branch on its own changes the output
    for branch in BRANCHES:
        with torch.no_grad():
            _scale(enc.layers[1], branch).fill_(1.0)
        out = enc(x, pos_embs=pos)[0]
        assert (out - expected).abs().max() > 1e-3, branch
        with torch.no_grad():
            _scale(enc.layers[1], branch).zero_()


def test_scales_are_per_virtual_layer_and_counted():
    plan = {"unique_blocks": 1, "share_modules": {"ffn": "all"}, "branch_scales": 0.1}
    enc = SharedConformerEncoder(**CFG, sharing=plan)
    plain = SharedConformerEncoder(**CFG, sharing={"unique_blocks": 1, "share_modules": {"ffn": "all"}})
    scales = _scales(enc)
    assert len(scales) == CFG["num_layers"] * len(BRANCHES)
    assert len({id(p) for p in scales.values()}) == len(scales)  # nothing tied
    assert all(torch.all(p == 0.1) for p in scales.values())
    extra = CFG["num_layers"] * len(BRANCHES) * CFG["d_model"]
    assert size_report(enc).unique_params == size_report(plain).unique_params + extra
    # the block itself is still shared
    assert enc.layers[0].ffn_module1[1].ffn[0].weight is enc.layers[3].ffn_module1[1].ffn[0].weight


def test_copies_and_checkpoints_keep_their_own_scales(tmp_path):
    enc = SharedConformerEncoder(**CFG, sharing={"branch_scales": 0.1}).eval()
    x, pos = _inputs()
    before = enc(x, pos_embs=pos)[0]
    for clone in (copy.deepcopy(enc), pickle.loads(pickle.dumps(enc))):
        with torch.no_grad():
            _scale(clone.layers[0], "mha_layer").fill_(2.0)
        assert (clone(x, pos_embs=pos)[0] - before).abs().max() > 1e-3
        assert (enc(x, pos_embs=pos)[0] - before).abs().max() == 0  # the original is untouched
    torch.save(clone.state_dict(), tmp_path / "enc.ckpt")
    fresh = SharedConformerEncoder(**CFG, sharing={"branch_scales": 0.1}).eval()
    fresh.load_state_dict(torch.load(tmp_path / "enc.ckpt"))
    assert (fresh(x, pos_embs=pos)[0] - clone(x, pos_embs=pos)[0]).abs().max() <= TOL


def _last_linear(layer, branch):
    """The linear that ends a branch of SpeechBrain's layer (its output is what the scale multiplies)."""
    return {
        "ffn_module1": lambda: layer.ffn_module1[1].ffn[3],
        "ffn_module2": lambda: layer.ffn_module2[1].ffn[3],
        "mha_layer": lambda: layer.mha_layer.out_proj,
        "convolution_module": lambda: layer.convolution_module.after_conv[2],
    }[branch]()


def test_scales_equal_folded_weights_full_and_streaming():
    """Scaled branches == SpeechBrain's encoder with each scale folded into the branch's last linear,
    both for the full forward and chunk by chunk through forward_streaming."""
    torch.manual_seed(0)
    ours = SharedConformerEncoder(**CFG, sharing={"branch_scales": 0.3}).eval()
    with torch.no_grad():
        for i, scale in enumerate(_scales(ours).values()):
            scale.uniform_(0.2, 1.5, generator=torch.Generator().manual_seed(i))
    ref = ConformerEncoder(**CFG).eval()
    assert not ref.load_state_dict(_speechbrain_keys(ours.state_dict()), strict=True).missing_keys
    with torch.no_grad():
        for ref_layer, layer in zip(ref.layers, ours.layers):
            for branch in BRANCHES:
                scale = _scale(layer, branch)
                linear = _last_linear(ref_layer, branch)
                linear.weight.mul_(scale[:, None])
                linear.bias.mul_(scale)
    x, pos = _inputs(batch=1, frames=32)
    assert (ref(x, pos_embs=pos)[0] - ours(x, pos_embs=pos)[0]).abs().max() <= TOL
    config = DynChunkTrainConfig(chunk_size=8, left_context_size=2)
    ctx_ref, ctx_ours = ref.make_streaming_context(config), ours.make_streaming_context(config)
    for chunk in x.split(8, dim=1):
        left = ctx_ref.layers[0].mha_left_context
        seen = 0 if left is None else left.shape[1]
        pos = RelPosEncXL(CFG["d_model"])(torch.empty(1, chunk.shape[1] + seen))
        a = ref.forward_streaming(chunk, ctx_ref, pos_embs=pos)[0]
        b = ours.forward_streaming(chunk, ctx_ours, pos_embs=pos)[0]
        assert (a - b).abs().max() <= TOL


@pytest.mark.parametrize("value", [0, -0.1, 1.5, True, "0.1"])
def test_bad_init_names_the_field(value):
    with pytest.raises(ValueError, match=r"sharing\.branch_scales"):
        SharedConformerEncoder(**CFG, sharing={"branch_scales": value})


def test_scales_are_modules_not_hooks():
    """One mechanism: ChannelScale modules in print(model) and the state_dict; SpeechBrain's forward runs.

    The encoder's own forward only picks the layers of its run-time depth (elastic depth) and calls
    SpeechBrain's: at full depth, SpeechBrain's forward and streaming forward called on it directly give
    the same outputs, so the scales are in the layers, not in a forward of ours."""
    enc = SharedConformerEncoder(**CFG, sharing={"branch_scales": 0.1, "per_layer": ["scales"]}).eval()
    x, pos = _inputs(1, 12)
    config = DynChunkTrainConfig(4, 2)
    with torch.no_grad():
        assert torch.equal(enc(x, pos_embs=pos)[0], ConformerEncoder.forward(enc, x, pos_embs=pos)[0])
        ours, theirs = enc.make_streaming_context(config), ConformerEncoder.make_streaming_context(enc, config)
        chunk_pos = RelPosEncXL(CFG["d_model"])(x[:, :4])
        assert torch.equal(enc.forward_streaming(x[:, :4], ours, pos_embs=chunk_pos)[0],
                           ConformerEncoder.forward_streaming(enc, x[:, :4], theirs, pos_embs=chunk_pos)[0])
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in enc.modules())
    assert repr(enc.layers[0]).count("ChannelScale(32)") == len(BRANCHES) + 1
    assert isinstance(enc.layers[2].norm2[1], ChannelScale)  # the per-layer scale follows norm2
    assert sum(k.endswith(".scale") for k in enc.state_dict()) == CFG["num_layers"] * (len(BRANCHES) + 1)


def test_regular_attention_is_refused_with_the_field():
    with pytest.raises(ValueError, match=r"sharing\.branch_scales needs RelPosMHAXL"):
        SharedConformerEncoder(**CFG, attention_type="regularMHA", sharing={"branch_scales": 0.1})


def test_a_run_saved_before_scales_were_modules_does_not_resume(tmp_path):
    """Its weights load (keys renamed), but Adam's state follows the old parameter order: train.py's
    resume check (runs.resume_problem) refuses the run folder with a message saying so."""
    from speechbrain_tinyconf.recipe.runs import resume_problem

    enc = SharedConformerEncoder(**CFG, sharing={"branch_scales": 0.1})
    legacy = {}
    for key, value in enc.state_dict().items():  # the layout written before: an attribute of the branch
        for branch, new in (("ffn_module1", "ffn_module1.3.scale"), ("ffn_module2", "ffn_module2.3.scale"),
                            ("convolution_module", "convolution_module.after_conv.4.scale"),
                            ("mha_layer", "mha_layer.out_proj.1.scale")):
            if key.endswith(new):
                key = key[: -len(new)] + f"{branch}.branch_scale"
        legacy[key.replace("out_proj.0.", "out_proj.")] = value
    fresh = SharedConformerEncoder(**CFG, sharing={"branch_scales": 0.1})
    fresh.load_state_dict(legacy, strict=True)  # the weights load
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), enc.state_dict().values()))
    ckpt = tmp_path / "save" / "CKPT+2026-12-01+00-00-00+00"
    ckpt.mkdir(parents=True)
    torch.save(legacy, ckpt / "model.ckpt")
    assert "optimizer state is in the old parameter order" in resume_problem(tmp_path, fresh)
    torch.save(enc.state_dict(), ckpt / "model.ckpt")
    assert resume_problem(tmp_path, fresh) is None  # the new layout resumes
