"""Section 3 of the CPU benchmark: transcription speed, latency and memory, one fresh process per configuration.

Full-utterance real-time factor and streaming per-chunk latency (320 ms and 640 ms chunks) with
PyTorch and onnxruntime (fp32, int8, int4). :func:`spawn_child` runs each configuration as
``bench/benchmark.py --child SPEC`` (:func:`run_child`), because a process's peak RSS only
grows: a fresh process per configuration is the only honest per-configuration peak.
onnxruntime children import no torch, so their RSS is that of a torch-free deployment.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from timing import median_time, peak_rss_mb, percentile

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = Path(__file__).resolve().with_name("benchmark.py")  # its hidden --child option runs run_child
SAMPLE = ROOT.parent / "shared" / "librispeech-sample" / "LibriSpeech" / "test-clean" / "1089" / "134686" / \
    "1089-134686-0000.flac"  # 10.4 s
ENGINES = ("pytorch", "ort-fp32", "ort-int8", "ort-int4")
MODES = ("full", "stream320", "stream640")
CHUNK_FRAMES = {"stream320": 8, "stream640": 16}  # encoder frames (40 ms each) per streaming chunk
LEFT_CHUNKS = 4  # chunks of left context


def _load_runtime():
    """``speechbrain_tinyconf.deploy.onnx_runtime``: the package imports lazily, so this imports no torch."""
    from speechbrain_tinyconf.deploy import onnx_runtime

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
        from speechbrain_tinyconf.deploy.graphs import chunk_geometry
        from speechbrain_tinyconf.deploy.load import load_transducer
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

        from speechbrain_tinyconf.deploy.onnx_runtime import stream_chunks

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
    """:func:`run_child` of ``spec`` in a fresh process (``benchmark.py --child``); its result."""
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(BENCHMARK), "--child", json.dumps(spec)]
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


def token_agreement(a: Sequence[int], b: Sequence[int]) -> float:
    """``difflib`` ratio of two token sequences (1.0 = identical, also for two empty ones)."""
    import difflib

    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(a=list(a), b=list(b), autojunk=False).ratio()
