"""Export to sherpa-onnx's transducer convention (icefall's), so that sherpa-onnx runs our models.

    tinyconf-onnx-export MODEL_OR_RUN OUT --format sherpa-onnx [--int8] [--int4]

writes ``encoder.onnx``, ``decoder.onnx``, ``joiner.onnx`` (and ``*.int8.onnx``, ``*.int4.onnx``) and
``tokens.txt`` (and ``onnx_config.json``, the list of files :func:`sherpa_files` returns), which
``sherpa_onnx.OfflineRecognizer.from_transducer`` loads as they are, and ``tokenizer.model``, the model's
sentencepiece model (sherpa-onnx does not read it: keyword spotting and hotwords spell their words with it,
:mod:`speechbrain_tinyconf.deploy.kws`):

* ``encoder(x (N, T, 80) float, x_lens (N,) int64) -> (encoder_out (N, T', J), encoder_out_lens (N,))``:
  feature normalisation, CNN front-end, the shared Conformer and ``proj_enc`` (shared weights
  stored once, as in our own export);
* ``decoder(y (N, context_size) int64) -> decoder_out (N, J)``: the stateless predictor and
  ``proj_dec``; ids < 0 (sherpa-onnx's padding at stream start) embed to zeros;
* ``joiner(encoder_out (N, J), decoder_out (N, J)) -> logit (N, vocab)``;
* metadata ``vocab_size``, ``context_size`` (decoder), blank id 0; ``tokens.txt`` is the
  sentencepiece vocabulary (``symbol id``, id 0 written as ``<blk>``).

sherpa-onnx computes the features itself (Kaldi fbank), so only models trained with
``frontend: kaldi`` and ``predictor: stateless`` can be exported; others are refused with a
message naming the option. Its greedy search emits at most one token per encoder frame, which
is SpeechBrain's greedy search with ``max_symbols_per_step=0``. The streaming export (sherpa-onnx's
online "conformer" convention, ``--streaming``) is :mod:`speechbrain_tinyconf.sherpa_streaming`.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import torch
import torch.nn as nn

from ..lobes.frontend import KaldiFbank
from ..lobes.predictor import StatelessPredictor
from .export import export_graph
from .graphs import FullEncoder, JointStep
from .passes import quantized_twins

PathLike = Union[str, Path]
SHERPA_FBANK = {"sample_rate": 16000, "n_mels": 80, "frame_length_ms": 25.0, "frame_shift_ms": 10.0,
                "low_freq": 20.0, "high_freq": -400.0}


class SherpaExportError(ValueError):
    """The model uses an option sherpa-onnx cannot run."""


def check_sherpa_compatible(mods) -> None:
    """Raises :class:`SherpaExportError` naming the recipe option that sherpa-onnx cannot run."""
    fbank = mods.compute_features
    if not isinstance(fbank, KaldiFbank):
        raise SherpaExportError(
            f"--format sherpa-onnx: the model was trained with frontend: speechbrain ({type(fbank).__name__}); "
            "sherpa-onnx computes Kaldi fbank features itself: train with frontend: kaldi")
    settings = {k: getattr(fbank, k) for k in SHERPA_FBANK}
    if settings != SHERPA_FBANK:
        raise SherpaExportError(f"--format sherpa-onnx: the Kaldi fbank settings {settings} differ from "
                                f"sherpa-onnx's {SHERPA_FBANK}")
    if not isinstance(mods.dec, StatelessPredictor):
        raise SherpaExportError(
            f"--format sherpa-onnx: the model's predictor is {type(mods.dec).__name__} (predictor: gru); "
            "sherpa-onnx runs a stateless decoder: train with predictor: stateless")
    if mods.blank_index != 0:
        raise SherpaExportError(f"--format sherpa-onnx: blank_index={mods.blank_index}; sherpa-onnx needs 0")


class SherpaEncoder(nn.Module):
    """``(x, x_lens)`` in frames -> ``(encoder_out, encoder_out_lens)``, around our full-utterance encoder."""

    def __init__(self, full_encoder: nn.Module):
        super().__init__()
        self.full = full_encoder

    def forward(self, x, x_lens):
        return self.full(x, x_lens.float() / x.shape[1])


class SherpaDecoder(nn.Module):
    """Stateless decoder on the last ``context_size`` (= 1) tokens; negative ids embed to zeros."""

    context_size = StatelessPredictor.context_size

    def __init__(self, mods):
        super().__init__()
        self.table = mods.emb.Embedding
        self.dec = mods.dec
        self.proj_dec = mods.proj_dec

    def forward(self, y):
        last = y[:, -1]
        emb = self.table(last.clamp(min=0)) * (last >= 0).unsqueeze(-1).to(torch.float32)
        return self.proj_dec(self.dec(emb))


def tokens_txt(tokenizer_path: PathLike) -> str:
    """``symbol id`` lines of a sentencepiece model; id 0 (our blank) is ``<blk>``."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(tokenizer_path))
    lines = ["<blk> 0"] + [f"{sp.id_to_piece(i)} {i}" for i in range(1, sp.get_piece_size())]
    return "\n".join(lines) + "\n"


