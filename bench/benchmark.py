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
``speechbrain_tinyconf.onnx_runtime`` (the package imports lazily: no torch),
so their RSS is that of a torch-free deployment.

Weights are random (seeded) unless ``--model-dir`` gives an exported model for
section 3: the timings of sections 1-2 do not depend on the weights. The
decoding time of section 3 does (a random transducer may emit nothing or the
maximum number of tokens per frame), so the tokens emitted are reported, and the
streaming table gives the encoder-only step time beside the total.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
HPARAMS = ROOT / "hparams"
DEFAULT_VARIANTS = ["conformer_baseline", "repeat_layers", "shared_modules", "shared_subcomponents", "lowrank",
                    "shared_lowrank_5M"]
SAMPLE = ROOT.parent / "shared" / "librispeech-sample" / "LibriSpeech" / "test-clean" / "1089" / "134686" / \
    "1089-134686-0000.flac"  # 10.4 s
ENGINES = ("pytorch", "ort-fp32", "ort-int8", "ort-int4")
MODES = ("full", "stream320", "stream640")
CHUNK_FRAMES = {"stream320": 8, "stream640": 16}
LEFT_CHUNKS = 4
TARGETS = {
    "sharing_forward": 1.02,  # x stock SpeechBrain, same virtual configuration
    "sharing_train": 1.05,
    "lowrank_forward": 0.7,  # x the full-rank twin
    "int8_mb": 6.0,  # int8 ONNX of shared_lowrank_5M (encoder + predictor + joint)
    "chunk_fraction": 0.10,  # streaming compute per chunk / chunk duration, one thread
}


# ---------------------------------------------------------------------------
# Helpers


def variant_path(name: str) -> Path:
    """``hparams/<name>.yaml`` for a bare name, else the path as given."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise SystemExit(f"error: --variants: {path} not found")
        return path
    path = HPARAMS / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in HPARAMS.glob("*.yaml") if p.stem != "transducer_recipe"))
        raise SystemExit(f"error: --variants: no hparams/{name}.yaml (known: {known})")
    return path


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in [0, 100])."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median_time(fn: Callable[[], Any], reps: int) -> tuple:
    """``(fn()'s last result, median seconds)`` over ``reps`` calls after one warm-up call."""
    result = fn()  # warm-up (first-call allocations, onnxruntime's lazy session)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB.

    Linux: ``VmHWM`` of ``/proc/self/status`` -- not ``getrusage``'s ``ru_maxrss``,
    which Linux carries over ``execve`` from the parent (a child of a 700 MB
    parent would report >= 700 MB).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2 ** 20


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def md_table(headers: List[str], rows: List[List[Any]], digits: int = 2) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(v, digits) for v in row) + " |")
    return "\n".join(lines)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Section 1: sizes


def encoder_config(path: Path) -> Dict[str, Any]:
    """The virtual encoder configuration of a variant (its resolved YAML values)."""
    from speechbrain_tinyconf.hparams import read_plain_yaml, resolved_yaml

    hp = read_plain_yaml(resolved_yaml(path, {"data_folder": "unused"}))
    return {
        "num_layers": int(hp["num_encoder_layers"]),
        "d_model": int(hp["d_model"]),
        "d_ffn": int(hp["d_ffn"]),
        "nhead": int(hp["nhead"]),
        "kernel_size": int(hp["kernel_size"]),
        "dropout": float(hp.get("transformer_dropout", 0.0)),
        "sharing": hp.get("sharing") or {},
    }


def size_section(name: str, path: Path, export_dir: Path, seed: int) -> Dict[str, Any]:
    import torch

    from speechbrain_tinyconf.onnx.export import export_transducer
    from speechbrain_tinyconf.onnx.graphs import FullEncoder
    from speechbrain_tinyconf.onnx.load import load_transducer
    from speechbrain_tinyconf.size import count_macs, size_report

    mods = load_transducer(path, seed=seed)
    report = size_report(mods.model)
    feats = torch.randn(1, 100, mods.normalize.glob_mean.numel())  # 1 s of 10 ms frames
    full = FullEncoder(mods).eval()
    macs = count_macs(lambda: full(feats, torch.ones(1)))
    result = export_transducer(mods, export_dir, chunk_frames=tuple(CHUNK_FRAMES.values()), left_chunks=LEFT_CHUNKS,
                               int8=True, int4=True)
    mb = {k: p.stat().st_size / 1e6 for k, p in result.files.items()}
    return {
        "variant": name,
        "unique_params": report.unique_params,
        "virtual_params": report.virtual_params,
        "virtual_depth": len(mods.encoder.layers),
        "fp32_mb": report.fp32_bytes / 1e6,
        "int8_mb_estimate": report.int8_bytes / 1e6,
        "onnx_fp32_mb": mb["encoder"] + mb["predictor"] + mb["joint"],
        "onnx_int8_mb": mb["encoder.int8"] + mb["predictor.int8"] + mb["joint.int8"],
        "onnx_encoder_int8_mb": mb["encoder.int8"],
        "onnx_int4_mb": mb["encoder.int4"] + mb["predictor.int4"] + mb["joint.int4"],
        "macs_per_second": int(macs),
    }


