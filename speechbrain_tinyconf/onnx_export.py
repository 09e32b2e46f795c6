"""ONNX export (fp32 and int8) of a speechbrain-tinyconf transducer.

    python -m speechbrain_tinyconf.onnx_export SOURCE OUT_DIR [--int8] [--chunk-frames 8 16] [--left-chunks 4]

``SOURCE`` is a model folder written by :mod:`speechbrain_tinyconf.export`, a
recipe output folder (``hyperparams.yaml`` + ``save/``; the checkpoint is
chosen like the recipe's evaluation), or a variant hparams YAML (random
weights, identity feature normalisation: for sizes and timings only).
``OUT_DIR`` receives:

* ``encoder.onnx`` -- full utterance: ``feats (B, T, n_mels)`` and relative
  ``feats_lens (B,)`` -> ``enc (B, T', joint_dim)`` and ``enc_lens (B,)``
  (int64 frames). Inside: feature normalisation, CNN front-end, input
  projection, relative positional encoding, the shared Conformer, ``proj_enc``.
* ``encoder_chunk<C>.onnx`` -- one streaming step of ``C`` encoder frames, with
  explicit fixed-size caches (see :class:`EncoderStep`); every shape is static.
* ``predictor.onnx`` -- ``token (B, 1)`` int64 + ``state (1, B, H)`` ->
  ``pred (B, joint_dim)`` + ``state_out``.
* ``joint.onnx`` -- ``enc (B, joint_dim)`` + ``pred (B, joint_dim)`` -> ``logits (B, vocab)``.
* ``*.int8.onnx`` (``--int8``) -- the same graphs after onnxruntime dynamic
  quantisation (:func:`quantize_int8`).
* ``frontend.npz`` -- constants of the Fbank (mel matrix, window, dB settings)
  for :class:`NumpyFbank`, and ``onnx_config.json`` (dimensions, blank index,
  streaming geometry, files and sizes); ``tokenizer.model`` when the source has one.

The Fbank stays outside the graphs: SpeechBrain's STFT goes through complex
tensors, which the TorchScript exporter cannot write, and every device has an
FFT. ``NumpyFbank`` reproduces SpeechBrain's ``Fbank`` with numpy alone, and
``OrtTransducer`` decodes greedily (full utterance or streaming) with numpy +
onnxruntime: both live in :mod:`speechbrain_tinyconf.onnx_runtime`, which
imports no torch, and are re-exported here.

Exporter: torch 2.11's default ``dynamo=True`` exporter needs onnxscript, takes
~20x longer on this model and wrote a full-utterance graph that onnxruntime
1.31 refused to load (a Squeeze shape-inference error) when this module was
written; the TorchScript exporter (``dynamo=False``, deprecated but still in
torch 2.11) traces SpeechBrain's layer code as is, keeps the time axis
dynamic, writes a tensor used by several layers as one initializer and
deduplicates equal constants after folding. Low-rank layers (the packed QKV
too, see ``LowRankRelPosMHAXL``) trace as ``(x U^T) V^T``: both factors are
constant MatMul weights that int8 quantisation can take. A graph pass then
merges initializers equal byte for byte. So the file tracks the *unique*
parameter count (tested). Intermediate names are shortened (~0.5 MB of a
16-layer graph otherwise).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from .encoder import branch_scale
from .onnx_runtime import (  # noqa: F401  (re-exported: the torch-free runtime half)
    CONFIG_NAME,
    FRONTEND_NAME,
    NumpyFbank,
    OrtStream,
    OrtTransducer,
    StreamingFrontend,
    ort_session,
)

PathLike = Union[str, Path]
OPSET = 17


# ---------------------------------------------------------------------------
# Loading the PyTorch modules


@dataclass
class TransducerModules:
    """The inference modules of a recipe model (names as in ``hparams/transducer_recipe.yaml``)."""

    compute_features: Any
    normalize: Any
    CNN: Any
    Transformer: Any
    enc: Any
    proj_enc: Any
    emb: Any
    dec: Any
    proj_dec: Any
    Tjoint: Any
    transducer_lin: Any
    blank_index: int = 0
    model: Any = None  # the recipe's `model` ModuleList (what size reports count)
    tokenizer_path: Optional[Path] = None
    source: str = ""
    random_weights: bool = False

    @classmethod
    def from_hparams(cls, hp: Dict[str, Any], **extra: Any) -> "TransducerModules":
        """Picks the modules out of an instantiated recipe or inference hparams dict."""
        names = ("compute_features", "normalize", "CNN", "Transformer", "enc", "proj_enc",
                 "emb", "dec", "proj_dec", "Tjoint", "transducer_lin")
        missing = [n for n in names if n not in hp]
        if missing:
            raise ValueError(f"not a transducer recipe: missing {', '.join(missing)}")
        mods = cls(**{n: hp[n] for n in names}, blank_index=int(hp.get("blank_index", 0)), model=hp.get("model"),
                   **extra)
        mods.eval()
        return mods

    def eval(self) -> "TransducerModules":
        """Puts every module in eval mode (dropout off, frozen normalisation statistics)."""
        for name in ("compute_features", "normalize", "CNN", "Transformer", "enc", "proj_enc", "emb", "dec",
                     "proj_dec", "Tjoint", "transducer_lin"):
            getattr(self, name).eval()
        return self

    @property
    def encoder(self):
        """The (Shared)ConformerEncoder."""
        return self.Transformer.encoder

    def greedy_searcher(self):
        """SpeechBrain's greedy transducer search over these modules (beam 1, as the recipe's)."""
        from .predictor import TransducerSearcher

        return TransducerSearcher(
            decode_network_lst=[self.emb, self.dec, self.proj_dec],
            tjoint=self.Tjoint,
            classifier_network=[self.transducer_lin],
            blank_id=self.blank_index,
            beam_size=1,
            nbest=1,
        )

    def encode(self, wav, lens=None):
        """PyTorch reference: waveform ``(B, samples)`` -> joint-space encoder output, as train.py computes it."""
        lens = torch.ones(wav.shape[0]) if lens is None else lens
        with torch.no_grad():
            feats = self.normalize(self.compute_features(wav), lens)
            return self.proj_enc(self.enc(self.CNN(feats), lens, pad_idx=0))

    def transcribe(self, wav) -> List[int]:
        """PyTorch reference greedy decoding of one waveform ``(samples,)``: token ids."""
        with torch.no_grad():
            return self.greedy_searcher()(self.encode(wav[None]))[0][0]


def ensure_normalizer_stats(normalize, n_mels: int) -> None:
    """Gives an untrained ``InputNormalization`` identity statistics (mean 0, std 1).

    A freshly built normaliser has empty statistics and cannot run in eval mode.
    """
    if getattr(normalize, "glob_mean", None) is None or normalize.glob_mean.numel() == 0:
        normalize.glob_mean = torch.zeros(n_mels)
        normalize.glob_std = torch.ones(n_mels)
        normalize.count = 1


def load_transducer(source: PathLike, overrides: Optional[Dict[str, Any]] = None, seed: Optional[int] = None,
                    ckpt: str = "average") -> TransducerModules:
    """Loads the transducer modules from a model folder, a recipe run folder or a variant YAML.

    Arguments
    ---------
    source : str or Path
        Folder written by ``python -m speechbrain_tinyconf.export`` (has ``model.ckpt``),
        recipe output folder (``hyperparams.yaml`` + ``save/``), or a hparams YAML (random init).
    overrides : dict, optional
        Extra hparams overrides, for a YAML source only.
    seed : int, optional
        The YAML's ``seed`` (it seeds torch before building the modules): the same seed gives the same
        random weights in any process.
    ckpt : str
        ``average`` or ``best``, for a run folder (as ``speechbrain_tinyconf.export``).
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"ONNX export source not found: {source}")
    if overrides and not source.is_file():
        raise ValueError(f"overrides apply to a hparams YAML source only, not to the folder {source}")
    if source.is_dir() and (source / "model.ckpt").is_file():
        from .export import instantiate
        from .transcribe import broken_model_file

        try:
            hp = instantiate(source)
        except Exception as err:
            where = broken_model_file(source)
            if where is None:
                raise
            raise ValueError(f"cannot load the model: {where}") from err
        tok = source / "tokenizer.ckpt"
        mods = TransducerModules.from_hparams(hp, tokenizer_path=tok if tok.is_file() else None, source=str(source))
    elif source.is_dir() and (source / "hyperparams.yaml").is_file() and (source / "save").is_dir():
        from .export import choose_checkpoint, read_run
        from .hparams import load_recipe_hparams

        run = read_run(source)
        num_avg = int(run.recipe.get("avg_checkpoints", 1))
        choice = choose_checkpoint(source, ckpt, num_avg)
        hp = load_recipe_hparams(source / "hyperparams.yaml")
        hp["model"].load_state_dict(choice.state_dict, strict=True)
        hp["normalize"]._load(str(choice.normalizer_path))
        mods = TransducerModules.from_hparams(hp, tokenizer_path=run.tokenizer_model, source=str(source))
    elif source.is_file() and source.suffix in (".yaml", ".yml"):
        from .hparams import load_detached

        merged = dict(overrides or {})
        if seed is not None:
            merged["seed"] = seed  # the YAML seeds torch first thing: same seed, same weights
        hp = load_detached(source, merged)
        ensure_normalizer_stats(hp["normalize"], int(hp.get("n_mels", 80)))
        mods = TransducerModules.from_hparams(hp, source=str(source), random_weights=True)
    else:
        raise ValueError(
            f"ONNX export source {source}: expected a model folder (model.ckpt), a recipe run folder "
            "(hyperparams.yaml + save/) or a hparams .yaml file"
        )
    return mods


