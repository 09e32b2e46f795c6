"""ONNX export (fp32, int8, int4) of a speechbrain-tinyconf transducer.

    tinyconf-onnx-export SOURCE OUT_DIR [--int8] [--int4] [--chunk-frames 8 16] [--left-chunks 4]
        [--depth K] [--overwrite]

(or ``python -m speechbrain_tinyconf.deploy.onnx_export``). ``SOURCE`` is a model folder written by
``tinyconf-export`` (:mod:`speechbrain_tinyconf.pretrained.export`), a
recipe output folder (``hyperparams.yaml`` + ``save/``; the checkpoint is
chosen like the recipe's evaluation), or a variant hparams YAML (random
weights, identity feature normalisation: for sizes and timings only).
``OUT_DIR`` receives:

* ``encoder.onnx`` -- full utterance: ``feats (B, T, n_mels)`` and relative
  ``feats_lens (B,)`` -> ``enc (B, T', joint_dim)`` and ``enc_lens (B,)``
  (int64 frames). Inside: feature normalisation, CNN front-end, input
  projection, relative positional encoding, the shared Conformer, ``proj_enc``.
* ``encoder_chunk<C>.onnx`` -- one streaming step of ``C`` encoder frames, with
  explicit fixed-size caches (see :class:`speechbrain_tinyconf.deploy.graphs.EncoderStep`);
  every shape is static.
* ``predictor.onnx`` -- ``token (B, 1)`` int64 + ``state (1, B, H)`` ->
  ``pred (B, joint_dim)`` + ``state_out``.
* ``joint.onnx`` -- ``enc (B, joint_dim)`` + ``pred (B, joint_dim)`` -> ``logits (B, vocab)``.
* ``*.int8.onnx`` (``--int8``) -- the same graphs after onnxruntime dynamic
  quantisation (:func:`speechbrain_tinyconf.deploy.passes.quantize_int8`).
* ``*.int4.onnx`` (``--int4``) -- 4-bit block-wise MatMul weights (``MatMulNBits``), the
  other weights int8 (:func:`speechbrain_tinyconf.deploy.passes.quantize_int4`).
* ``frontend.npz`` -- constants of the Fbank (mel matrix, window, dB settings)
  for :class:`NumpyFbank`, and ``onnx_config.json`` (dimensions, blank index,
  streaming geometry, and every file with its size and sha256: readers open those only);
  ``tokenizer.model`` when the source has one.

Every option is checked before anything is written, and ``OUT_DIR`` is written whole: the
files go to a temporary folder next to it, swapped in when complete, so a failed or killed
export leaves an earlier one byte-identical. ``OUT_DIR`` may be absent, empty or an earlier
ONNX export (replaced, stale files included); any other folder only with ``--overwrite``, a
run folder or the export's own source never. A user error is one line on stderr, exit 2.

The Fbank stays outside the graphs: SpeechBrain's STFT goes through complex
tensors, which the TorchScript exporter cannot write, and every device has an
FFT. ``NumpyFbank`` reproduces SpeechBrain's ``Fbank`` with numpy alone, and
``OrtTransducer`` decodes greedily (full utterance or streaming) with numpy +
onnxruntime: both live in :mod:`speechbrain_tinyconf.deploy.onnx_runtime`, which
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

This module is the command line; the work is done beside it in :mod:`speechbrain_tinyconf.deploy`
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

# The work is imported in main(): an environment without onnx gets one line, not a traceback.


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="tinyconf-onnx-export",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("source",
                        help="model folder (export output), recipe run folder, or hparams .yaml (random weights)")
    parser.add_argument("out_dir", help="folder to write the ONNX files to (absent, empty or an earlier ONNX export)")
    parser.add_argument("--int8", action="store_true", help="also write dynamically quantised *.int8.onnx graphs")
    parser.add_argument("--int4", action="store_true",
                        help="also write *.int4.onnx graphs: 4-bit block-wise MatMul weights (MatMulNBits), the rest int8")
    parser.add_argument("--chunk-frames", type=int, nargs="+", default=[8, 16],
                        help="streaming chunk sizes in encoder frames, one graph each (default 8 16 = 320/640 ms)")
    parser.add_argument("--left-chunks", type=int, default=4, help="attention left context in chunks (default 4)")
    parser.add_argument("--depth", type=int, default=None,
                        help="encoder depth: the virtual layers the graphs run (default all; repeated-block models "
                             "only); stated in onnx_config.json and the encoder's metadata")
    parser.add_argument("--seed", type=int, default=None, help="seed for the random weights of a .yaml source")
    parser.add_argument("--format", choices=["tinyconf", "sherpa-onnx"], default="tinyconf",
                        help="tinyconf: our graphs for onnx_runtime.py (default); sherpa-onnx: encoder/decoder/joiner "
                             "+ tokens.txt for sherpa-onnx (needs frontend: kaldi, predictor: stateless)")
    parser.add_argument("--streaming", action="store_true",
                        help="with --format sherpa-onnx: the online 'conformer' convention for OnlineRecognizer"
                             " (chunk: the first --chunk-frames; attention context: --left-chunks)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT_DIR even if it is not an earlier ONNX export (the whole folder)")
    args = parser.parse_args(argv)
    try:
        problem = argument_problem(args)
        if problem:
            raise ValueError(problem)
        from .export import check_export_tools

        check_export_tools(args.int8, args.int4)
        if args.format == "sherpa-onnx":
            files = _export_sherpa(args)
        else:
            files = _export_tinyconf(args)
    except ImportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as err:  # incl. OutputFolderError
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only or full disk: one line, nothing left behind (staged_folder)
        from ..pretrained.model_folder import output_error_line

        print(f"error: {output_error_line(err, args.out_dir)}", file=sys.stderr)
        return 2
    for path in files.values():
        print(f"{path}\t{path.stat().st_size}")
    return 0


def argument_problem(args: argparse.Namespace) -> Optional[str]:
    """The first invalid option, as one line (checked before anything is loaded or written), else None."""
    for value in args.chunk_frames:
        if value < 1:
            return f"--chunk-frames={value}: must be a positive integer"
    if args.depth is not None and args.depth < 1:
        return f"--depth={args.depth}: must be a positive integer (virtual layers run)"
    if args.left_chunks < 1:
        return (f"--left-chunks={args.left_chunks}: must be >= 1 (the ONNX step keeps a fixed-size attention cache, "
                "so unlimited left context cannot be exported)")
    if args.streaming and args.format != "sherpa-onnx":
        return "--streaming: only with --format sherpa-onnx (the tinyconf format has streaming graphs already)"
    return None


def _export_tinyconf(args: argparse.Namespace):
    from .export import export_onnx

    result = export_onnx(args.source, args.out_dir, int8=args.int8, chunk_frames=args.chunk_frames,
                         left_chunks=args.left_chunks, seed=args.seed, int4=args.int4, overwrite=args.overwrite,
                         depth=args.depth)
    if result.config.get("random_weights"):
        print(f"note: {args.source} is a hparams file: random weights, identity feature normalisation", file=sys.stderr)
    return result.files


def _export_sherpa(args: argparse.Namespace):
    from .load import load_transducer
    from .sherpa import export_sherpa_onnx

    mods = load_transducer(args.source, seed=args.seed, depth=args.depth)
    if args.streaming:  # one chunk size per export (the first of --chunk-frames)
        from .sherpa_streaming import export_sherpa_streaming

        return export_sherpa_streaming(mods, args.out_dir, chunk_frames=args.chunk_frames[0],
                                       left_chunks=args.left_chunks, int8=args.int8, int4=args.int4,
                                       overwrite=args.overwrite)
    return export_sherpa_onnx(mods, args.out_dir, int8=args.int8, int4=args.int4, overwrite=args.overwrite)


if __name__ == "__main__":
    sys.exit(main())