# ---------------------------------------------------------------------------
# Section 2: encoder timings against stock SpeechBrain


def _interleaved(a: Callable[[], None], b: Callable[[], None], reps: int, warmup: int = 1) -> Dict[str, Any]:
    """Median seconds of ``a`` and ``b`` timed alternately (A B A B ...) after ``warmup`` calls each."""
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for _ in range(reps):
        for fn, out in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    ma, mb = statistics.median(ta), statistics.median(tb)
    return {"ours_ms": 1e3 * ma, "reference_ms": 1e3 * mb, "ratio": ma / mb, "reps": reps,
            "ours_all_ms": [1e3 * t for t in ta], "reference_all_ms": [1e3 * t for t in tb]}


def _forward_fn(encoder, x, pos):
    import torch

    encoder.eval()

    def run():
        with torch.no_grad():
            encoder(x, pos_embs=pos)

    return run


def _train_fn(encoder, x, pos):
    import torch

    encoder.train()
    opt = torch.optim.AdamW(encoder.parameters(), lr=1e-4)

    def run():
        opt.zero_grad(set_to_none=True)
        out, _ = encoder(x, pos_embs=pos)
        out.pow(2).mean().backward()
        opt.step()

    return run


def ratio_section(name: str, path: Path, frames: int, batch: int, reps: int, train_reps: int,
                  seed: int) -> Dict[str, Any]:
    import dataclasses

    import torch
    from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
    from speechbrain.nnet.attention import RelPosEncXL

    from speechbrain_tinyconf import SharedConformerEncoder, SharingPlan

    cfg = encoder_config(path)
    plan = SharingPlan.from_config(cfg.pop("sharing"))
    torch.manual_seed(seed)
    ours = SharedConformerEncoder(**cfg, sharing=plan)
    stock = ConformerEncoder(**cfg)  # SpeechBrain's own, same virtual configuration
    x = torch.randn(1, frames, cfg["d_model"])
    xb = torch.randn(batch, frames, cfg["d_model"])
    pos = RelPosEncXL(cfg["d_model"])(x)
    out: Dict[str, Any] = {"variant": name, "frames": frames, "train_batch": batch, "low_rank": plan.low_rank is not None,
                           "threads": torch.get_num_threads()}
    out["forward"] = _interleaved(_forward_fn(ours, x, pos), _forward_fn(stock, x, pos), reps)
    out["train"] = _interleaved(_train_fn(ours, xb, pos), _train_fn(stock, xb, pos), train_reps)
    if plan.low_rank is not None:
        twin = SharedConformerEncoder(**cfg, sharing=dataclasses.replace(plan, low_rank=None))
        out["vs_full_rank"] = _interleaved(_forward_fn(ours, x, pos), _forward_fn(twin, x, pos), reps)
    return out


# ---------------------------------------------------------------------------
# Section 3: transcription (children)


def _load_runtime():
    """``speechbrain_tinyconf.onnx_runtime``: the package imports lazily, so this imports no torch."""
    from speechbrain_tinyconf import onnx_runtime

    return onnx_runtime