def _add_metadata(path: Path, meta: Dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))


def export_sherpa_onnx(mods, out_dir: PathLike, int8: bool = False, int4: bool = False,
                       example_seconds: float = 3.0, overwrite: bool = False) -> Dict[str, Path]:
    """Writes the sherpa-onnx files of ``mods`` (see the module docstring); returns them by name.

    As :func:`speechbrain_tinyconf.deploy.export.export_transducer`: checked first, written next to
    ``out_dir`` and swapped in whole when complete.
    """
    prepare_export(mods, int8, int4)
    n_mels = SHERPA_FBANK["n_mels"]
    frames = int(example_seconds * 100)

    def write_encoder(files: Dict[str, Path]) -> Dict[str, Any]:
        export_graph(SherpaEncoder(FullEncoder(mods)),
                     (torch.zeros(1, frames, n_mels), torch.tensor([frames], dtype=torch.int64)),
                     files["encoder"], ["x", "x_lens"], ["encoder_out", "encoder_out_lens"],
                     {"x": {0: "N", 1: "T"}, "x_lens": {0: "N"}, "encoder_out": {0: "N", 1: "T_out"},
                      "encoder_out_lens": {0: "N"}})
        return {"model_type": "conformer", "model_author": "speechbrain-tinyconf", "comment": str(mods.source)}

    return write_sherpa_folder(mods, out_dir, write_encoder, int8, int4, overwrite, streaming=False)


def prepare_export(mods, int8: bool = False, int4: bool = False) -> None:
    """Checks, before anything is written, that sherpa-onnx can run ``mods``, that it has a tokenizer
    of its vocabulary size, and that the export tools are installed."""
    from .export import check_export_tools

    check_sherpa_compatible(mods)
    if mods.tokenizer_path is None:
        raise SherpaExportError("--format sherpa-onnx needs the model's tokenizer (a model or run folder, not a YAML)")
    check_export_tools(int8, int4)
    mods.eval()


