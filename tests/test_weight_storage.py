"""int4 weight storage of a model folder (``tinyconf-export --weights int4``): the round trip, its error, its size,
the format's guards, and the unused decoder table a transducer no longer carries."""

import io

import pytest
import torch

from speechbrain_tinyconf.pretrained import weight_storage as ws


def _bytes(obj) -> int:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getbuffer().nbytes


def _state():
    torch.manual_seed(0)
    return {"enc.w": torch.randn(256, 1024), "conv.w": torch.randn(256, 1, 15), "odd.w": torch.randn(33, 65),
            "enc.b": torch.randn(256), "small.w": torch.randn(8, 16), "steps": torch.tensor(7)}


def test_round_trip_keeps_names_order_shapes_dtypes_and_the_unquantised_tensors():
    state = _state()
    packed = ws.pack_state_dict(state, "int4")
    kinds = {name: entry["kind"] for name, entry in packed["layout"].items()}
    assert kinds == {"enc.w": "int4", "conv.w": "int4", "odd.w": "int4",  # 2-D and more, >= MIN_QUANTIZED values
                     "enc.b": "fp16", "small.w": "fp16", "steps": "exact"}
    assert [t.dtype for t in (packed["codes"], packed["scale_step"], packed["zero"], packed["fp16"])] == [
        torch.uint8, torch.uint8, torch.int8, torch.float16]  # one tensor of each kind for the whole file
    back = ws.unpack_state_dict(torch.load(io.BytesIO(_save(packed))))
    assert list(back) == list(state)
    for name, tensor in state.items():
        assert back[name].shape == tensor.shape and back[name].dtype == tensor.dtype, name
    assert torch.equal(back["steps"], state["steps"])  # integers exactly
    for name in ("enc.b", "small.w"):  # the rest in fp16
        assert torch.equal(back[name], state[name].half().float())