def run_child(spec: Dict[str, Any]) -> Dict[str, Any]:
    """One transcription configuration; runs in its own process."""
    import numpy as np

    engine, mode, threads, reps = spec["engine"], spec["mode"], int(spec["threads"]), int(spec["reps"])
    os.environ["OMP_NUM_THREADS"] = str(threads)
    wav = np.load(spec["audio"]).astype(np.float32)
    seconds = len(wav) / 16000
    if engine == "pytorch":
        import torch

        torch.set_num_threads(threads)
        from speechbrain_tinyconf.onnx.graphs import chunk_geometry
        from speechbrain_tinyconf.onnx.load import load_transducer
    else:
        runtime = _load_runtime()
    rss_imports = peak_rss_mb()
    if engine == "pytorch":
        mods = load_transducer(spec["source"], seed=spec.get("seed"))
        searcher = mods.greedy_searcher()
    else:
        model = runtime.OrtTransducer(spec["onnx_dir"], precision=engine[len("ort-"):], threads=threads)
    result: Dict[str, Any] = {**spec, "audio_seconds": seconds, "rss_after_imports_mb": rss_imports}
    if mode == "full":
        if engine == "pytorch":
            def transcribe():
                with torch.no_grad():
                    return searcher(mods.encode(torch.from_numpy(wav)[None]))[0][0]
        else:
            def transcribe():
                return model.transcribe(wav)
        tokens, median = median_time(transcribe, reps)
        result.update(rtf=median / seconds, seconds_median=median, tokens=tokens)
    else:
        frames = CHUNK_FRAMES[mode]
        if engine == "pytorch":
            from speechbrain.decoders.transducer import TransducerGreedySearcherStreamingContext
            from speechbrain.lobes.features import StreamingFeatureWrapper
            from speechbrain.nnet.containers import LengthsCapableSequential
            from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
            from speechbrain.utils.filter_analysis import stack_filter_properties

            g = chunk_geometry(mods, frames, LEFT_CHUNKS)
            chunk_samples, pad = g.chunk_samples, g.pad_samples
            extractor = StreamingFeatureWrapper(
                LengthsCapableSequential(mods.compute_features, mods.normalize, mods.CNN),
                stack_filter_properties([mods.compute_features, mods.CNN]),
            )

            def session():
                fea = extractor.make_streaming_context()
                enc = mods.Transformer.make_streaming_context(DynChunkTrainConfig(frames, LEFT_CHUNKS))
                dec = TransducerGreedySearcherStreamingContext()

                def encode(chunk):
                    with torch.no_grad():
                        x = extractor(torch.from_numpy(chunk)[None], context=fea, lengths=torch.ones(1))
                        return mods.proj_enc(mods.Transformer.encode_streaming(x, enc))

                def decode(enc_out):
                    with torch.no_grad():
                        return searcher.transducer_greedy_decode_streaming(enc_out, dec)[0]

                return encode, decode
        else:
            spec_c = model.config["streaming"][str(frames)]
            chunk_samples, pad = spec_c["chunk_samples"], spec_c["pad_samples"]

            def session():
                stream = model.stream(frames)

                def decode(enc_out):
                    tokens, stream.state = model.greedy(enc_out, stream.state)
                    return tokens

                return stream.encode_chunk, decode

        from speechbrain_tinyconf.onnx_runtime import stream_chunks

        chunks = stream_chunks(wav, chunk_samples, pad)  # the last chunk zero-padded: the ONNX step's static shape
        enc_ms, total_ms, tokens = [], [], []
        for rep in range(reps + 1):  # the first pass warms up
            encode, decode = session()
            run_tokens = []
            for chunk in chunks:
                start = time.perf_counter()
                enc_out = encode(chunk)
                mid = time.perf_counter()
                run_tokens += decode(enc_out)
                end = time.perf_counter()
                if rep:
                    enc_ms.append(1e3 * (mid - start))
                    total_ms.append(1e3 * (end - start))
            tokens = run_tokens
        chunk_ms = 1e3 * chunk_samples / 16000
        result.update(
            chunk_frames=frames, chunk_audio_ms=chunk_ms, chunks=len(chunks),
            chunk_median_ms=statistics.median(total_ms), chunk_p90_ms=percentile(total_ms, 90),
            encoder_median_ms=statistics.median(enc_ms), encoder_p90_ms=percentile(enc_ms, 90),
            fraction_of_chunk=statistics.median(total_ms) / chunk_ms,
            encoder_fraction_of_chunk=statistics.median(enc_ms) / chunk_ms,
            rtf=sum(total_ms) / reps / 1e3 / seconds, tokens=[int(t) for t in tokens],
        )
    result["tokens"] = [int(t) for t in result["tokens"]]
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def spawn_child(spec: Dict[str, Any], timeout: float) -> Dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=str(ROOT))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"benchmark child {spec['engine']}/{spec['mode']}/{spec['threads']} failed "
                       f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def load_audio(path: Optional[str], seconds: float, out: Path) -> Dict[str, Any]:
    """The benchmark waveform (16 kHz mono) saved as ``.npy`` for the children."""
    import numpy as np

    if path is None and SAMPLE.is_file():
        path = str(SAMPLE)
    if path is not None:
        import soundfile as sf

        wav, rate = sf.read(path, dtype="float32", always_2d=True)
        wav = wav.mean(axis=1)
        if rate != 16000:
            raise SystemExit(f"error: --audio {path}: {rate} Hz; the benchmark needs 16 kHz audio")
        source = path
    else:
        rng = np.random.default_rng(0)
        t = np.arange(int(seconds * 16000)) / 16000
        wav = (0.2 * np.sin(2 * np.pi * (200 + 150 * np.sin(t)) * t) + 0.02 * rng.standard_normal(t.shape))
        source = "synthetic (chirp + noise)"
    wav = wav[: int(seconds * 16000)].astype(np.float32)
    np.save(out, wav)
    return {"path": str(out), "source": source, "seconds": len(wav) / 16000}


