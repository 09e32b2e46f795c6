"""Every sharing level: unique counts from the formula, real tying, summed gradients."""

import pytest
import torch
from speechbrain.nnet.attention import RelPosEncXL

from speechbrain_tinyconf import SharedConformerEncoder, size_report
from speechbrain_tinyconf.lobes.encoder import tied_aliases

L, D, F, K, H = 8, 32, 64, 5, 4
CFG = dict(num_layers=L, d_model=D, d_ffn=F, nhead=H, kernel_size=K)

# Parameter counts of one SpeechBrain Conformer layer, by hand (bias=True, RelPosMHAXL).
FFN = 2 * D + (D * F + F) + (F * D + D)  # LayerNorm, Linear d->f, Linear f->d
ATT = 3 * D * D + (D * D + D) + D * D + 2 * D  # packed QKV, out_proj, linear_pos, pos_bias_u/v
CONV = 2 * D + (2 * D * D + 2 * D) + (D * K + D) + 2 * D + (D * D + D)  # LN, pointwise, depthwise, LN, pointwise
NORMS = 2 * 2 * D  # norm1, norm2
LAYER = 2 * FFN + ATT + CONV + NORMS
FINAL = 2 * D  # encoder output norm


def _count(plan):
    enc = SharedConformerEncoder(**CFG, sharing=plan)
    return enc, size_report(enc)


def test_formula_matches_unshared_layer():
    enc, rep = _count(None)
    assert rep.unique_params == rep.virtual_params == L * LAYER + FINAL


@pytest.mark.parametrize("order", ["cycle", "consecutive"])
def test_repeated_blocks(order):
    enc, rep = _count({"unique_blocks": 2, "order": order})
    assert rep.unique_params == 2 * LAYER + FINAL
    assert rep.virtual_params == L * LAYER + FINAL
    w = [layer.ffn_module1[1].ffn[0].weight for layer in enc.layers]
    expected = [0, 1, 0, 1, 0, 1, 0, 1] if order == "cycle" else [0, 0, 0, 0, 1, 1, 1, 1]
    for i, block in enumerate(expected):
        assert w[i] is w[expected.index(block)]
    assert w[0] is not w[expected.index(1)]


def test_repeated_blocks_with_per_layer_norms_and_scales():
    enc, rep = _count({"unique_blocks": 2, "per_layer": ["norms", "scales"]})
    per_layer_norm_params = (2 * D) * 2 + (2 * D) * 2 + NORMS  # 2 FFN LNs, 2 conv LNs, block norms
    shared_part = LAYER - per_layer_norm_params
    assert rep.unique_params == 2 * shared_part + L * per_layer_norm_params + L * D + FINAL
    assert enc.layers[0].norm1.norm.weight is not enc.layers[2].norm1.norm.weight
    assert enc.layers[0].mha_layer.in_proj_weight is enc.layers[2].mha_layer.in_proj_weight