# ---------------------------------------------------------------------------
# Exportable wrappers (trace-friendly; they call SpeechBrain's own layer code)


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
        num_layers=len(mods.encoder.layers),
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
        for i, layer in enumerate(encoder.layers):
            x, mha_ctx, conv_ctx = _layer_step(layer, x, mha_cache[i], conv_cache[i], pos, key_pad, conv_keep, C, L, P)
            if getattr(encoder, "layer_scales", None) is not None:
                x = x * encoder.layer_scales[i]
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
    out = conv.after_conv(conv.conv(out).transpose(1, 2))[:, P:]
    if branch_scale(conv) is not None:  # the module's hook does not run: its forward is unrolled here
        out = out * branch_scale(conv)
    x = x + out
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


# ---------------------------------------------------------------------------
# Graph passes


def bypass_identities(model) -> int:
    """Makes nodes read an initializer directly instead of through ``Identity`` aliases. Returns how many.

    The TorchScript exporter gives a tied weight's later uses an ``Identity``
    of the first one; onnxruntime's quantiser only quantises a MatMul whose
    weight *is* an initializer, so the aliases would keep those uses (and the
    fp32 copy) unquantised.
    """
    graph = model.graph
    inits = {init.name for init in graph.initializer}
    outputs = {o.name for o in graph.output}
    alias: Dict[str, str] = {}
    for node in graph.node:
        if node.op_type == "Identity" and node.output[0] not in outputs:
            source = alias.get(node.input[0], node.input[0])
            if source in inits:
                alias[node.output[0]] = source
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in alias:
                node.input[i] = alias[name]
    remove_unused_initializers(model)
    return len(alias)