# ---------------------------------------------------------------------------
# Report


def token_agreement(a: Sequence[int], b: Sequence[int]) -> float:
    import difflib

    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(a=list(a), b=list(b), autojunk=False).ratio()


def build_report(data: Dict[str, Any]) -> str:
    meta = data["meta"]
    parts = [
        "# speechbrain-tinyconf CPU benchmark",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['cpu']}, {meta['cores']} cores; Python {meta['python']}, torch {meta['torch']}, "
        f"onnxruntime {meta['onnxruntime']}, SpeechBrain {meta['speechbrain']}; {meta['date']}.  ",
        f"Weights: {meta['weights']}. Quick mode: {meta['quick']}.",
        "",
        "## Sizes",
        "",
        "Whole ASR model (front-end, encoder, predictor, joint, CTC head) from `size_report`; ONNX = "
        "encoder + predictor + joint files on disk (no CTC head); MACs per second of audio for front-end + "
        "encoder + `proj_enc`.",
        "",
        md_table(
            ["variant", "unique params", "virtual params", "virtual depth", "fp32 MB", "int8 MB (est.)",
             "ONNX fp32 MB", "ONNX int8 MB", "ONNX int8 encoder MB", "ONNX int4 MB", "M MACs / s audio"],
            [[s["variant"], s["unique_params"], s["virtual_params"], s["virtual_depth"], s["fp32_mb"],
              s["int8_mb_estimate"], s["onnx_fp32_mb"], s["onnx_int8_mb"], s["onnx_encoder_int8_mb"],
              s.get("onnx_int4_mb"), s["macs_per_second"] / 1e6] for s in data["sizes"]],
        ),
    ]
    if data["ratios"]:
        r0 = data["ratios"][0]
        parts += [
            "",
            "## Encoder time against SpeechBrain's `ConformerEncoder` (same virtual configuration)",
            "",
            f"Forward: {r0['frames']} frames ({r0['frames'] * 0.04:g} s of audio), batch 1, eval, no grad. "
            f"Train step: forward + backward + AdamW, batch {r0['train_batch']} x {r0['frames']} frames, dropout on. "
            f"Medians of interleaved repetitions (ours, stock, ours, stock, ...), {r0['threads']} torch thread(s). "
            f"Targets: sharing overhead <= {TARGETS['sharing_forward']}x forward and <= {TARGETS['sharing_train']}x "
            "train step for the full-rank variants; a low-rank variant's ratio to stock includes its low-rank "
            "speed-up, so it is compared with its full-rank twin below instead.",
            "",
            md_table(
                ["variant", "forward ms", "stock forward ms", "ratio", "train step ms", "stock train step ms",
                 "ratio", "target met"],
                [[r["variant"], r["forward"]["ours_ms"], r["forward"]["reference_ms"], r["forward"]["ratio"],
                  r["train"]["ours_ms"], r["train"]["reference_ms"], r["train"]["ratio"],
                  None if r["low_rank"] else (r["forward"]["ratio"] <= TARGETS["sharing_forward"]
                                              and r["train"]["ratio"] <= TARGETS["sharing_train"])]
                 for r in data["ratios"]],
                digits=3,
            ),
        ]
        lowrank = [r for r in data["ratios"] if "vs_full_rank" in r]
        if lowrank:
            parts += [
                "",
                f"Low rank against the full-rank twin (same plan without `low_rank`), forward; target <= "
                f"{TARGETS['lowrank_forward']}x:",
                "",
                md_table(["variant", "forward ms", "full-rank twin ms", "ratio", "target met"],
                         [[r["variant"], r["vs_full_rank"]["ours_ms"], r["vs_full_rank"]["reference_ms"],
                           r["vs_full_rank"]["ratio"], r["vs_full_rank"]["ratio"] <= TARGETS["lowrank_forward"]]
                          for r in lowrank], digits=3),
            ]
    full = [c for c in data["transcription"] if c["mode"] == "full"]
    if full:
        parts += [
            "",
            "## Full-utterance transcription",
            "",
            f"Audio: {meta['audio']['source']} ({meta['audio']['seconds']:.2f} s). RTF = median wall time of "
            "features + encoder + greedy decoding / audio duration. Peak RSS of a fresh process per row "
            "(imports included; 'after imports' is the same process's peak before loading the model).",
            "",
            md_table(["model", "engine", "threads", "RTF", "peak RSS MB", "RSS after imports MB", "tokens"],
                     [[c["model"], c["engine"], c["threads"], c["rtf"], c["peak_rss_mb"], c["rss_after_imports_mb"],
                       len(c["tokens"])] for c in full], digits=3),
        ]
    stream = [c for c in data["transcription"] if c["mode"] != "full"]
    if stream:
        parts += [
            "",
            "## Streaming",
            "",
            f"Chunks of {', '.join(f'{k} ({v} encoder frames)' for k, v in CHUNK_FRAMES.items())}, left context "
            f"{LEFT_CHUNKS} chunks; per-chunk wall time of front-end + encoder step + greedy decoding (encoder: "
            "without the decoding). 'fraction' = median chunk time / chunk audio duration; target <= "
            f"{TARGETS['chunk_fraction']:.0%} on one thread.",
            "",
            md_table(["model", "engine", "threads", "chunk ms", "median ms", "p90 ms", "fraction",
                      "encoder median ms", "encoder fraction", "peak RSS MB", "tokens"],
                     [[c["model"], c["engine"], c["threads"], c["chunk_audio_ms"], c["chunk_median_ms"],
                       c["chunk_p90_ms"], c["fraction_of_chunk"], c["encoder_median_ms"],
                       c["encoder_fraction_of_chunk"], c["peak_rss_mb"], len(c["tokens"])] for c in stream],
                     digits=3),
        ]
    if data["agreement"]:
        parts += [
            "",
            "## Token agreement",
            "",
            "`difflib` ratio of token sequences (1.0 = identical) on the benchmark audio.",
            "",
            md_table(["model", "mode", "threads", "int8 vs fp32 (onnxruntime)", "int4 vs fp32",
                      "onnxruntime fp32 vs PyTorch"],
                     [[a["model"], a["mode"], a["threads"], a["int8_vs_fp32"], a.get("int4_vs_fp32"),
                       a["fp32_vs_pytorch"]]
                      for a in data["agreement"]], digits=3),
        ]
    parts += ["", "## Targets", "", md_table(["target", "measured", "met"],
                                               [[t["target"], t["measured"], t["met"]] for t in data["targets"]],
                                               digits=3), ""]
    return "\n".join(parts)


