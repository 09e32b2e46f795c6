"""Streaming export to sherpa-onnx's online "conformer" transducer convention.

    tinyconf-onnx-export MODEL_OR_RUN OUT --format sherpa-onnx --streaming \
        [--chunk-frames 8] [--left-chunks 4] [--int8] [--int4]

writes ``encoder.onnx``, ``decoder.onnx``, ``joiner.onnx`` (``*.int8.onnx``, ``*.int4.onnx``) and ``tokens.txt``,
which ``sherpa_onnx.OnlineRecognizer.from_transducer`` (and ``sherpa_onnx.KeywordSpotter``, see
:mod:`speechbrain_tinyconf.deploy.kws`) loads as they are. The decoder, joiner, tokens and
``tokenizer.model`` are the offline export's (:mod:`speechbrain_tinyconf.deploy.sherpa`). The encoder follows
``online-conformer-transducer-model.cc``: sherpa-onnx feeds it, in this order,

* ``x (N, T, 80)``: ``T`` Kaldi fbank frames starting at ``processed_frames``; the stream then
  advances by ``decode_chunk_len`` frames. Here ``T = decode_chunk_len = 4 C`` (``pad_length = 0``):
  the SpeechBrain CNN front-end (two kernel-3, stride-2 blocks, "same" padding) needs no frame to
  the right of the chunk, only three to the left, which the graph keeps in its conv cache (below);
* ``cached_attn (num_encoder_layers, left_context, N, encoder_dim)``: per virtual layer, the
  attention input of the last ``left_context = C * left_chunks`` encoder frames (SpeechBrain's
  streaming attention cache);
* ``cached_conv (num_encoder_layers, cnn_module_kernel - 1, N, encoder_dim)``: SpeechBrain streams
  the (non-causal, within-chunk) depthwise convolution with ``P = (kernel - 1) / 2`` past frames,
  kept in the last ``P`` rows; the first ``P`` rows are spare and carry, flattened over layers,
  the last 4 fbank frames for the front-end's left context;
* ``processed_frames (N,) int64``: fbank frames consumed before this chunk (0 for a new stream:
  the graph then reproduces the front-end's reflect padding at the start and masks the empty
  caches, as SpeechBrain's growing contexts do),

and reads back ``encoder_out (N, C, joiner_dim)``, ``new_cached_attn``, ``new_cached_conv``.
Streams of a batch may be at different positions (everything is per stream). All caches start as
zeros (sherpa-onnx's ``GetEncoderInitStates``).

So, per chunk, the graph computes exactly what SpeechBrain's chunked Conformer
(``encode_streaming`` with ``DynChunkTrainConfig(C, left_chunks)``) computes from the
full-utterance CNN output of the features sherpa-onnx computes. It is *not* SpeechBrain's
``StreamingASR`` front-end: that one (``StreamingFeatureWrapper``) recomputes the fbank on each
padded waveform chunk of ``639 C`` samples, so its frames drift off the global 10 ms grid that
sherpa-onnx's online fbank keeps; the tokens differ on some files (measured in the tests).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Union

import torch
import torch.nn as nn

from ..lobes.depth import layers_run
from .export import export_graph
from .graphs import _check_encoder, _layer_step, _Normalize, rel_pos_embs
from .sherpa import SHERPA_FBANK, SherpaExportError, prepare_export, write_sherpa_folder

PathLike = Union[str, Path]
FEATURE_CACHE = 4  # fbank frames kept for the front-end's left context (3 needed, 4 keep the stride-2 phase)


class _Geometry:
    """Chunk ``C``, attention context ``L`` and conv context ``P`` (encoder frames), layers and width."""

    def __init__(self, mods, chunk_frames: int, left_chunks: int):
        for name, value, least in (("--chunk-frames", chunk_frames, 1), ("--left-chunks", left_chunks, 1)):
            if not isinstance(value, int) or value < least:
                raise ValueError(f"{name}={value!r}: must be an integer >= {least} "
                                 "(sherpa-onnx keeps fixed-size caches)")
        self.chunk_frames = chunk_frames
        self.left_frames = chunk_frames * left_chunks
        self.conv_frames = int(mods.encoder.layers[0].convolution_module.padding)
        if self.conv_frames < 1:
            raise ValueError("sherpa-onnx streaming export needs a depthwise convolution with kernel_size >= 3")
        self.num_layers = len(layers_run(mods.encoder))  # the run-time depth's layers (elastic depth)
        self.d_model = int(mods.encoder.norm.norm.normalized_shape[0])


def _check_frontend(cnn) -> str:
    """The CNN front-end this graph streams: two blocks of one kernel-3 stride-2 conv; returns the padding mode."""
    from speechbrain.nnet.CNN import Conv2d

    blocks = list(cnn.children())
    convs = [m for b in blocks for m in b.modules() if isinstance(m, Conv2d)]
    ok = len(blocks) == 2 and len(convs) == 2 and all(
        c.conv.kernel_size[0] == 3 and c.conv.stride[0] == 2 and c.padding == "same" and c.conv.dilation[0] == 1
        for c in convs) and all(getattr(b, "reduce_conv", None) is None for b in blocks)
    modes = {c.padding_mode for c in convs}
    if not ok or len(modes) != 1 or not modes <= {"reflect", "zeros", "constant"}:
        raise SherpaExportError("--format sherpa-onnx --streaming: the CNN front-end must be two blocks of one "
                                "kernel-3, stride-2 'same' convolution (the recipe's ConvolutionFrontEnd)")
    return modes.pop()


class SherpaStreamingEncoder(nn.Module):
    """One sherpa-onnx online-conformer encoder call (see the module docstring)."""

    def __init__(self, mods, chunk_frames: int, left_chunks: int):
        super().__init__()
        _check_encoder(mods)
        self.reflect = _check_frontend(mods.CNN) == "reflect"
        self.g = _Geometry(mods, chunk_frames, left_chunks)
        self.subsampling = 4
        self.n_mels = SHERPA_FBANK["n_mels"]
        spare = self.g.num_layers * self.g.conv_frames * self.g.d_model
        if spare < FEATURE_CACHE * self.n_mels:
            raise SherpaExportError(
                f"--format sherpa-onnx --streaming: the conv cache has {spare} spare values per stream, "
                f"fewer than the {FEATURE_CACHE * self.n_mels} the front-end's left context needs")
        self.kernel = 2 * self.g.conv_frames + 1
        self.normalize = _Normalize(mods.normalize)
        self.blocks = nn.ModuleList(list(mods.CNN.children()))
        self.transformer = mods.Transformer
        self.proj_enc = mods.proj_enc

    def frontend(self, x, cached_feats, first):
        """Fbank frames of the chunk + 4 previous ones -> the C CNN output frames of the chunk."""
        C = self.g.chunk_frames
        b = self.normalize(torch.cat((cached_feats, x), dim=1))  # frame i is absolute frame p - 4 + i
        # Absolute frame -1 (index 3) is the first layer's left padding at the start of a stream.
        pad = b[:, 5:6] if self.reflect else torch.zeros_like(b[:, 3:4])
        b = torch.cat((b[:, :3], torch.where(first.view(-1, 1, 1), pad, b[:, 3:4]), b[:, 4:]), dim=1)
        h = self.blocks[0](b)  # (N, 2C + 2, F', ch): output j is at layer-1 position 2Ck - 2 + j
        pad = h[:, 3:4] if self.reflect else torch.zeros_like(h[:, 1:2])  # position -1: the second layer's padding
        h = torch.cat((h[:, :1], torch.where(first.view(-1, 1, 1, 1), pad, h[:, 1:2]), h[:, 2:]), dim=1)
        y = self.blocks[1](h)[:, 1:C + 1]  # output 0 is the previous chunk's last frame
        return y.reshape(y.shape[0], C, -1)

    def forward(self, x, cached_attn, cached_conv, processed_frames):
        g = self.g
        C, L, P = g.chunk_frames, g.left_frames, g.conv_frames
        attn = cached_attn.permute(2, 0, 1, 3)  # (N, layers, L, D)
        conv = cached_conv.permute(2, 0, 1, 3)  # (N, layers, 2P, D)
        n = x.shape[0]
        spare = conv[:, :, :P].reshape(n, -1)
        cached_feats = spare[:, : FEATURE_CACHE * self.n_mels].reshape(n, FEATURE_CACHE, self.n_mels)
        first = processed_frames == 0
        h = self.frontend(x, cached_feats, first)
        tr = self.transformer
        encoder = tr.encoder
        h = tr.custom_src_module(h)
        pos = rel_pos_embs(tr.positional_encoding.inv_freq, L + C)
        processed = torch.div(processed_frames, self.subsampling, rounding_mode="floor")  # encoder frames
        seen_mha = torch.clamp(processed, max=L).unsqueeze(1)
        seen_conv = torch.clamp(processed, max=P).unsqueeze(1)
        key_pad = torch.arange(L + C, dtype=torch.int64).unsqueeze(0) < (L - seen_mha)  # (N, L + C)
        conv_keep = (torch.arange(P + C, dtype=torch.int64).unsqueeze(0) >= (P - seen_conv)).to(h.dtype).unsqueeze(1)
        new_mha, new_conv = [], []
        for i, layer in enumerate(layers_run(encoder)):
            h, mha_ctx, conv_ctx = _layer_step(layer, h, attn[:, i], conv[:, i, P:], pos, key_pad, conv_keep, C, L, P)
            new_mha.append(mha_ctx)
            new_conv.append(conv_ctx)
        out = self.proj_enc(encoder.norm(h))
        feats = x[:, -FEATURE_CACHE:].reshape(n, -1)
        spare = torch.cat((feats, torch.zeros_like(spare[:, feats.shape[1]:])), dim=1).reshape(n, -1, P, g.d_model)
        new_attn = torch.stack(new_mha, dim=0).permute(0, 2, 1, 3)
        new_conv = torch.cat((spare, torch.stack(new_conv, dim=1)), dim=2).permute(1, 2, 0, 3)
        return out, new_attn, new_conv

    def initial_states(self, n: int = 1):
        """Zero caches, as sherpa-onnx's ``GetEncoderInitStates`` makes them."""
        g = self.g
        return (torch.zeros(g.num_layers, g.left_frames, n, g.d_model),
                torch.zeros(g.num_layers, self.kernel - 1, n, g.d_model))

    def metadata(self, mods) -> Dict[str, str]:
        """What ``OnlineConformerTransducerModel`` reads (and a few keys of ours, for people)."""
        g = self.g
        return {
            "model_type": "conformer", "model_author": "speechbrain-tinyconf", "comment": str(mods.source),
            "num_encoder_layers": g.num_layers, "T": self.subsampling * g.chunk_frames,
            "decode_chunk_len": self.subsampling * g.chunk_frames, "left_context": g.left_frames,
            "encoder_dim": g.d_model, "pad_length": 0, "cnn_module_kernel": self.kernel,
            "chunk_frames": g.chunk_frames, "left_chunks": g.left_frames // g.chunk_frames,
            "subsampling_factor": self.subsampling,
        }