def test_shared_modules_groups():
    enc, rep = _count({"share_modules": {"ffn": "all", "conv": 2}})
    assert rep.unique_params == 2 * FFN + L * (ATT + NORMS) + (L // 2) * CONV + FINAL
    c = [layer.convolution_module.conv.weight for layer in enc.layers]
    assert c[0] is c[1] and c[2] is c[3] and c[0] is not c[2]
    f = [layer.ffn_module2[1].ffn[3].weight for layer in enc.layers]
    assert all(t is f[0] for t in f)
    assert enc.layers[0].ffn_module1[1].ffn[0].weight is not enc.layers[0].ffn_module2[1].ffn[0].weight


def test_macaron_tying_with_per_layer_biases():
    enc, rep = _count({"tie_macaron": "both", "per_layer": ["biases"]})
    ffn2_own = 2 * D + F + D  # its LayerNorm and both linear biases
    assert rep.unique_params == L * (FFN + ffn2_own + ATT + CONV + NORMS) + FINAL
    layer = enc.layers[3]
    assert layer.ffn_module1[1].ffn[0].weight is layer.ffn_module2[1].ffn[0].weight
    assert layer.ffn_module1[1].ffn[0].bias is not layer.ffn_module2[1].ffn[0].bias


def test_macaron_first_only():
    enc, rep = _count({"tie_macaron": "first"})
    assert rep.unique_params == L * (LAYER - (D * F + F)) + FINAL
    layer = enc.layers[0]
    assert layer.ffn_module1[1].ffn[0].weight is layer.ffn_module2[1].ffn[0].weight
    assert layer.ffn_module1[1].ffn[3].weight is not layer.ffn_module2[1].ffn[3].weight


def test_attention_projections_shared_output_per_layer():
    enc, rep = _count({"share_modules": {"attention": "all"}, "per_layer": ["attention_out"]})
    att_shared = 3 * D * D + D * D + 2 * D
    att_own = D * D + D
    assert rep.unique_params == att_shared + L * (2 * FFN + att_own + CONV + NORMS) + FINAL
    assert enc.layers[0].mha_layer.in_proj_weight is enc.layers[5].mha_layer.in_proj_weight
    assert enc.layers[0].mha_layer.out_proj.weight is not enc.layers[5].mha_layer.out_proj.weight


@pytest.mark.parametrize("share", ["none", "U", "V", "both"])
def test_low_rank_ffn_factor_sharing(share):
    r = 8
    enc, rep = _count({"low_rank": {"targets": ["ffn"], "rank": r, "share": share}})
    u = r * D + r * F  # U factors of linear1 (r x d) and linear2 (r x f), per FFN
    v = F * r + D * r
    per_layer_ffn = 2 * (2 * D + F + D)  # LayerNorms and biases of both FFNs
    n_u = 1 if share in ("U", "both") else L
    n_v = 1 if share in ("V", "both") else L
    expected = L * (ATT + CONV + NORMS + per_layer_ffn) + 2 * (n_u * u + n_v * v) + FINAL
    assert rep.unique_params == expected
    lin = [layer.ffn_module1[1].ffn[0] for layer in enc.layers]
    assert (lin[0].U is lin[7].U) == (n_u == 1)
    assert (lin[0].V is lin[7].V) == (n_v == 1)


def test_low_rank_all_targets_grouped_factors():
    r = 8
    enc, rep = _count(
        {"low_rank": {"targets": ["ffn", "attention", "conv"], "rank": {"ffn": r, "attention": r, "conv": r}, "share": "U", "share_group": 4}}
    )
    groups = L // 4
    # per virtual layer: V factors, biases, norms, depthwise conv, pos biases
    own = (
        2 * (2 * D + F * r + F + D * r + D)  # FFNs: LN, V1, b1, V2, b2
        + (3 * D * r) + (D * r + D) + (D * r) + 2 * D  # attention: V of qkv, out (V+b), pos (V), pos biases
        + 2 * D + (2 * D * r + 2 * D) + (D * K + D) + 2 * D + (D * r + D)  # conv
        + NORMS
    )
    shared = 2 * (r * D + r * F) + 3 * (r * D) + 2 * (r * D)  # U: FFN x2, attention x3, conv x2
    assert rep.unique_params == L * own + groups * shared + FINAL
    qkv = [layer.mha_layer.in_proj.U for layer in enc.layers]
    assert qkv[0] is qkv[3] and qkv[0] is not qkv[4]


def _untied_copy(shared):
    """Same weights, nothing tied: every virtual use gets its own tensor."""
    low_rank = shared.plan.to_dict()["low_rank"]
    plain = SharedConformerEncoder(**CFG, sharing={"low_rank": {**low_rank, "share": "none"}} if low_rank else None)
    state = {name: p.detach().clone() for name, p in shared.named_parameters(remove_duplicate=False)}
    state.update({name: b.detach().clone() for name, b in shared.named_buffers()})
    plain.load_state_dict(state)
    return plain


@pytest.mark.parametrize(
    "plan",
    [
        {"unique_blocks": 2},
        {"share_modules": {"ffn": "all", "attention": 4}, "tie_macaron": "both"},
        {"low_rank": {"targets": ["ffn", "attention", "conv"], "rank": 8, "share": "both"}},
    ],
)
def test_tied_gradient_is_sum_of_uses(plan):
    torch.manual_seed(0)
    shared = SharedConformerEncoder(**CFG, sharing=plan)
    plain = _untied_copy(shared)
    x = torch.randn(2, 20, D)
    pos = RelPosEncXL(D)(x)
    target = torch.randn(2, 20, D)
    out_s, out_p = shared(x, pos_embs=pos)[0], plain(x, pos_embs=pos)[0]
    assert (out_s - out_p).abs().max() < 1e-5
    ((out_s - target) ** 2).sum().backward()
    ((out_p - target) ** 2).sum().backward()
    plain_grads = dict(plain.named_parameters(remove_duplicate=False))
    groups = {}  # {canonical parameter name: [other names of the same tensor]}
    for alias, canonical in tied_aliases(shared).items():
        groups.setdefault(canonical, []).append(alias)
    assert groups, "plan should tie something"
    checked = 0
    for canonical, aliases in groups.items():
        tensor = shared.get_parameter(canonical)
        expected = sum(plain_grads[n].grad for n in [canonical] + aliases)
        assert torch.allclose(tensor.grad, expected, atol=1e-5, rtol=1e-4), canonical
        assert not torch.allclose(tensor.grad, plain_grads[canonical].grad), canonical
        checked += 1
    assert checked == len(groups)