def remove_unused_initializers(model) -> int:
    """Drops initializers no node reads (and Identity nodes whose output nobody reads). Returns how many."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    changed = True
    while changed:  # Identity chains left by tied parameters
        used = {name for node in graph.node for name in node.input} | outputs
        keep = [n for n in graph.node if n.op_type != "Identity" or n.output[0] in used]
        changed = len(keep) != len(graph.node)
        if changed:
            del graph.node[:]
            graph.node.extend(keep)
    used = {name for node in graph.node for name in node.input} | outputs
    dropped = [init for init in graph.initializer if init.name not in used]
    for init in dropped:
        graph.initializer.remove(init)
    return len(dropped)


def dedupe_initializers(model) -> int:
    """Merges initializers with the same dtype, shape and bytes (one stored copy). Returns how many went."""
    from onnx import numpy_helper

    graph = model.graph
    first: Dict[Tuple, str] = {}
    rename: Dict[str, str] = {}
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        key = (init.data_type, tuple(init.dims), hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest())
        keep = first.setdefault(key, init.name)
        if keep != init.name:
            rename[init.name] = keep
    if not rename:
        return 0
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    return remove_unused_initializers(model)


def shorten_names(model) -> int:
    """Renames intermediate tensors ``t<i>`` and nodes ``n<i>``; returns the bytes saved.

    The traced names (``/transformer/encoder/layers.15/mha_layer/...``) take
    ~0.5 MB per 16-layer graph (more after quantisation), a tenth of the int8
    model; graph inputs, outputs and initializer names are kept.
    """
    graph = model.graph
    before = model.ByteSize()
    keep = {v.name for v in graph.input} | {v.name for v in graph.output} | {i.name for i in graph.initializer}
    rename: Dict[str, str] = {}
    for index, node in enumerate(graph.node):
        node.name = f"n{index}"  # unique names: the quantiser selects and excludes nodes by name
        node.doc_string = ""
        for i, name in enumerate(node.output):
            if name and name not in keep:
                node.output[i] = rename.setdefault(name, f"t{len(rename)}")
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    del graph.value_info[:]
    return before - model.ByteSize()


def initializer_bytes(model) -> int:
    """Bytes of tensor data held by the graph's initializers and constant nodes."""
    from onnx import numpy_helper

    total = sum(numpy_helper.to_array(init).nbytes for init in model.graph.initializer)
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    total += numpy_helper.to_array(attr.t).nbytes
    return total