def write_sherpa_folder(mods, out_dir: PathLike, write_encoder: Callable[[Dict[str, Path]], Dict[str, Any]],
                        int8: bool, int4: bool, overwrite: bool, streaming: bool,
                        extra: Optional[Dict[str, Any]] = None) -> Dict[str, Path]:
    """The folder of a sherpa-onnx export, staged: ``write_encoder(files)`` writes ``files["encoder"]`` and
    returns its metadata, then :func:`finish_export` and ``onnx_config.json`` (``format: sherpa-onnx``, every
    file with its size and sha256: what :func:`sherpa_files` returns)."""
    from ..pretrained.model_folder import file_record, staged_folder
    from .onnx_runtime import CONFIG_NAME
    from .export import export_sources, finish_folder

    out = Path(out_dir)
    with staged_folder(out, "onnx", overwrite, export_sources(mods)) as stage:
        files: Dict[str, Path] = {name: stage / f"{name}.onnx" for name in ("encoder", "decoder", "joiner")}
        encoder_meta = write_encoder(files)
        finish_export(mods, stage, files, encoder_meta, int8, int4)
        config = {
            "format": "sherpa-onnx",
            "exported_by": "speechbrain_tinyconf.deploy.onnx_export",
            "streaming": streaming,
            "source": str(mods.source),
            "vocab_size": int(mods.transducer_lin.w.out_features),
            "encoder_depth": mods.depth,  # virtual layers the encoder graph runs (elastic depth)
            "num_encoder_layers": len(mods.encoder.layers),
            **(extra or {}),
            "files": {name: {"file": p.name, **file_record(p)} for name, p in files.items()},
        }
        (stage / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return finish_folder(stage, out, files)


def finish_export(mods, out: Path, files: Dict[str, Path], encoder_meta: Dict[str, Any], int8: bool,
                  int4: bool = False) -> Dict[str, Path]:
    """After ``files["encoder"]`` is written: the decoder and joiner (the same for offline and streaming),
    metadata on all three, the int8/int4 twins, ``tokens.txt`` and ``tokenizer.model`` (the sentencepiece model
    that ``tokens.txt`` lists, for keyword spotting); returns ``files`` completed."""
    joint_dim = int(mods.proj_enc.w.out_features)
    export_graph(SherpaDecoder(mods), (torch.zeros(1, SherpaDecoder.context_size, dtype=torch.int64),),
                 files["decoder"], ["y"], ["decoder_out"], {"y": {0: "N"}, "decoder_out": {0: "N"}})
    export_graph(JointStep(mods), (torch.zeros(1, joint_dim), torch.zeros(1, joint_dim)), files["joiner"],
                 ["encoder_out", "decoder_out"], ["logit"],
                 {"encoder_out": {0: "N"}, "decoder_out": {0: "N"}, "logit": {0: "N"}})
    depth = {"encoder_depth": mods.depth, "virtual_layers": len(mods.encoder.layers)}  # for people: elastic depth
    metadata = {
        "encoder": {**encoder_meta, **depth},
        "decoder": {"vocab_size": int(mods.transducer_lin.w.out_features), "context_size": SherpaDecoder.context_size},
        "joiner": {"joiner_dim": joint_dim},
    }
    for name, meta in metadata.items():
        _add_metadata(files[name], meta)
    twins = quantized_twins({name: files[name] for name in metadata}, int8=int8, int4=int4)
    for key, path in twins.items():  # the quantisers do not keep metadata
        _add_metadata(path, metadata[key.split(".")[0]])
    files.update(twins)
    files["tokens"] = out / "tokens.txt"
    files["tokens"].write_text(tokens_txt(mods.tokenizer_path), encoding="utf-8")
    files["tokenizer"] = out / "tokenizer.model"  # the tinyconf format's name and key (onnx_runtime.listed_file)
    shutil.copyfile(mods.tokenizer_path, files["tokenizer"])
    return files


def sherpa_files(out_dir: PathLike, precision: str = "fp32") -> List[str]:
    """``[encoder, decoder, joiner, tokens]`` paths of an export at ``precision`` (fp32, int8, int4), for
    ``from_transducer``: the files its ``onnx_config.json`` lists, each checked against its recorded size
    and sha256 (a file the config does not list, e.g. one left by an earlier export, is never returned)."""
    from .onnx_runtime import PRECISIONS, listed_file, read_config

    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {', '.join(PRECISIONS)}")
    config = read_config(out_dir, "sherpa-onnx")
    hint = "" if precision == "fp32" else f" (export with --{precision})"
    keys = [n if precision == "fp32" else f"{n}.{precision}" for n in ("encoder", "decoder", "joiner")] + ["tokens"]
    return [str(listed_file(out_dir, config, key, hint)) for key in keys]
