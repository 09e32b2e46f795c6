"""The modules traced to ONNX: trace-friendly wrappers that call SpeechBrain's own layer code.

* :class:`FullEncoder` -- full utterance: normalised features -> CNN -> Conformer -> ``proj_enc``;
* :class:`EncoderStep` -- one streaming step with explicit fixed-size caches, sized by
  :func:`chunk_geometry` (:class:`ChunkGeometry`);
* :class:`PredictorStep` -- one token through the prediction network;
* :class:`JointStep` -- the joint network on one (frame, prediction) pair.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..lobes.depth import layers_run
from .load import TransducerModules


def rel_pos_embs(inv_freq, length):
    """``RelPosEncXL(d).make_pe(length)`` written with traceable ops (dynamic ``length``).

    Row ``k`` of the ``(1, 2 * length - 1, d)`` result encodes the relative
    distance ``|length - 1 - k|`` as interleaved ``sin, cos`` (SpeechBrain uses
    the same values for past and future positions).

    Example
    -------
    >>> from speechbrain.nnet.attention import RelPosEncXL
    >>> enc = RelPosEncXL(16)
    >>> bool((rel_pos_embs(enc.inv_freq, 7) == enc.make_pe(7)).all())
    True
    """
    positions = torch.arange(1 - length, length, dtype=torch.float32).abs()
    angles = positions.unsqueeze(-1) * inv_freq  # (2S-1, d/2)
    pe = torch.stack((torch.sin(angles), torch.cos(angles)), dim=-1)
    return pe.reshape(1, pe.shape[0], -1)


class _Normalize(nn.Module):
    """``InputNormalization`` in eval mode: ``(x - mean) / max(std, eps)`` with frozen statistics."""

    def __init__(self, normalize):
        super().__init__()
        if normalize.norm_type != "global":
            raise ValueError(f"ONNX export: normalize.norm_type={normalize.norm_type!r}; only 'global' is supported")
        if normalize.glob_mean.numel() == 0:
            raise ValueError("ONNX export: the feature normaliser has no statistics (untrained InputNormalization)")
        self.register_buffer("mean", normalize.glob_mean.detach().clone().float().reshape(1, 1, -1))
        std = normalize.glob_std if normalize.std_norm else torch.ones_like(normalize.glob_std)
        self.register_buffer("std", std.detach().clone().float().clamp(min=normalize.epsilon).reshape(1, 1, -1))

    def forward(self, x):
        return (x - self.mean) / self.std


def _check_encoder(mods: TransducerModules) -> None:
    tr = mods.Transformer
    if tr.attention_type != "RelPosMHAXL":
        raise ValueError(f"ONNX export: attention_type={tr.attention_type!r}; only RelPosMHAXL is supported")
    if getattr(tr, "output_hidden_states", False):
        raise ValueError("ONNX export: output_hidden_states=True is not supported")
    for layer in mods.encoder.layers:
        if layer.convolution_module.causal:
            raise ValueError("ONNX export: causal convolutions are not supported by the streaming step")


class FullEncoder(nn.Module):
    """Full-utterance encoder graph: normalised features -> CNN -> Conformer -> ``proj_enc``.

    Mirrors ``TransformerASR.encode`` (same masks, same layer code) with a
    traceable relative positional encoding (:func:`rel_pos_embs`).
    """

    def __init__(self, mods: TransducerModules):
        super().__init__()
        _check_encoder(mods)
        self.normalize = _Normalize(mods.normalize)
        self.cnn = mods.CNN
        self.transformer = mods.Transformer
        self.proj_enc = mods.proj_enc

    def forward(self, feats, feats_lens):
        from speechbrain.lobes.models.transformer.TransformerASR import make_transformer_src_tgt_masks

        x = self.cnn(self.normalize(feats))  # (B, T', F, C)
        x = x.reshape(x.shape[0], x.shape[1], -1)
        tr = self.transformer
        key_pad, _, src_mask, _ = make_transformer_src_tgt_masks(x, None, feats_lens, causal=tr.causal)
        x = tr.custom_src_module(x)
        pos = rel_pos_embs(tr.positional_encoding.inv_freq, x.shape[1])
        out = tr.encoder(src=x, src_mask=src_mask, src_key_padding_mask=key_pad, pos_embs=pos)[0]
        lens = (feats_lens * x.shape[1]).round().long()
        return self.proj_enc(out), lens


@dataclass
class ChunkGeometry:
    """Sizes of one streaming step (encoder frames are 40 ms for 10 ms hops and 4x subsampling).

    ``chunk_samples`` is what SpeechBrain's ``StreamingASR`` feeds per chunk,
    ``(stride - 1) * chunk_frames``: with the wrapper's left/right padding it
    yields exactly ``chunk_frames`` encoder frames per step.
    """

    chunk_frames: int  # C: encoder frames produced per step
    left_frames: int  # L: attention left context (frames), the MHA cache length
    conv_frames: int  # P: depthwise-conv left context, the conv cache length
    num_layers: int
    d_model: int
    stride: int  # waveform samples per encoder frame
    pad_samples: int  # StreamingFeatureWrapper padding (each side)
    trim_frames: int  # encoder frames cut on each side of the front-end output
    chunk_samples: int
    feat_frames: int  # Fbank frames of one padded chunk (the step's input length)
    sample_rate: int

    @property
    def chunk_seconds(self) -> float:
        """Audio consumed per step."""
        return self.chunk_samples / self.sample_rate


def chunk_geometry(mods: TransducerModules, chunk_frames: int, left_chunks: int) -> ChunkGeometry:
    """Streaming geometry for ``chunk_frames`` encoder frames and ``left_chunks`` chunks of attention context."""
    from speechbrain.lobes.features import StreamingFeatureWrapper
    from speechbrain.utils.filter_analysis import stack_filter_properties

    if not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ValueError(f"--chunk-frames={chunk_frames!r}: must be a positive integer")
    if not isinstance(left_chunks, int) or left_chunks < 1:
        raise ValueError(
            f"--left-chunks={left_chunks!r}: must be >= 1 (the ONNX step keeps a fixed-size attention cache, "
            "so unlimited left context is not available)"
        )
    props = stack_filter_properties([mods.compute_features, mods.CNN])
    wrapper = StreamingFeatureWrapper(mods.CNN, props)
    pad = wrapper.get_required_padding()
    stft = mods.compute_features.compute_STFT
    chunk_samples = (props.stride - 1) * chunk_frames
    conv = mods.encoder.layers[0].convolution_module.padding
    if conv < 1:
        raise ValueError("ONNX streaming export needs a depthwise convolution with kernel_size >= 3")
    return ChunkGeometry(
        chunk_frames=chunk_frames,
        left_frames=chunk_frames * left_chunks,
        conv_frames=int(conv),
        num_layers=len(layers_run(mods.encoder)),  # the run-time depth's layers (elastic depth)
        d_model=int(mods.encoder.norm.norm.normalized_shape[0]),
        stride=int(props.stride),
        pad_samples=int(pad),
        trim_frames=int(wrapper.get_output_count_per_pad_frame()),
        chunk_samples=int(chunk_samples),
        feat_frames=int(1 + (chunk_samples + 2 * pad) // stft.hop_length),
        sample_rate=int(stft.sample_rate),
    )


class EncoderStep(nn.Module):
    """One streaming step of the encoder with explicit, fixed-size caches.

    Inputs: ``feats (1, feat_frames, n_mels)`` -- the Fbank of the padded
    waveform chunk that SpeechBrain's ``StreamingFeatureWrapper`` builds
    (previous ``2 * pad_samples`` samples + the chunk; see
    :class:`StreamingFrontend`); ``mha_cache (layers, 1, L, d)``,
    ``conv_cache (layers, 1, P, d)``; ``processed (1,)`` int64, frames already
    encoded. Outputs: ``enc (1, C, joint_dim)``, the updated caches and
    ``processed + C``. Caches start as zeros and ``processed`` as 0.

    Per layer this is ``ConformerEncoderLayer.forward_streaming`` with SpeechBrain's
    growing contexts replaced by right-aligned buffers of their maximum size:
    the ``L - min(processed, L)`` oldest attention slots are masked as padded
    keys (relative positions make that equal to attending over the short
    context), and the ``P - min(processed, P)`` oldest convolution slots are
    zeroed after the pointwise bottleneck, exactly like the zero padding the
    first chunks get in SpeechBrain.
    """

    def __init__(self, mods: TransducerModules, geometry: ChunkGeometry):
        super().__init__()
        _check_encoder(mods)
        self.g = geometry
        self.normalize = _Normalize(mods.normalize)
        self.cnn = mods.CNN
        self.transformer = mods.Transformer
        self.proj_enc = mods.proj_enc

    def forward(self, feats, mha_cache, conv_cache, processed):
        g = self.g
        C, L, P = g.chunk_frames, g.left_frames, g.conv_frames
        x = self.cnn(self.normalize(feats))
        x = x[:, g.trim_frames: g.trim_frames + C]  # the wrapper's trimming of the padded chunk
        x = x.reshape(x.shape[0], C, -1)
        tr = self.transformer
        encoder = tr.encoder
        x = tr.custom_src_module(x)
        pos = rel_pos_embs(tr.positional_encoding.inv_freq, L + C)
        seen_mha = torch.minimum(processed, torch.tensor(L, dtype=torch.int64))
        seen_conv = torch.minimum(processed, torch.tensor(P, dtype=torch.int64))
        key_pad = (torch.arange(L + C, dtype=torch.int64) < (L - seen_mha)).unsqueeze(0).expand(x.shape[0], L + C)
        conv_keep = (torch.arange(P + C, dtype=torch.int64) >= (P - seen_conv)).to(x.dtype).reshape(1, 1, P + C)
        new_mha, new_conv = [], []
        for i, layer in enumerate(layers_run(encoder)):
            x, mha_ctx, conv_ctx = _layer_step(layer, x, mha_cache[i], conv_cache[i], pos, key_pad, conv_keep, C, L, P)
            new_mha.append(mha_ctx)
            new_conv.append(conv_ctx)
        out = self.proj_enc(encoder.norm(x))
        return out, torch.stack(new_mha), torch.stack(new_conv), processed + C


def _layer_step(layer, x, mha_ctx, conv_ctx, pos, key_pad, conv_keep, C: int, L: int, P: int):
    """``ConformerEncoderLayer.forward_streaming`` on fixed-size caches (see :class:`EncoderStep`)."""
    x = x + 0.5 * layer.ffn_module1(x)
    full = torch.cat((mha_ctx, x), dim=1)  # (B, L + C, d): SpeechBrain caches the attention *input*
    new_mha = full[:, C:]
    h = layer.norm1(full)
    h, _ = layer.mha_layer(h, h, h, attn_mask=None, key_padding_mask=key_pad, pos_embs=pos)
    x = (h + full)[:, L:]
    conv_in = torch.cat((conv_ctx, x), dim=1)  # (B, P + C, d)
    new_conv = conv_in[:, C:]
    conv = layer.convolution_module
    out = conv.bottleneck(conv.layer_norm(conv_in).transpose(1, 2)) * conv_keep
    x = x + conv.after_conv(conv.conv(out).transpose(1, 2))[:, P:]  # (branch scale included)
    x = layer.norm2(x + 0.5 * layer.ffn_module2(x))
    return x, new_mha, new_conv


class PredictorStep(nn.Module):
    """Prediction network, one token: ``Embedding -> GRU -> proj_dec``.

    A one-layer unidirectional GRU is written as its cell equations (torch's
    gate order r, z, n) so that its weights become plain MatMuls, which
    dynamic int8 quantisation covers; other RNNs are exported as they are.
    """

    def __init__(self, mods: TransducerModules):
        super().__init__()
        self.emb = mods.emb
        self.dec = mods.dec
        self.proj_dec = mods.proj_dec
        rnn = getattr(mods.dec, "rnn", None)
        self.cell = (
            isinstance(rnn, torch.nn.GRU) and rnn.num_layers == 1 and not rnn.bidirectional and rnn.bias
            and rnn.batch_first and not getattr(rnn, "proj_size", 0)
        )

    def forward(self, token, state):
        x = self.emb(token)  # (B, 1, E)
        if self.cell:
            new_state = _gru_cell(self.dec.rnn, x[:, 0], state[0]).unsqueeze(0)
            out = new_state[0]
        else:
            out, new_state = self.dec(x, state)
            out = out[:, -1]
        return self.proj_dec(out), new_state


def _gru_cell(rnn, x, h):
    gi = torch.nn.functional.linear(x, rnn.weight_ih_l0, rnn.bias_ih_l0)
    gh = torch.nn.functional.linear(h, rnn.weight_hh_l0, rnn.bias_hh_l0)
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


class JointStep(nn.Module):
    """Joint network for one (frame, prediction) pair: ``Tjoint`` (sum + activation) -> ``transducer_lin``."""

    def __init__(self, mods: TransducerModules):
        super().__init__()
        self.tjoint = mods.Tjoint
        self.lin = mods.transducer_lin

    def forward(self, enc, pred):
        # Tjoint takes 4-D (B, T, U, H) tensors, as in SpeechBrain's searcher.
        out = self.lin(self.tjoint(enc[:, None, None, :], pred[:, None, None, :]))
        return out[:, 0, 0, :]
