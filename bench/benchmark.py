#!/usr/bin/env python3
"""CPU benchmark: sizes, sharing overhead against stock SpeechBrain, RTF/latency/RSS with PyTorch and onnxruntime.

    python bench/benchmark.py [--variants a,b] [--threads 1 2] [--out bench/results] [--quick]
                              [--model-dir DIR] [--audio FILE] [--rtf-variants shared_lowrank_5M]

Sections (printed, and written to ``OUT/benchmark.md`` and ``OUT/benchmark.json``):

1. **Sizes**, per hparams variant: unique/virtual parameters and virtual depth of
   the whole ASR model, fp32 and int8 bytes (``size_report``), the ONNX files
   on disk (fp32, int8, int4), MACs per second of audio (front-end + encoder +
   ``proj_enc``, counted with ``torch.utils.flop_counter``).
2. **Sharing overhead**: encoder forward on 10 s of audio (250 frames) and one
   train step (forward + backward + AdamW on a fixed random batch) of the
   variant's ``SharedConformerEncoder`` against SpeechBrain's own
   ``ConformerEncoder`` with the identical virtual configuration; repetitions
   interleaved A/B/A/B, medians, ratio. Low-rank variants are also timed against
   their full-rank twin (same plan without ``low_rank``).
3. **Transcription**: real-time factor and peak RSS of full-utterance
   transcription, and per-chunk latency of streaming (320 ms and 640 ms chunks),
   with PyTorch (the recipe's modules and SpeechBrain's searcher/streaming
   wrappers) and onnxruntime (fp32, int8 and int4), with 1 and 2 threads.

Sections 1-2 run in this process. Each configuration of section 3 runs in a
fresh child process of this script (``--child``), because a process's peak RSS
only grows: one process per configuration is the only honest per-configuration
peak (read from ``VmHWM``; ``getrusage`` would inherit the parent's). onnxruntime children import only numpy, onnxruntime and
``speechbrain_tinyconf.deploy.onnx_runtime`` (the package imports lazily: no torch),
so their RSS is that of a torch-free deployment.

Weights are random (seeded) unless ``--model-dir`` gives an exported model for
section 3: the timings of sections 1-2 do not depend on the weights. The
decoding time of section 3 does (a random transducer may emit nothing or the
maximum number of tokens per frame), so the tokens emitted are reported, and the
streaming table gives the encoder-only step time beside the total.

The sections are modules beside this file: ``benchmark_sizes.py`` (1), ``benchmark_encoder.py``
(2), ``benchmark_transcription.py`` (3, and the ``--child`` process), ``benchmark_report.py``
(``benchmark.md`` and the targets); all time with ``timing.py``. This file is the command line.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

# the section modules beside this file (light imports only: a --child process must not load torch here)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_encoder import ratio_section  # noqa: E402
from benchmark_report import TARGETS, build_report, targets  # noqa: E402
from benchmark_sizes import size_section, variant_path  # noqa: E402
from benchmark_transcription import (  # noqa: E402
    CHUNK_FRAMES, ENGINES, LEFT_CHUNKS, MODES, load_audio, run_child, spawn_child, token_agreement,
)
from timing import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VARIANTS = ["conformer_baseline", "repeat_layers", "shared_modules", "shared_subcomponents", "lowrank",
                    "shared_lowrank_5M"]


def log(msg: str) -> None:
    """A progress line on stderr (stdout carries the report)."""
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (see the module docstring); ``--quick`` and the defaults applied."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help="comma-separated hparams variants (names in hparams/ or .yaml paths)")
    p.add_argument("--rtf-variants", default=None,
                   help="variants for the transcription section (default: shared_lowrank_5M if listed, else the last)")
    p.add_argument("--model-dir", default=None,
                   help="exported model folder (speechbrain_tinyconf.pretrained.export) for the transcription section")
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="thread counts for transcription (default 1 2; 1 with --quick)")
    p.add_argument("--ratio-threads", type=int, default=1, help="torch threads for the encoder timings (default 1)")
    p.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    p.add_argument("--seconds", type=float, default=10.0, help="audio seconds for every timing (default 10)")
    p.add_argument("--reps", type=int, default=10, help="repetitions of each forward / transcription timing")
    p.add_argument("--train-reps", type=int, default=5, help="repetitions of each train-step timing")
    p.add_argument("--train-batch", type=int, default=4, help="batch size of the train step")
    p.add_argument("--audio", default=None, help="16 kHz audio file (default: a 10.4 s LibriSpeech test-clean "
                                                 "utterance from ../shared, else a synthetic signal)")
    p.add_argument("--seed", type=int, default=3407, help="seed of the random weights")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"), help="folder for benchmark.md/.json")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 2 s of audio, 2 repetitions, batch 1, one thread (numbers meaningless)")
    p.add_argument("--keep-exports", action="store_true",
                   help="keep the temporary folder of ONNX exports (deleted at the end otherwise; ~1 GB for all variants)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.reps, args.train_reps, args.train_batch = 2.0, 2, 1, 1
    if args.threads is None:
        args.threads = [1] if args.quick else [1, 2]
    args.engines = [e for e in args.engines.split(",") if e]
    bad = [e for e in args.engines if e not in ENGINES]
    if bad:
        p.error(f"--engines: unknown {', '.join(bad)} (choose from {', '.join(ENGINES)})")
    if any(t < 1 for t in args.threads) or args.ratio_threads < 1:
        p.error("--threads/--ratio-threads must be >= 1")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Every section for every variant, then the report; with ``--child`` one section-3 configuration."""
    args = parse_args(argv)
    if args.child is not None:
        print("RESULT " + json.dumps(run_child(json.loads(args.child))), flush=True)
        return 0

    import numpy as np
    import onnxruntime
    import speechbrain
    import torch

    torch.set_num_threads(args.ratio_threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [v for v in args.variants.split(",") if v]
    paths = {n: variant_path(n) for n in names}
    work = Path(tempfile.mkdtemp(prefix="tinyconf_bench_"))
    command = "python bench/benchmark.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    data: Dict[str, Any] = {"meta": {
        "command": command, "cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
        "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "speechbrain": speechbrain.__version__,
        "numpy": np.__version__, "date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "seed": args.seed,
        "weights": f"trained model {args.model_dir} for transcription, random (seed {args.seed}) elsewhere"
        if args.model_dir else f"random (seed {args.seed}), identity feature normalisation",
        "targets": TARGETS,
    }, "sizes": [], "ratios": [], "transcription": [], "agreement": []}

    frames = int(round(args.seconds * 25))
    for name in names:
        log(f"[sizes] {name}")
        data["sizes"].append(size_section(Path(name).stem, paths[name], work / Path(name).stem, args.seed))
        log(f"[encoder timings] {name}")
        data["ratios"].append(ratio_section(Path(name).stem, paths[name], frames, args.train_batch, args.reps,
                                            args.train_reps, args.seed))

    audio = load_audio(args.audio, args.seconds, work / "audio.npy")
    data["meta"]["audio"] = audio
    rtf_names = args.rtf_variants.split(",") if args.rtf_variants else (
        ["shared_lowrank_5M"] if "shared_lowrank_5M" in names else names[-1:])
    models: List[Dict[str, Any]] = []
    if args.model_dir:
        from speechbrain_tinyconf.deploy.export import export_onnx

        onnx_dir = work / "model_dir_onnx"
        export_onnx(args.model_dir, onnx_dir, int8=True, int4=True, chunk_frames=tuple(CHUNK_FRAMES.values()),
                    left_chunks=LEFT_CHUNKS)
        models.append({"model": Path(args.model_dir).name, "source": str(Path(args.model_dir).resolve()),
                       "onnx_dir": str(onnx_dir), "seed": None})
    else:
        for name in rtf_names:
            stem = Path(name).stem
            export_dir = work / stem
            if not export_dir.is_dir():  # not measured in the size section
                data["sizes"].append(size_section(stem, variant_path(name), export_dir, args.seed))
            models.append({"model": stem, "source": str(variant_path(name).resolve()), "onnx_dir": str(export_dir),
                           "seed": args.seed})
    for model in models:
        for threads in args.threads:
            for mode in MODES:
                row = {}
                for engine in args.engines:
                    spec = {**model, "engine": engine, "mode": mode, "threads": threads, "reps": args.reps,
                            "audio": audio["path"]}
                    log(f"[transcription] {model['model']} {engine} {mode} threads={threads}")
                    result = spawn_child(spec, timeout=3600)
                    data["transcription"].append(result)
                    row[engine] = result["tokens"]
                data["agreement"].append({
                    "model": model["model"], "mode": mode, "threads": threads,
                    "int8_vs_fp32": token_agreement(row["ort-fp32"], row["ort-int8"])
                    if {"ort-fp32", "ort-int8"} <= set(row) else None,
                    "int4_vs_fp32": token_agreement(row["ort-fp32"], row["ort-int4"])
                    if {"ort-fp32", "ort-int4"} <= set(row) else None,
                    "fp32_vs_pytorch": token_agreement(row["pytorch"], row["ort-fp32"])
                    if {"ort-fp32", "pytorch"} <= set(row) else None,
                })
    data["targets"] = targets(data)
    report = build_report(data)
    (out_dir / "benchmark.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (out_dir / "benchmark.md").write_text(report, encoding="utf-8")
    print(report)
    log(f"wrote {out_dir / 'benchmark.md'} and {out_dir / 'benchmark.json'}")
    if args.keep_exports:
        log(f"ONNX exports kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