def _save(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_int4_error_is_that_of_4_bit_groups_and_clipping_lowers_it(monkeypatch):
    # Uniform 4-bit steps over a group of 64 Gaussian values (range about +-2.4 sigma) give an rms error of
    # about step / sqrt(12) = 0.092 sigma; measured 0.089-0.091 without clipping, 0.087-0.088 with it (the
    # 8-bit scale and zero point included). 3 bits would be ~0.19.
    state = _state()
    for name in ("enc.w", "conv.w", "odd.w"):
        x = state[name]
        clipped = ws.dequantize(ws.quantize(x, 64))
        rel = float((clipped - x).norm() / x.norm())
        assert 0.05 < rel < 0.10, (name, rel)
        monkeypatch.setattr(ws, "CLIP_RATIOS", (1.0,))
        plain = ws.dequantize(ws.quantize(x, 64))
        monkeypatch.undo()
        assert ((clipped - x) ** 2).sum() < ((plain - x) ** 2).sum(), name


def test_values_on_the_grid_come_back_exactly():
    # 16 evenly spaced values per group, one step apart from -4 steps: the codes 0-15 with zero point 4.
    # The step (0.5) is the tensor's largest scale, the top of the scale grid: exact.
    x = ((torch.arange(16).repeat(8).float() - 4) * 0.5).view(4, 32)
    assert torch.equal(ws.dequantize(ws.quantize(x, group_size=32)), x)


def test_finer_groups_where_the_names_say():
    # The export's rule: feed-forward weights (half of the model, insensitive) in groups of 64, the rest 16.
    assert ws.group_size_for("1.transformer.encoder.layers.0.ffn_module1.1.ffn.0.V") == 64
    assert ws.group_size_for("1.transformer.encoder.layers.0.mha_layer.in_proj.V") == 16
    packed = ws.pack_state_dict({"a.ffn_module1.w": torch.randn(64, 64), "a.mha.w": torch.randn(64, 64)})
    assert packed["layout"]["a.ffn_module1.w"]["group_size"] == 64 and packed["layout"]["a.mha.w"]["group_size"] == 16
    assert packed["zero"].numel() == 64 * 64 // 64 + 64 * 64 // 16  # one zero point (and scale) per group


def test_int4_is_under_a_sixth_of_fp32():
    # 4 bits per value plus 2 x 8 bits per group of 16: 0.5 + 0.125 bytes per value against 4 (a ratio of 0.156).
    state = {"w": torch.randn(512, 1024)}
    ratio = _bytes(ws.pack_state_dict(state, "int4")) / _bytes(state)
    assert 0.15 < ratio < 0.16, ratio


def test_fp32_storage_is_the_state_dict_itself_and_bad_arguments_are_refused():
    state = _state()
    assert ws.pack_state_dict(state, "fp32") is state
    assert ws.unpack_state_dict(state) is state
    assert ws.storage_of(state) == "fp32" and ws.storage_of(ws.pack_state_dict(state)) == "int4"
    with pytest.raises(ValueError, match="weight storage 'int8'"):
        ws.pack_state_dict(state, "int8")
    with pytest.raises(ValueError, match="group size 33"):
        ws.pack_state_dict(state, "int4", 33)


def test_an_unknown_format_version_is_one_line_naming_the_file(tmp_path):
    from speechbrain_tinyconf.pretrained.model_folder import ModelFolderError, read_checkpoint

    packed = ws.pack_state_dict(_state())
    path = tmp_path / "model.ckpt"
    torch.save(packed, path)
    assert torch.equal(read_checkpoint(path)["steps"], torch.tensor(7))  # the folder's reader unpacks
    packed["version"] = 99
    torch.save(packed, path)
    with pytest.raises(ModelFolderError, match=f"{path}: unreadable int4 weights .*version 99"):
        read_checkpoint(path)
    del packed["fp16"]
    packed["version"] = ws.VERSION
    torch.save(packed, path)
    with pytest.raises(ModelFolderError, match=f"{path}: unreadable int4 weights"):
        read_checkpoint(path)


def test_a_transducer_encoder_has_no_decoder_table_and_loads_checkpoints_that_do():
    from speechbrain_tinyconf.lobes.asr import DECODER_TABLE, SharedTransformerASR

    def build():
        return SharedTransformerASR(input_size=40, tgt_vocab=10, d_model=32, nhead=4, num_encoder_layers=4,
                                    num_decoder_layers=0, d_ffn=64, attention_type="RelPosMHAXL",
                                    positional_encoding=None, normalize_before=True, causal=False,
                                    sharing={"unique_blocks": 2})

    asr = build()
    state = asr.state_dict()
    assert not any("positional_encoding_decoder" in k for k in state)
    older = {**state, DECODER_TABLE: torch.zeros(1, 2500, 32)}  # what checkpoints before held
    other = build()
    assert not other.load_state_dict(older, strict=True).unexpected_keys
    x = torch.rand(1, 12, 40)
    asr.eval()
    other.eval()
    assert torch.equal(asr.encode(x), other.encode(x))


def test_an_export_leaves_out_the_decoder_table_of_older_checkpoints():
    from speechbrain_tinyconf.lobes.asr import without_decoder_table

    older = {"1.transformer.positional_encoding_decoder.pe": torch.zeros(1), "1.transformer.w": torch.ones(1),
             "positional_encoding_decoder.pe": torch.zeros(1)}
    assert list(without_decoder_table(older)) == ["1.transformer.w"]


def test_a_group_far_from_zero_keeps_its_zero_point_in_int8():
    # Review case: one row sets the tensor's largest scale; the other (-12.3 everywhere but spread-free) needs
    # a scale of at least 12.3 / 127, which the log grid must not round below (the zero point would clip).
    x = torch.cat([torch.linspace(-1.5, 1.5, 16), torch.full((16,), -12.3)]).view(2, 16)
    back = ws.dequantize(ws.quantize(x, 16))
    assert float((back[1] - x[1]).abs().max()) <= 12.3 / 254 + 1e-6
    y = torch.cat([torch.linspace(-1.5, 1.5, 16), torch.linspace(-12.4, -12.2, 16)]).view(2, 16)
    assert float((ws.dequantize(ws.quantize(y, 16))[1] - y[1]).abs().max()) <= 12.4 / 254 + 1e-6


def test_constant_and_zero_tensors_come_back_exactly():
    for value in (0.0, 0.37, -2.5):
        x = torch.full((32, 64), value)
        assert torch.equal(ws.dequantize(ws.quantize(x, 16)), x), value


def test_non_finite_or_fp16_overflowing_weights_are_refused_by_name():
    with pytest.raises(ValueError, match="weight enc.w is not finite"):
        ws.pack_state_dict({"enc.w": torch.tensor([[1.0, float("nan")]]).expand(64, 2).contiguous()})
    with pytest.raises(ValueError, match="weight b exceeds fp16's range"):
        ws.pack_state_dict({"b": torch.tensor([1e5])})


def test_positional_frequencies_are_kept_exactly():
    inv_freq = 1.0 / (10000 ** (torch.arange(0, 256, 2).float() / 256))  # RelPosEncXL's table
    packed = ws.pack_state_dict({"1.transformer.positional_encoding.inv_freq": inv_freq, "n.bias": inv_freq})
    back = ws.unpack_state_dict(packed)
    assert torch.equal(back["1.transformer.positional_encoding.inv_freq"], inv_freq)
    assert not torch.equal(back["n.bias"], inv_freq)  # other small tensors: fp16
