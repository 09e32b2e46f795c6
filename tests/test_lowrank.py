"""LowRankLinear: SVD initialisation, shared factors, constructor conventions, errors."""

import pytest
import torch
from speechbrain.nnet.linear import Linear

from speechbrain_tinyconf import LowRankLinear


def test_full_rank_reproduces_torch_linear():
    torch.manual_seed(0)
    full = torch.nn.Linear(24, 16)
    low = LowRankLinear.from_linear(full, rank=16)
    x = torch.randn(4, 7, 24)
    assert (low(x) - full(x)).abs().max() <= 1e-5


def test_full_rank_reproduces_speechbrain_linear_and_conv1x1():
    torch.manual_seed(0)
    sb = Linear(n_neurons=12, input_size=20)
    x = torch.randn(3, 5, 20)
    assert (LowRankLinear.from_linear(sb, 12)(x) - sb(x)).abs().max() <= 1e-5
    conv = torch.nn.Conv1d(20, 40, kernel_size=1)
    xc = torch.randn(3, 20, 9)  # (batch, channels, time)
    assert (LowRankLinear.from_linear(conv, 20)(xc) - conv(xc)).abs().max() <= 1e-5


@pytest.mark.parametrize("rank", [1, 3, 7])
def test_truncation_error_is_next_singular_value(rank):
    torch.manual_seed(rank)
    full = torch.nn.Linear(12, 10)
    sing = torch.linalg.svdvals(full.weight.detach())
    low = LowRankLinear.from_linear(full, rank)
    err = torch.linalg.matrix_norm(full.weight.detach() - low.weight().detach(), ord=2)
    assert abs(err.item() - sing[rank].item()) <= 1e-5
    assert int(torch.linalg.matrix_rank(low.weight().detach())) == rank


def test_parameter_count_and_shapes():
    low = LowRankLinear(n_neurons=30, input_shape=(8, 100, 20), rank=4)
    assert low.in_features == 20
    assert sum(p.numel() for p in low.parameters()) == 4 * 20 + 30 * 4 + 30
    assert LowRankLinear(30, input_size=20, rank=4, bias=False).bias is None
    assert low(torch.randn(2, 5, 20)).shape == (2, 5, 30)


def test_combine_dims_like_speechbrain():
    low = LowRankLinear(n_neurons=6, input_shape=(2, 5, 3, 4), rank=2, combine_dims=True)
    assert low(torch.randn(2, 5, 3, 4)).shape == (2, 5, 6)


def test_shared_factor_is_same_tensor_and_gets_both_gradients():
    a = LowRankLinear(8, input_size=6, rank=3)
    b = LowRankLinear(5, input_size=6, rank=3, U=a.U)
    assert b.U is a.U and b.V is not a.V
    x = torch.randn(4, 6)
    a(x).sum().backward()
    grad_a = a.U.grad.clone()
    b(x).sum().backward()
    assert not torch.allclose(a.U.grad, grad_a)  # b's use added to it
    params = list(torch.nn.ModuleList([a, b]).parameters())
    assert sum(p.numel() for p in params) == 3 * 6 + 8 * 3 + 8 + 5 * 3 + 5


def test_from_linear_with_shared_factor_fits_the_other():
    torch.manual_seed(0)
    base = torch.nn.Linear(10, 10)
    ref = LowRankLinear.from_linear(base, 10)
    other = LowRankLinear.from_linear(base, 10, U=ref.U)  # full-rank U: exact refit of V
    assert other.U is ref.U
    x = torch.randn(3, 10)
    assert (other(x) - base(x)).abs().max() <= 1e-4


@pytest.mark.parametrize("rank", [0, -2, 9, 2.5])
def test_invalid_rank_raises_naming_value(rank):
    with pytest.raises(ValueError, match=f"rank={rank!r}"):
        LowRankLinear(n_neurons=8, input_size=12, rank=rank)
    with pytest.raises(ValueError, match=f"rank={rank!r}"):
        LowRankLinear.from_linear(torch.nn.Linear(12, 8), rank)


def test_wrong_shared_factor_shape_raises():
    with pytest.raises(ValueError, match="U has shape"):
        LowRankLinear(8, input_size=6, rank=3, U=torch.nn.Parameter(torch.zeros(3, 7)))


# ---------------------------------------------------------------------------
# Issue 21, item 9: no SVD of random weights when weights are loaded right after


def _count_svds(monkeypatch):
    calls = []
    real = torch.linalg.svd
    monkeypatch.setattr(torch.linalg, "svd", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


EVERY_TARGET = {"unique_blocks": 2, "low_rank": {"targets": ["ffn", "attention", "conv"], "rank": 4, "share": "U"}}


def test_svd_init_skipped_builds_without_svd_and_keeps_the_random_stream(monkeypatch):
    from speechbrain_tinyconf.lobes.encoder import SharedConformerEncoder
    from speechbrain_tinyconf.lobes.lowrank import svd_init_skipped

    calls = _count_svds(monkeypatch)

    def build(**kwargs):
        torch.manual_seed(0)
        enc = SharedConformerEncoder(num_layers=4, d_model=16, d_ffn=32, nhead=2, kernel_size=3, sharing=EVERY_TARGET,
                                     **kwargs)
        return enc, torch.rand(1)  # what the random stream gives next

    svd, after_svd = build()
    assert len(calls) > 0
    del calls[:]
    with svd_init_skipped():
        fresh, after_fresh = build()
    skipped, after_skipped = build(svd_init=False)
    assert calls == []  # neither way factorises random weights
    assert torch.equal(after_svd, after_fresh) and torch.equal(after_svd, after_skipped)  # same draws
    state = fresh.state_dict()
    assert state.keys() == svd.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in skipped.state_dict().items())  # flag == context manager
    fresh.load_state_dict(svd.state_dict(), strict=True)  # what a load then does: the trained model
    x = torch.randn(1, 5, 16)
    from speechbrain.nnet.attention import RelPosEncXL

    pos = RelPosEncXL(16)(x)
    assert torch.allclose(fresh.eval()(x, pos_embs=pos)[0], svd.eval()(x, pos_embs=pos)[0], atol=1e-6)


def test_regular_mha_parametrisation_skips_svd_too(monkeypatch):
    from speechbrain_tinyconf.lobes.encoder import SharedConformerEncoder

    calls = _count_svds(monkeypatch)
    SharedConformerEncoder(num_layers=2, d_model=16, d_ffn=32, nhead=2, kernel_size=3, attention_type="regularMHA",
                           sharing={"low_rank": {"targets": ["attention"], "rank": 4}}, svd_init=False)
    assert calls == []
