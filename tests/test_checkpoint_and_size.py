"""Checkpoints keep weights tied and store them once; size accounting matches them."""

import io

import pytest
import torch
from speechbrain.nnet.attention import RelPosEncXL
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_tinyconf import SharedConformerEncoder, size_report
from speechbrain_tinyconf.lobes.encoder import tied_aliases
from speechbrain_tinyconf.lobes.size import count_macs

CFG = dict(num_layers=6, d_model=32, d_ffn=64, nhead=4, kernel_size=5)
PLAN = {
    "unique_blocks": 3,
    "share_modules": {"conv": "all"},
    "tie_macaron": "first",
    "per_layer": ["norms", "scales"],
    "low_rank": {"targets": ["ffn", "attention"], "rank": 8, "share": "U"},
}


def _io(enc):
    torch.manual_seed(5)
    x = torch.randn(2, 15, 32)
    return enc.eval()(x, pos_embs=RelPosEncXL(32)(x))[0]


def test_checkpointer_round_trip_keeps_tying(tmp_path):
    torch.manual_seed(0)
    enc = SharedConformerEncoder(**CFG, sharing=PLAN)
    with torch.no_grad():  # make every tensor distinct from a fresh init
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    Checkpointer(tmp_path, {"enc": enc}).save_checkpoint()
    torch.manual_seed(1)
    loaded = SharedConformerEncoder(**CFG, sharing=PLAN)
    aliases = tied_aliases(loaded)
    assert aliases
    Checkpointer(tmp_path, {"enc": loaded}).recover_if_possible()
    assert torch.equal(_io(enc), _io(loaded))
    for alias, canonical in aliases.items():  # the tying made at construction survives the load
        assert loaded.get_parameter(alias) is loaded.get_parameter(canonical)
    # the shared tensor is still one tensor: a training step moves all its uses
    a, b = loaded.layers[0].ffn_module1[1].ffn[0], loaded.layers[3].ffn_module1[1].ffn[0]
    assert a.U is b.U


def test_checkpoint_stores_shared_tensors_once(tmp_path):
    enc = SharedConformerEncoder(**CFG, sharing=PLAN)
    rep = size_report(enc)
    path = tmp_path / "enc.ckpt"
    torch.save(enc.state_dict(), path)
    state = torch.load(path)
    stored = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in state.values()}
    assert sum(stored.values()) == rep.fp32_bytes
    assert sum(t.numel() for t in state.values()) == rep.unique_params
    # same serialisation; only zip entry names/alignment padding may differ
    assert abs(rep.checkpoint_bytes - path.stat().st_size) <= 64 * len(state) + 1024
    # pickle/zip overhead is small next to the tensors
    assert rep.fp32_bytes < path.stat().st_size < rep.fp32_bytes + 2048 * len(state)
    plain = SharedConformerEncoder(**CFG, sharing={"low_rank": PLAN["low_rank"] | {"share": "none"}})
    assert size_report(plain).checkpoint_bytes > 1.5 * rep.checkpoint_bytes


def test_different_plan_checkpoint_names_keys():
    saved = SharedConformerEncoder(**CFG, sharing={"unique_blocks": 3}).state_dict()
    other = SharedConformerEncoder(**CFG, sharing={"unique_blocks": 2})
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*layers\.2\.|tied to"):
        other.load_state_dict(saved)
    unshared = SharedConformerEncoder(**CFG).state_dict()
    with pytest.raises(RuntimeError, match=r"different sharing plan.*layers\.3\.\S+ \(tied to layers\.0\."):
        SharedConformerEncoder(**CFG, sharing={"unique_blocks": 3}).load_state_dict(unshared)


def test_different_rank_checkpoint_names_shapes():
    saved = SharedConformerEncoder(**CFG, sharing={"low_rank": {"targets": ["ffn"], "rank": 8}}).state_dict()
    other = SharedConformerEncoder(**CFG, sharing={"low_rank": {"targets": ["ffn"], "rank": 4}})
    with pytest.raises(RuntimeError, match=r"size mismatch for layers\.0\.ffn_module1\.1\.ffn\.0\.U"):
        other.load_state_dict(saved)


def test_size_report_bytes_and_breakdown():
    enc = SharedConformerEncoder(**CFG, sharing={"unique_blocks": 2})
    rep = size_report(enc)
    assert rep.fp32_bytes == 4 * rep.unique_params
    matrices = sum(p.numel() for p in set(enc.parameters()) if p.dim() >= 2)
    assert rep.int8_bytes == matrices + 4 * (rep.unique_params - matrices)
    assert sum(u for u, _ in rep.breakdown.values()) == rep.unique_params
    assert sum(v for _, v in rep.breakdown.values()) == rep.virtual_params
    assert set(rep.breakdown) == {"layers.ffn", "layers.attention", "layers.conv", "layers.norms", "norm"}
    assert rep.breakdown["layers.ffn"][1] == 3 * rep.breakdown["layers.ffn"][0]
    assert "**total**" in rep.table()


def encoder_macs(encoder, frames: int) -> int:
    """MACs of one eval forward of a (Shared)ConformerEncoder on ``frames`` frames."""
    x = torch.zeros(1, frames, encoder.norm.norm.normalized_shape[0])
    encoder.eval()
    return count_macs(lambda: encoder(x, pos_embs=RelPosEncXL(x.shape[-1])(x)))


def test_macs_per_second():
    d, f, frames = 32, 64, 25
    enc = SharedConformerEncoder(num_layers=1, d_model=d, d_ffn=f, nhead=4, kernel_size=5)
    macs = encoder_macs(enc, frames)
    t = frames
    ffn = 2 * (2 * d * f) * t
    att = 3 * d * d * t + d * d * t + d * d * (2 * t - 1) + 2 * t * t * d + t * (2 * t - 1) * d
    conv = 2 * d * d * t + 5 * d * t + d * d * t
    assert macs == ffn + att + conv
    # low rank cuts the FFN MACs to rank * (d + f) per linear
    low = SharedConformerEncoder(num_layers=1, d_model=d, d_ffn=f, nhead=4, kernel_size=5,
                                 sharing={"low_rank": {"targets": ["ffn"], "rank": 4}})
    assert macs - encoder_macs(low, frames) == ffn - 2 * 2 * 4 * (d + f) * t
    assert count_macs(lambda: torch.nn.Linear(3, 2)(torch.ones(5, 3))) == 30