# ---------------------------------------------------------------------------
# Export


@dataclass
class OnnxExport:
    """What :func:`export_transducer` wrote."""

    out_dir: Path
    files: Dict[str, Path] = field(default_factory=dict)
    config: Dict[str, Any] = field(default_factory=dict)

    def size(self, name: str) -> int:
        """Bytes on disk of ``files[name]``."""
        return self.files[name].stat().st_size


def _export_graph(module, args: Tuple, path: Path, input_names: List[str], output_names: List[str],
                  dynamic_axes: Optional[Dict[str, Dict[int, str]]] = None) -> None:
    import onnx

    # The exporter restores the wrapper's train/eval mode afterwards, recursively: a wrapper left in
    # (default) training mode would switch the shared modules' dropout on for every later caller.
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript exporter deprecation + tracer warnings on shape arithmetic
        torch.onnx.export(
            module, args, str(path), dynamo=False, opset_version=OPSET, input_names=input_names,
            output_names=output_names, dynamic_axes=dynamic_axes or {}, do_constant_folding=True,
        )
    model = onnx.load(str(path))
    if not dynamic_axes:  # a static graph: declare its output shapes too (the tracer leaves some symbolic)
        with torch.no_grad():
            outs = module(*args)
        for value, out in zip(model.graph.output, outs if isinstance(outs, tuple) else (outs,)):
            dims = value.type.tensor_type.shape.dim
            del dims[:]
            for size in out.shape:
                dims.add().dim_value = int(size)
    bypass_identities(model)
    dedupe_initializers(model)
    remove_unused_initializers(model)
    shorten_names(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def quantize_int8(fp32_path: PathLike, int8_path: PathLike) -> Path:
    """onnxruntime dynamic quantisation of ``fp32_path`` into ``int8_path``.

    int8 weights (per tensor) for every MatMul with a constant
    weight, every pointwise (1x1, ungrouped) convolution and the embedding
    table; activations are quantised on the fly. Depthwise and front-end
    convolutions, norms, biases and scales stay fp32 (small, and sensitive).
    Per-channel weights were tried: larger and, on a trained model, less
    accurate. The written graph has no ``value_info`` (see :func:`shorten_names`);
    with it, onnxruntime's extended fusions of the quantised MatMuls doubled
    the error of the trained demo model's encoder (max 9.5 % vs 5.7 %).
    """
    import logging

    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(fp32_path))
    inits = {init.name: init for init in model.graph.initializer}
    keep_fp32 = []
    for node in model.graph.node:
        if node.op_type == "Conv":
            weight = inits.get(node.input[1])
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if weight is None or group != 1 or any(d != 1 for d in numpy_helper.to_array(weight).shape[2:]):
                keep_fp32.append(node.name)
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)  # the quantiser logs a pre-processing suggestion at WARNING for every call
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(fp32_path), str(int8_path), weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul", "Gemm", "Conv", "Gather"], nodes_to_exclude=keep_fp32,
                extra_options={"MatMulConstBOnly": True},
            )
    finally:
        logger.setLevel(level)
    model = onnx.load(str(int8_path))
    shorten_names(model)
    onnx.save(model, str(int8_path))
    return Path(int8_path)