def export_sherpa_streaming(mods, out_dir: PathLike, chunk_frames: int = 8, left_chunks: int = 4,
                            int8: bool = False, int4: bool = False, overwrite: bool = False) -> Dict[str, Path]:
    """Writes the sherpa-onnx online files of ``mods`` (see the module docstring); returns them by name.

    Checked first, written next to ``out_dir`` and swapped in whole when complete (as the offline export).
    """
    prepare_export(mods, int8, int4)
    encoder = SherpaStreamingEncoder(mods, int(chunk_frames), int(left_chunks))  # checks the geometry
    T = encoder.subsampling * encoder.g.chunk_frames

    def write_encoder(files: Dict[str, Path]) -> Dict[str, Any]:
        attn, conv = encoder.initial_states(2)
        export_graph(encoder, (torch.randn(2, T, encoder.n_mels), attn, conv, torch.tensor([0, T], dtype=torch.int64)),
                     files["encoder"], ["x", "cached_attn", "cached_conv", "processed_frames"],
                     ["encoder_out", "new_cached_attn", "new_cached_conv"],
                     {"x": {0: "N"}, "cached_attn": {2: "N"}, "cached_conv": {2: "N"}, "processed_frames": {0: "N"},
                      "encoder_out": {0: "N"}, "new_cached_attn": {2: "N"}, "new_cached_conv": {2: "N"}})
        return encoder.metadata(mods)

    return write_sherpa_folder(mods, out_dir, write_encoder, int8, int4, overwrite, streaming=True,
                               extra={"chunk_frames": encoder.g.chunk_frames, "left_chunks": int(left_chunks)})
