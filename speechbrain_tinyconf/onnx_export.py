"""ONNX export (fp32, int8, int4) of a speechbrain-tinyconf transducer.

    python -m speechbrain_tinyconf.onnx_export SOURCE OUT_DIR [--int8] [--int4] [--chunk-frames 8 16] [--left-chunks 4]

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
  explicit fixed-size caches (see :class:`speechbrain_tinyconf.onnx.graphs.EncoderStep`);
  every shape is static.
* ``predictor.onnx`` -- ``token (B, 1)`` int64 + ``state (1, B, H)`` ->
  ``pred (B, joint_dim)`` + ``state_out``.
* ``joint.onnx`` -- ``enc (B, joint_dim)`` + ``pred (B, joint_dim)`` -> ``logits (B, vocab)``.
* ``*.int8.onnx`` (``--int8``) -- the same graphs after onnxruntime dynamic
  quantisation (:func:`speechbrain_tinyconf.onnx.passes.quantize_int8`).
* ``*.int4.onnx`` (``--int4``) -- 4-bit block-wise MatMul weights (``MatMulNBits``), the
  other weights int8 (:func:`speechbrain_tinyconf.onnx.passes.quantize_int4`).
* ``frontend.npz`` -- constants of the Fbank (mel matrix, window, dB settings)
  for :class:`NumpyFbank`, and ``onnx_config.json`` (dimensions, blank index,
  streaming geometry, files and sizes); ``tokenizer.model`` when the source has one.

The Fbank stays outside the graphs: SpeechBrain's STFT goes through complex
tensors, which the TorchScript exporter cannot write, and every device has an
FFT. ``NumpyFbank`` reproduces SpeechBrain's ``Fbank`` with numpy alone, and
``OrtTransducer`` decodes greedily (full utterance or streaming) with numpy +
onnxruntime: both live in :mod:`speechbrain_tinyconf.onnx_runtime`, which
imports no torch.

Exporter: torch 2.11's default ``dynamo=True`` exporter needs onnxscript, takes
~20x longer on this model and wrote a full-utterance graph that onnxruntime
1.31 refused to load (a Squeeze shape-inference error) when this module was
written; the TorchScript exporter (``dynamo=False``, deprecated but still in
torch 2.11) traces SpeechBrain's layer code as is, keeps the time axis
dynamic, writes a tensor used by several layers as one initializer and
deduplicates equal constants after folding. Two graph passes follow: low-rank
``x (V U)^T`` is rewritten as ``(x U^T) V^T`` (fewer MACs, and both factors
become constant MatMul weights that int8 quantisation can take), and
initializers equal byte for byte are merged. So the file tracks the *unique*
parameter count (tested). Intermediate names are shortened (~0.5 MB of a
16-layer graph otherwise).

This module is the command line; the work is done in :mod:`speechbrain_tinyconf.onnx`
(``load``: the PyTorch modules; ``graphs``: the modules traced; ``passes``: graph passes and
int8; ``export``: the files; ``sherpa``: ``--format sherpa-onnx``).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .onnx.export import export_onnx
from .onnx.load import load_transducer


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m speechbrain_tinyconf.onnx_export",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("source",
                        help="model folder (export output), recipe run folder, or hparams .yaml (random weights)")
    parser.add_argument("out_dir", help="folder to write the ONNX files to")
    parser.add_argument("--int8", action="store_true", help="also write dynamically quantised *.int8.onnx graphs")
    parser.add_argument("--int4", action="store_true",
                        help="also write *.int4.onnx graphs: 4-bit block-wise MatMul weights (MatMulNBits), the rest int8")
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
                             left_chunks=args.left_chunks, seed=args.seed, int4=args.int4)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if result.config.get("random_weights"):
        print(f"note: {args.source} is a hparams file: random weights, identity feature normalisation", file=sys.stderr)
    for name, path in result.files.items():
        print(f"{path}\t{path.stat().st_size}")
    return 0


def _main_sherpa(args) -> int:
    from .onnx.sherpa import SherpaExportError, export_sherpa_onnx

    try:
        mods = load_transducer(args.source, seed=args.seed)
        if args.streaming:  # one chunk size per export (the first of --chunk-frames)
            from .onnx.sherpa_streaming import export_sherpa_streaming

            files = export_sherpa_streaming(mods, args.out_dir, chunk_frames=args.chunk_frames[0],
                                            left_chunks=args.left_chunks, int8=args.int8, int4=args.int4)
        else:
            files = export_sherpa_onnx(mods, args.out_dir, int8=args.int8, int4=args.int4)
    except (FileNotFoundError, SherpaExportError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in files.values():
        print(f"{path}\t{path.stat().st_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