def export_transducer(mods: TransducerModules, out_dir: PathLike, chunk_frames: Sequence[int] = (8, 16),
                      left_chunks: int = 4, int8: bool = False, example_seconds: float = 3.0) -> OnnxExport:
    """Writes the ONNX graphs of ``mods`` to ``out_dir`` (see the module docstring); returns what was written."""
    from .size import size_report

    mods.eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = OnnxExport(out_dir)
    fbank = NumpyFbank.from_speechbrain(mods.compute_features)
    fbank.save(out_dir / FRONTEND_NAME)
    result.files["frontend"] = out_dir / FRONTEND_NAME
    n_mels = fbank.n_mels
    joint_dim = int(mods.proj_enc.w.out_features)
    hidden = int(mods.dec.rnn.hidden_size)
    vocab = int(mods.transducer_lin.w.out_features)

    frames = int(example_seconds * 100)
    feats = torch.randn(1, frames, n_mels)
    path = out_dir / "encoder.onnx"
    _export_graph(FullEncoder(mods), (feats, torch.ones(1)), path, ["feats", "feats_lens"], ["enc", "enc_lens"],
                  {"feats": {0: "batch", 1: "frames"}, "feats_lens": {0: "batch"},
                   "enc": {0: "batch", 1: "enc_frames"}, "enc_lens": {0: "batch"}})
    result.files["encoder"] = path

    streaming = {}
    for c in chunk_frames:
        g = chunk_geometry(mods, int(c), left_chunks)
        step = EncoderStep(mods, g)
        args = (torch.randn(1, g.feat_frames, n_mels), torch.zeros(g.num_layers, 1, g.left_frames, g.d_model),
                torch.zeros(g.num_layers, 1, g.conv_frames, g.d_model), torch.zeros(1, dtype=torch.int64))
        path = out_dir / f"encoder_chunk{g.chunk_frames}.onnx"
        _export_graph(step, args, path, ["feats", "mha_cache", "conv_cache", "processed"],
                      ["enc", "mha_cache_out", "conv_cache_out", "processed_out"])
        result.files[f"encoder_chunk{g.chunk_frames}"] = path
        streaming[str(g.chunk_frames)] = {**g.__dict__, "file": path.name}

    path = out_dir / "predictor.onnx"
    _export_graph(PredictorStep(mods), (torch.zeros(1, 1, dtype=torch.int64), torch.zeros(1, 1, hidden)), path,
                  ["token", "state"], ["pred", "state_out"],
                  {"token": {0: "batch"}, "state": {1: "batch"}, "pred": {0: "batch"}, "state_out": {1: "batch"}})
    result.files["predictor"] = path
    path = out_dir / "joint.onnx"
    _export_graph(JointStep(mods), (torch.randn(1, joint_dim), torch.randn(1, joint_dim)), path, ["enc", "pred"],
                  ["logits"], {"enc": {0: "batch"}, "pred": {0: "batch"}, "logits": {0: "batch"}})
    result.files["joint"] = path

    if int8:
        for name in [n for n in result.files if n != "frontend"]:
            fp32 = result.files[name]
            result.files[f"{name}.int8"] = quantize_int8(fp32, fp32.with_suffix(".int8.onnx"))
    if mods.tokenizer_path is not None:
        shutil.copyfile(mods.tokenizer_path, out_dir / "tokenizer.model")
        result.files["tokenizer"] = out_dir / "tokenizer.model"

    enc_modules = torch.nn.ModuleList([mods.CNN, mods.Transformer.custom_src_module, mods.encoder, mods.proj_enc])
    report = size_report(enc_modules)
    result.config = {
        "source": mods.source,
        "random_weights": mods.random_weights,
        "blank_index": mods.blank_index,
        "vocab_size": vocab,
        "joint_dim": joint_dim,
        "pred_hidden": hidden,
        "n_mels": n_mels,
        "sample_rate": fbank.sample_rate,
        "frame_stride": chunk_geometry(mods, 1, 1).stride,
        "max_symbols_per_step": 5,  # SpeechBrain's greedy search default
        "streaming": streaming,
        "left_chunks": left_chunks,
        "encoder_unique_params": report.unique_params,
        "encoder_virtual_params": report.virtual_params,
        "files": {name: {"file": p.name, "bytes": p.stat().st_size} for name, p in result.files.items()},
    }
    (out_dir / CONFIG_NAME).write_text(json.dumps(result.config, indent=2) + "\n", encoding="utf-8")
    mods.eval()
    return result


