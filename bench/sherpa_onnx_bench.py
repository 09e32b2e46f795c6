#!/usr/bin/env python3
"""sherpa-onnx benchmark: real-time factor, per-chunk latency, peak RSS and file sizes, fp32 and int8.

    python bench/sherpa_onnx_bench.py SOURCE [--audio FILE] [--threads 1] [--reps 5] [--out bench/results]

SOURCE is a model or run folder trained with the options sherpa-onnx runs (``frontend: kaldi``,
``predictor: stateless``). It is exported three times with ``speechbrain_tinyconf.deploy.onnx_export``'s
functions (offline; streaming with 320 ms and 640 ms chunks, 4 chunks of left context), each in fp32,
int8 and int4 (``MatMulNBits``). Then, for every (mode, precision), a fresh child process that imports only numpy,
soundfile and sherpa_onnx (no torch: a deployment's memory) decodes the audio with greedy search:

* ``full``: ``OfflineRecognizer``, the whole file at once; real-time factor = median time / audio.
* ``stream320`` / ``stream640``: ``OnlineRecognizer``; the audio is fed one chunk at a time and
  each feed is timed with the decoding it makes ready (feature extraction included). The per-chunk
  compute is the median over feeds that ran exactly one encoder chunk, also as % of the chunk.

Peak RSS is the child's ``VmHWM`` (see ``bench/timing.py``). Writes ``OUT/sherpa_onnx.md`` and
``OUT/sherpa_onnx.json``. Targets (issue 14): streaming compute <= 5 % of the chunk, int8, one
thread; int8 files of the headline <= 6 MB. Needs the ``sherpa`` and ``export`` extras.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_transcription import SAMPLE  # noqa: E402  (stdlib-only imports)
from provenance import commit  # noqa: E402
from timing import cpu_name, median_time, peak_rss_mb, percentile  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODES = {"full": None, "stream320": 8, "stream640": 16}  # encoder frames per chunk (40 ms each)
LEFT_CHUNKS = 4
PRECISIONS = ("fp32", "int8", "int4")
TARGETS = {"chunk_fraction": 0.05, "int8_mb": 6.0}


def export_all(mods, out: Path, modes: Sequence[str]) -> Dict[str, Dict[str, int]]:
    """The sherpa-onnx exports of ``mods`` under ``out/<mode>``; bytes of encoder+decoder+joiner."""
    from speechbrain_tinyconf.deploy.sherpa import export_sherpa_onnx
    from speechbrain_tinyconf.deploy.sherpa_streaming import export_sherpa_streaming

    sizes: Dict[str, Dict[str, int]] = {}
    for mode in modes:
        if MODES[mode] is None:
            files = export_sherpa_onnx(mods, out / mode, int8=True, int4=True)
        else:
            files = export_sherpa_streaming(mods, out / mode, chunk_frames=MODES[mode], left_chunks=LEFT_CHUNKS,
                                            int8=True, int4=True)
        sizes[mode] = {p: sum(files[n + ("" if p == "fp32" else f".{p}")].stat().st_size
                              for n in ("encoder", "decoder", "joiner")) for p in PRECISIONS}
    return sizes


# ---------------------------------------------------------------------------
# Children: sherpa-onnx only


def run_child(spec: Dict[str, Any]) -> Dict[str, Any]:
    """One (mode, precision) configuration, in its own process."""
    import numpy as np
    import sherpa_onnx
    import soundfile as sf

    rss_imports = peak_rss_mb()
    wav, rate = sf.read(spec["audio"], dtype="float32", always_2d=True)
    wav = wav[:, 0]
    seconds = len(wav) / rate
    model = Path(spec["model_dir"])
    suffix = ".onnx" if spec["precision"] == "fp32" else f".{spec['precision']}.onnx"
    encoder, decoder, joiner = (str(model / f"{n}{suffix}") for n in ("encoder", "decoder", "joiner"))
    common = dict(num_threads=int(spec["threads"]), sample_rate=16000, feature_dim=80, decoding_method="greedy_search")
    result: Dict[str, Any] = {**spec, "audio_seconds": seconds, "rss_after_imports_mb": rss_imports}
    reps = int(spec["reps"])
    if spec["mode"] == "full":
        rec = sherpa_onnx.OfflineRecognizer.from_transducer(encoder, decoder, joiner, str(model / "tokens.txt"),
                                                            **common)

        def transcribe() -> str:
            stream = rec.create_stream()
            stream.accept_waveform(rate, wav)
            rec.decode_stream(stream)
            return stream.result.text

        text, median = median_time(transcribe, reps)
        result.update(rtf=median / seconds, seconds_median=median, text=text)
    else:
        rec = sherpa_onnx.OnlineRecognizer.from_transducer(str(model / "tokens.txt"), encoder, decoder, joiner,
                                                           **common)
        chunk = int(round(MODES[spec["mode"]] * 0.04 * rate))
        one_chunk_ms: List[float] = []
        for rep in range(reps + 1):  # the first pass warms up
            stream = rec.create_stream()
            for start in range(0, len(wav), chunk):
                t0 = time.perf_counter()
                stream.accept_waveform(rate, wav[start:start + chunk])
                runs = 0
                while rec.is_ready(stream):
                    rec.decode_stream(stream)
                    runs += 1
                elapsed = 1e3 * (time.perf_counter() - t0)
                if rep and runs == 1:
                    one_chunk_ms.append(elapsed)
            stream.accept_waveform(rate, np.zeros(chunk, np.float32))  # flush the look-ahead
            stream.input_finished()
            while rec.is_ready(stream):
                rec.decode_stream(stream)
            text = rec.get_result(stream)
        chunk_ms = 1e3 * chunk / rate
        if not one_chunk_ms:
            raise SystemExit(f"error: {spec['audio']}: too short for one {chunk_ms:.0f} ms chunk")
        median = statistics.median(one_chunk_ms)
        result.update(chunk_audio_ms=chunk_ms, chunk_median_ms=median, chunk_p90_ms=percentile(one_chunk_ms, 90),
                      chunk_fraction=median / chunk_ms, chunks_timed=len(one_chunk_ms), text=text)
    result["peak_rss_mb"] = peak_rss_mb()
    result["torch_imported"] = "torch" in sys.modules
    return result


def spawn(spec: Dict[str, Any]) -> Dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"])}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise SystemExit(f"error: sherpa-onnx {spec['mode']} {spec['precision']}: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# Report


def markdown(report: Dict[str, Any]) -> str:
    lines = [
        f"sherpa-onnx {report['sherpa_onnx']} on {report['cpu']}, {report['threads']} thread(s), measured on "
        f"{report['date']} (commit {report['commit']}). Model: `{report['source']}` "
        f"({report['unique_params']:,} unique parameters). Audio: `{report['audio']}` "
        f"({report['audio_seconds']:.1f} s); medians of {report['reps']} runs after a warm-up.",
        "",
        f"Command: `{report['command']}`",
        "",
        "| mode | precision | files (MB) | RTF / compute per chunk | % of chunk | peak RSS (MB) | output |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in report["rows"]:
        mb = report["sizes"][row["mode"]][row["precision"]] / 1e6
        if row["mode"] == "full":
            speed, share = f"RTF {row['rtf']:.4f}", "—"
        else:
            speed = f"{row['chunk_median_ms']:.1f} ms (p90 {row['chunk_p90_ms']:.1f}) per {row['chunk_audio_ms']:.0f} ms"
            share = f"{100 * row['chunk_fraction']:.1f} %"
        text = row["text"].strip() or "(nothing)"
        text = text if len(text) <= 40 else text[:37] + "..."
        lines.append(f"| {row['mode']} | {row['precision']} | {mb:.2f} | {speed} | {share} | "
                     f"{row['peak_rss_mb']:.0f} | {text} |")
    t = report["targets"]
    lines += ["", f"Targets: streaming int8 compute per chunk <= {100 * TARGETS['chunk_fraction']:.0f} % of the "
              f"chunk at one thread: {t['chunk_fraction']}; int8 files <= {TARGETS['int8_mb']:.0f} MB: {t['int8_mb']}."]
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        print(json.dumps(run_child(json.loads(argv[1]))))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", type=Path, help="model or run folder (frontend: kaldi, predictor: stateless)")
    p.add_argument("--audio", type=Path, default=SAMPLE, help="16 kHz audio file (default: a 10.4 s LibriSpeech file)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--modes", default=",".join(MODES), help=f"subset of {','.join(MODES)}")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    for problem in ([f"--modes: unknown mode {m!r} (known: {', '.join(MODES)})" for m in modes if m not in MODES]
                    + ([] if args.audio.is_file() else [f"--audio {args.audio}: file not found"])
                    + ([] if args.source.exists() else [f"{args.source}: not found"])):
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        import sherpa_onnx
    except ImportError:
        print("error: sherpa-onnx is not installed (pip install -e '.[sherpa,export]')", file=sys.stderr)
        return 1
    from speechbrain_tinyconf import size_report
    from speechbrain_tinyconf.deploy.load import load_transducer
    from speechbrain_tinyconf.deploy.sherpa import SherpaExportError

    tmp = tempfile.TemporaryDirectory(prefix="sherpa_onnx_bench_")  # the exports: only their sizes are kept
    model_root = Path(tmp.name)
    try:
        mods = load_transducer(args.source)
        sizes = export_all(mods, model_root, modes)
    except (SherpaExportError, FileNotFoundError, ValueError) as err:
        print(f"error: {args.source}: {err}", file=sys.stderr)
        return 1
    unique = size_report(mods.model).unique_params
    rows = []
    for mode in modes:
        for precision in PRECISIONS:
            print(f"sherpa-onnx {mode} {precision} ...", file=sys.stderr, flush=True)
            rows.append(spawn({"mode": mode, "precision": precision, "threads": args.threads, "reps": args.reps,
                               "audio": str(args.audio), "model_dir": str(model_root / mode)}))
    fractions = [r["chunk_fraction"] for r in rows if r["mode"] != "full" and r["precision"] == "int8"]
    int8_mb = [sizes[m]["int8"] / 1e6 for m in modes]
    targets = {
        "chunk_fraction": ("met" if max(fractions) <= TARGETS["chunk_fraction"] else "**missed**")
        + f" (worst {100 * max(fractions):.1f} %)" if fractions else "not measured",
        "int8_mb": ("met" if max(int8_mb) <= TARGETS["int8_mb"] else "**missed**") + f" ({max(int8_mb):.2f} MB)",
    }
    report = {
        "date": datetime.date.today().isoformat(), "commit": commit(), "cpu": cpu_name(),
        "sherpa_onnx": getattr(sherpa_onnx, "__version__", "?"), "threads": args.threads, "reps": args.reps,
        "source": str(args.source), "unique_params": unique, "audio": str(args.audio),
        "audio_seconds": rows[0]["audio_seconds"], "sizes": sizes, "rows": rows, "targets": targets,
        "command": "python bench/sherpa_onnx_bench.py " + " ".join(argv),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sherpa_onnx.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "sherpa_onnx.md").write_text(markdown(report))
    print(markdown(report))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
