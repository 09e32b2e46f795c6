"""Writes the ONNX files of a transducer (the layout is described in :mod:`speechbrain_tinyconf.deploy.onnx_export`).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .onnx_runtime import CONFIG_NAME, FRONTEND_NAME, NumpyFbank
from .graphs import EncoderStep, FullEncoder, JointStep, PredictorStep, chunk_geometry
from .load import TransducerModules, load_transducer
from .passes import (
    bypass_identities,
    dedupe_initializers,
    quantized_twins,
    remove_unused_initializers,
    shorten_names,
)

PathLike = Union[str, Path]
OPSET = 17


@dataclass
class OnnxExport:
    """What :func:`export_transducer` wrote."""

    out_dir: Path
    files: Dict[str, Path] = field(default_factory=dict)
    config: Dict[str, Any] = field(default_factory=dict)

    def size(self, name: str) -> int:
        """Bytes on disk of ``files[name]``."""
        return self.files[name].stat().st_size


def export_graph(module, args: Tuple, path: Path, input_names: List[str], output_names: List[str],
                 dynamic_axes: Optional[Dict[str, Dict[int, str]]] = None) -> None:
    """Traces ``module(*args)`` to ``path`` (TorchScript exporter), then runs the graph passes on the file.

    Without ``dynamic_axes`` every shape is static, the outputs' included.
    """
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


def check_export_tools(int8: bool = False, int4: bool = False) -> None:
    """Raises ``ImportError`` with one line naming what to install when onnx/onnxruntime are missing."""
    for module in ("onnx", "onnxruntime") + (("onnxruntime.quantization",) if int8 or int4 else ()):
        try:
            __import__(module)
        except ImportError as err:
            raise ImportError(f"ONNX export needs onnx and onnxruntime ({err}): pip install -e \".[export]\"") from None


def export_sources(mods: TransducerModules) -> List[Path]:
    """The files or folders the modules were read from (an export must not replace them)."""
    return [Path(mods.source)] if mods.source and Path(mods.source).exists() else []


def finish_folder(stage: Path, out_dir: Path, files: Dict[str, Path]) -> Dict[str, Path]:
    """``files`` (paths in the staging folder) as paths in ``out_dir``, where the stage is swapped in."""
    return {name: out_dir / path.relative_to(stage) for name, path in files.items()}


def export_transducer(mods: TransducerModules, out_dir: PathLike, chunk_frames: Sequence[int] = (8, 16),
                      left_chunks: int = 4, int8: bool = False, int4: bool = False,
                      example_seconds: float = 3.0, overwrite: bool = False) -> OnnxExport:
    """Writes the ONNX graphs of ``mods`` to ``out_dir`` (see the module docstring); returns what was written.

    Every argument is checked first; the files are written to a temporary folder next to
    ``out_dir`` that replaces it, whole, when complete (:func:`~speechbrain_tinyconf.pretrained.model_folder.staged_folder`):
    a failure leaves ``out_dir`` as it was. ``out_dir`` may be absent, empty or an earlier ONNX
    export; anything else only with ``overwrite`` (never a run folder or the source itself).
    """
    from ..pretrained.model_folder import file_record, staged_folder
    from ..lobes.size import size_report

    mods.eval()
    out_dir = Path(out_dir)
    geometries = [chunk_geometry(mods, int(c) if isinstance(c, (int, np.integer)) else c, left_chunks)
                  for c in chunk_frames]  # a ValueError naming the option before anything is written
    check_export_tools(int8, int4)
    fbank = NumpyFbank.from_speechbrain(mods.compute_features)
    with staged_folder(out_dir, "onnx", overwrite, export_sources(mods)) as stage:
        result = OnnxExport(out_dir)
        files: Dict[str, Path] = {"frontend": stage / FRONTEND_NAME}
        fbank.save(files["frontend"])
        n_mels = fbank.n_mels
        joint_dim = int(mods.proj_enc.w.out_features)
        hidden = int(mods.dec.rnn.hidden_size)
        vocab = int(mods.transducer_lin.w.out_features)

        frames = int(example_seconds * 100)
        feats = torch.randn(1, frames, n_mels)
        files["encoder"] = stage / "encoder.onnx"
        export_graph(FullEncoder(mods), (feats, torch.ones(1)), files["encoder"], ["feats", "feats_lens"],
                     ["enc", "enc_lens"], {"feats": {0: "batch", 1: "frames"}, "feats_lens": {0: "batch"},
                                           "enc": {0: "batch", 1: "enc_frames"}, "enc_lens": {0: "batch"}})

        streaming = {}
        for g in geometries:
            step = EncoderStep(mods, g)
            args = (torch.randn(1, g.feat_frames, n_mels), torch.zeros(g.num_layers, 1, g.left_frames, g.d_model),
                    torch.zeros(g.num_layers, 1, g.conv_frames, g.d_model), torch.zeros(1, dtype=torch.int64))
            path = stage / f"encoder_chunk{g.chunk_frames}.onnx"
            export_graph(step, args, path, ["feats", "mha_cache", "conv_cache", "processed"],
                         ["enc", "mha_cache_out", "conv_cache_out", "processed_out"])
            files[f"encoder_chunk{g.chunk_frames}"] = path
            streaming[str(g.chunk_frames)] = {**g.__dict__, "file": path.name}

        files["predictor"] = stage / "predictor.onnx"
        export_graph(PredictorStep(mods), (torch.zeros(1, 1, dtype=torch.int64), torch.zeros(1, 1, hidden)),
                     files["predictor"], ["token", "state"], ["pred", "state_out"],
                     {"token": {0: "batch"}, "state": {1: "batch"}, "pred": {0: "batch"}, "state_out": {1: "batch"}})
        files["joint"] = stage / "joint.onnx"
        export_graph(JointStep(mods), (torch.randn(1, joint_dim), torch.randn(1, joint_dim)), files["joint"],
                     ["enc", "pred"], ["logits"], {"enc": {0: "batch"}, "pred": {0: "batch"}, "logits": {0: "batch"}})

        graphs = {name: path for name, path in files.items() if name != "frontend"}
        files.update(quantized_twins(graphs, int8=int8, int4=int4))
        if mods.tokenizer_path is not None:
            files["tokenizer"] = stage / "tokenizer.model"
            shutil.copyfile(mods.tokenizer_path, files["tokenizer"])

        enc_modules = torch.nn.ModuleList([mods.CNN, mods.Transformer.custom_src_module, mods.encoder, mods.proj_enc])
        report = size_report(enc_modules, depth=mods.depth if mods.depth < len(mods.encoder.layers) else None)
        result.config = {
            "format": "tinyconf",
            "exported_by": "speechbrain_tinyconf.deploy.onnx_export",
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
            "encoder_depth": mods.depth,  # virtual layers the graphs run (elastic depth)
            "num_encoder_layers": len(mods.encoder.layers),  # virtual layers the weights were trained for
            "encoder_unique_params": report.unique_params,
            "encoder_virtual_params": report.virtual_params,
            # what readers may open: nothing else in the folder is read (onnx_runtime.listed_file)
            "files": {name: {"file": p.name, **file_record(p)} for name, p in files.items()},
        }
        (stage / CONFIG_NAME).write_text(json.dumps(result.config, indent=2) + "\n", encoding="utf-8")
        result.files = finish_folder(stage, out_dir, files)
    mods.eval()
    return result


def export_onnx(source: PathLike, out_dir: PathLike, int8: bool = False, chunk_frames: Sequence[int] = (8, 16),
                left_chunks: int = 4, overrides: Optional[Dict[str, Any]] = None,
                seed: Optional[int] = None, int4: bool = False, overwrite: bool = False,
                depth: Optional[int] = None) -> OnnxExport:
    """:func:`load_transducer` (at encoder ``depth``, default all layers) + :func:`export_transducer`."""
    mods = load_transducer(source, overrides=overrides, seed=seed, depth=depth)
    return export_transducer(mods, out_dir, chunk_frames=chunk_frames, left_chunks=left_chunks, int8=int8, int4=int4,
                             overwrite=overwrite)