def export_onnx(source: PathLike, out_dir: PathLike, int8: bool = False, chunk_frames: Sequence[int] = (8, 16),
                left_chunks: int = 4, overrides: Optional[Dict[str, Any]] = None,
                seed: Optional[int] = None) -> OnnxExport:
    """:func:`load_transducer` + :func:`export_transducer`."""
    mods = load_transducer(source, overrides=overrides, seed=seed)
    return export_transducer(mods, out_dir, chunk_frames=chunk_frames, left_chunks=left_chunks, int8=int8)


# ---------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m speechbrain_tinyconf.onnx_export",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("source",
                        help="model folder (export output), recipe run folder, or hparams .yaml (random weights)")
    parser.add_argument("out_dir", help="folder to write the ONNX files to")
    parser.add_argument("--int8", action="store_true", help="also write dynamically quantised *.int8.onnx graphs")
    parser.add_argument("--chunk-frames", type=int, nargs="+", default=[8, 16],
                        help="streaming chunk sizes in encoder frames, one graph each (default 8 16 = 320/640 ms)")
    parser.add_argument("--left-chunks", type=int, default=4, help="attention left context in chunks (default 4)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the random weights of a .yaml source")
    parser.add_argument("--format", choices=["tinyconf", "sherpa-onnx"], default="tinyconf",
                        help="tinyconf: our graphs for onnx_runtime.py (default); sherpa-onnx: encoder/decoder/joiner "
                             "+ tokens.txt for sherpa-onnx (needs frontend: kaldi, predictor: stateless)")
    parser.add_argument("--streaming", action="store_true",
                        help="with --format sherpa-onnx: the online 'conformer' convention for OnlineRecognizer"
                             " (chunk: the first --chunk-frames; attention context: --left-chunks)")
    args = parser.parse_args(argv)
    if args.format == "sherpa-onnx":
        return _main_sherpa(args)
    try:
        result = export_onnx(args.source, args.out_dir, int8=args.int8, chunk_frames=args.chunk_frames,
                             left_chunks=args.left_chunks, seed=args.seed)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if result.config.get("random_weights"):
        print(f"note: {args.source} is a hparams file: random weights, identity feature normalisation", file=sys.stderr)
    for name, path in result.files.items():
        print(f"{path}\t{path.stat().st_size}")
    return 0


def _main_sherpa(args) -> int:
    from .sherpa_onnx import SherpaExportError, export_sherpa_onnx

    try:
        mods = load_transducer(args.source, seed=args.seed)
        if args.streaming:  # one chunk size per export (the first of --chunk-frames)
            from .sherpa_streaming import export_sherpa_streaming

            files = export_sherpa_streaming(mods, args.out_dir, chunk_frames=args.chunk_frames[0],
                                            left_chunks=args.left_chunks, int8=args.int8)
        else:
            files = export_sherpa_onnx(mods, args.out_dir, int8=args.int8)
    except (FileNotFoundError, SherpaExportError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in files.values():
        print(f"{path}\t{path.stat().st_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