def targets(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    out = []
    for r in data["ratios"]:
        if not r["low_rank"]:
            out.append({"target": f"{r['variant']}: forward <= {TARGETS['sharing_forward']}x stock",
                        "measured": f"{r['forward']['ratio']:.3f}x",
                        "met": r["forward"]["ratio"] <= TARGETS["sharing_forward"]})
            out.append({"target": f"{r['variant']}: train step <= {TARGETS['sharing_train']}x stock",
                        "measured": f"{r['train']['ratio']:.3f}x", "met": r["train"]["ratio"] <= TARGETS["sharing_train"]})
        if "vs_full_rank" in r:
            out.append({"target": f"{r['variant']}: forward <= {TARGETS['lowrank_forward']}x full-rank twin",
                        "measured": f"{r['vs_full_rank']['ratio']:.3f}x",
                        "met": r["vs_full_rank"]["ratio"] <= TARGETS["lowrank_forward"]})
    for s in data["sizes"]:
        if s["variant"] == "shared_lowrank_5M":
            out.append({"target": f"shared_lowrank_5M: int8 ONNX <= {TARGETS['int8_mb']} MB",
                        "measured": f"{s['onnx_int8_mb']:.2f} MB (encoder {s['onnx_encoder_int8_mb']:.2f} MB)",
                        "met": s["onnx_int8_mb"] <= TARGETS["int8_mb"]})
    for c in data["transcription"]:
        if c["mode"] != "full" and c["threads"] == 1:
            out.append({"target": f"{c['model']} {c['engine']} {c['mode']}: chunk compute <= "
                                  f"{TARGETS['chunk_fraction']:.0%} of the chunk, 1 thread",
                        "measured": f"{c['fraction_of_chunk']:.1%} (encoder only {c['encoder_fraction_of_chunk']:.1%})",
                        "met": c["fraction_of_chunk"] <= TARGETS["chunk_fraction"]})
    return out


# ---------------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help="comma-separated hparams variants (names in hparams/ or .yaml paths)")
    p.add_argument("--rtf-variants", default=None,
                   help="variants for the transcription section (default: shared_lowrank_5M if listed, else the last)")
    p.add_argument("--model-dir", default=None,
                   help="exported model folder (speechbrain_tinyconf.export) for the transcription section")
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
        from speechbrain_tinyconf.onnx.export import export_onnx

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
