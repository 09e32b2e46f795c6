#!/usr/bin/env python3
"""Elastic depth: WER against compute at each run-time depth, for one or more models.

    python bench/elastic_depth.py --model plain=results/demo --model elastic=results/demo_elastic \\
        --csv results/demo/test.csv --depths 4,8,12,16 --out bench/results/elastic_depth_demo
    python bench/elastic_depth.py --model shipped=pretrained/tinyconf-so762-5M --kaldi ../shared/real-speech/speechocean762/test \\
        --depths 4,8,12,16 --chunk-compute --out bench/results/elastic_depth_so762

Each ``--model NAME=SOURCE`` (a run folder or an exported model folder) is loaded once and decoded at
every depth of ``--depths`` (the same weights; which layers a depth keeps is the sharing plan's rule):
PyTorch, full context, greedy transducer search, batches sorted by length, scored with SpeechBrain's
``ErrorRateStats``. The compute of a depth is counted, not timed: multiply-accumulates of the whole
model (front-end, encoder, predictor and joint once per frame) per second of audio (``count_macs``).
``--chunk-compute`` also times the streaming compute per chunk at each depth the way sherpa-onnx runs it
(int8, 320 ms chunks, one thread, ``bench/sherpa_onnx_bench.py``'s child; models with ``frontend: kaldi``
and ``predictor: stateless`` only): one run, so compare the depths with each other, on a quiet machine.

Writes ``OUT/elastic_depth.json`` (every row), ``OUT/elastic_depth.md`` (table + the issue's targets) and
``OUT/elastic_depth.png`` (WER against GMACs per audio second, one line per model).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from onnx_wer import load_wav, read_csv  # noqa: E402
from timing import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHUNK_FRAMES, LEFT_CHUNKS = 8, 4  # 320 ms chunks, as the shipped model's streaming rows
BATCH_SECONDS = 60.0


def macs_per_second(mods, depth: int) -> int:
    """MACs of the whole model on 1 s of audio at ``depth`` (the encoder's frames each through the joint)."""
    import torch

    from speechbrain_tinyconf.lobes.size import count_macs

    wav = torch.zeros(1, 16000)
    enc = mods.encode(wav)  # (1, T', joint_dim)
    pred = torch.zeros(1, 1, enc.shape[-1])

    def run():
        mods.encode(wav)
        mods.transducer_lin(mods.Tjoint(enc.unsqueeze(2), pred.unsqueeze(1)))

    return count_macs(run, depth=depth, model=mods.Transformer)


def decode(mods, tokenizer, rows: List[Dict[str, str]]) -> Tuple[List[str], float]:
    """Greedy transcripts of ``rows`` (in order) and the audio seconds decoded."""
    import torch
    from tqdm import tqdm

    wavs = [torch.from_numpy(load_wav(row)) for row in rows]
    order = sorted(range(len(rows)), key=lambda i: len(wavs[i]))
    texts: List[str] = [""] * len(rows)
    batches, batch = [], []
    for i in order:
        if batch and (len(batch) + 1) * len(wavs[i]) > BATCH_SECONDS * 16000:
            batches.append(batch)
            batch = []
        batch.append(i)
    batches += [batch] if batch else []
    searcher = mods.greedy_searcher()
    with torch.no_grad():
        for batch in tqdm(batches, desc=f"depth {mods.depth}", leave=False):
            longest = max(len(wavs[i]) for i in batch)
            padded = torch.zeros(len(batch), longest)
            for row, i in enumerate(batch):
                padded[row, : len(wavs[i])] = wavs[i]
            lens = torch.tensor([len(wavs[i]) / longest for i in batch])
            hyps = searcher(mods.encode(padded, lens))[0]
            for i, hyp in zip(batch, hyps):
                texts[i] = tokenizer.decode_ids([int(t) for t in hyp]).upper()
    return texts, sum(len(w) for w in wavs) / 16000


def score(rows: List[Dict[str, str]], texts: List[str]) -> Dict[str, Any]:
    from speechbrain.utils.metric_stats import ErrorRateStats

    stats = ErrorRateStats()
    stats.append([r["ID"] for r in rows], [t.split() for t in texts], [r["wrd"].split() for r in rows])
    s = stats.summarize()
    return {"wer": round(s["WER"], 2), "errors": s["num_edits"], "words": s["num_scored_tokens"]}


def chunk_compute(mods, depth: int, audio: Path, reps: int) -> Dict[str, Any]:
    """Streaming int8 compute per 320 ms chunk at ``depth``, by sherpa_onnx_bench.py's child process."""
    from sherpa_onnx_bench import spawn

    from speechbrain_tinyconf.deploy.sherpa_streaming import export_sherpa_streaming

    with tempfile.TemporaryDirectory(prefix="elastic_sherpa_") as tmp:
        files = export_sherpa_streaming(mods, Path(tmp) / "m", chunk_frames=CHUNK_FRAMES, left_chunks=LEFT_CHUNKS,
                                        int8=True)
        row = spawn({"mode": "stream320", "precision": "int8", "threads": 1, "reps": reps, "audio": str(audio),
                     "model_dir": str(Path(tmp) / "m")})
        encoder_mb = files["encoder.int8"].stat().st_size / 1e6
    return {"chunk_median_ms": round(row["chunk_median_ms"], 2), "chunk_p90_ms": round(row["chunk_p90_ms"], 2),
            "chunk_fraction": round(row["chunk_fraction"], 4), "encoder_int8_mb": round(encoder_mb, 2)}


def targets(rows: List[Dict[str, Any]], full: int) -> List[str]:
    """The issue's targets, where the rows allow them (an elastic and a plain model at full and half depth)."""
    wer = {(r["model"], r["depth"]): r["wer"] for r in rows}
    models = sorted({r["model"] for r in rows})
    elastic = [m for m in models if "elastic" in m]
    plain = [m for m in models if "elastic" not in m]
    half = full // 2
    lines = []
    for m in models:
        if (m, half) in wer and (m, full) in wer:
            lines.append(f"- `{m}`: depth {half} is {wer[(m, half)] - wer[(m, full)]:+.2f} WER points from depth {full}.")
    if elastic and plain and all((m, d) in wer for m in elastic + plain for d in (half, full)):
        e, p = elastic[0], plain[0]
        drop = wer[(e, half)] - wer[(e, full)]
        lines.append(f"- Target, half depth within 5 points of full with elastic training: "
                     f"{'met' if drop <= 5 else '**missed**'} ({drop:+.2f}; without it "
                     f"{wer[(p, half)] - wer[(p, full)]:+.2f}).")
        gap = wer[(e, full)] - wer[(p, full)]
        lines.append(f"- Target, elastic full-depth WER within 1 point of the plain model's: "
                     f"{'met' if gap <= 1 else '**missed**'} ({gap:+.2f}).")
    return lines


def markdown(report: Dict[str, Any]) -> str:
    chunks = any("chunk_median_ms" in r for r in report["rows"])
    head = "| model | depth | WER % | errors / words | GMACs per audio second |"
    rule = "|---|---:|---:|---:|---:|"
    if chunks:
        head += " int8 ms per 320 ms chunk (1 thread) |"
        rule += "---:|"
    lines = [f"Measured on {report['date']} (commit {report['commit']}), {report['cpu']}. Test set: "
             f"`{report['test_set']}` ({report['utterances']} utterances, {report['audio_hours']:.2f} h). Greedy "
             "decoding, full context, PyTorch. Compute: MACs of the whole model on 1 s of audio (counted); "
             "chunk times: sherpa-onnx streaming int8, one run, medians after a warm-up.", "",
             f"Command: `{report['command']}`", "", head, rule]
    for r in report["rows"]:
        line = (f"| {r['model']} | {r['depth']} | {r['wer']:.2f} | {r['errors']} / {r['words']} | "
                f"{r['macs_per_second'] / 1e9:.3f} |")
        if chunks:
            line += f" {r['chunk_median_ms']:.1f} (p90 {r['chunk_p90_ms']:.1f}) |" if "chunk_median_ms" in r else " — |"
        lines.append(line)
    found = targets(report["rows"], report["num_layers"])
    return "\n".join(lines + ([""] + found if found else [])) + "\n"


def plot(report: Dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for model in dict.fromkeys(r["model"] for r in report["rows"]):
        rows = sorted((r for r in report["rows"] if r["model"] == model), key=lambda r: r["depth"])
        ax.plot([r["macs_per_second"] / 1e9 for r in rows], [r["wer"] for r in rows], marker="o", label=model)
        for r in rows:
            ax.annotate(str(r["depth"]), (r["macs_per_second"] / 1e9, r["wer"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=8)
    ax.set_xlabel("GMACs per second of audio (whole model)")
    ax.set_ylabel("WER %")
    ax.set_title("Elastic depth: one set of weights, depth chosen at run time")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_models(values: Sequence[str]) -> Dict[str, Path]:
    models: Dict[str, Path] = {}
    for value in values:
        name, sep, source = value.partition("=")
        if not sep or not name or not source:
            raise SystemExit(f"error: --model {value!r}: expected NAME=SOURCE")
        if not Path(source).exists():
            raise SystemExit(f"error: --model {name}: {source} not found")
        models[name] = Path(source)
    return models


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", required=True, help="NAME=SOURCE (run or model folder); repeatable")
    p.add_argument("--csv", type=Path, required=True, help="recipe CSV of the test set (ID, wav, wrd[, start, stop])")
    p.add_argument("--depths", default="4,8,12,16", help="comma-separated depths (default 4,8,12,16)")
    p.add_argument("--limit", type=int, default=0, help="first N utterances only (0: all)")
    p.add_argument("--chunk-compute", action="store_true", help="also time sherpa-onnx int8 streaming per chunk")
    p.add_argument("--audio", type=Path, default=None, help="audio for --chunk-compute (default: the longest test file)")
    p.add_argument("--reps", type=int, default=3, help="--chunk-compute repetitions (default 3)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        depths = [int(d) for d in args.depths.split(",") if d.strip()]
    except ValueError:
        raise SystemExit(f"error: --depths {args.depths!r}: expected integers such as 4,8,12,16") from None
    models = parse_models(args.model)
    if not args.csv.is_file():
        raise SystemExit(f"error: --csv {args.csv}: file not found")
    rows = read_csv(args.csv)[: args.limit or None]

    import sentencepiece as spm

    from speechbrain_tinyconf.deploy.load import load_transducer
    from speechbrain_tinyconf.lobes.depth import set_depth

    results, num_layers, seconds = [], 0, 0.0
    for name, source in models.items():
        mods = load_transducer(source)
        num_layers = len(mods.encoder.layers)
        tokenizer = spm.SentencePieceProcessor(model_file=str(mods.tokenizer_path))
        for depth in depths:
            try:
                set_depth(mods.Transformer, depth)
            except ValueError as err:
                raise SystemExit(f"error: --model {name}: {err}") from None
            texts, seconds = decode(mods, tokenizer, rows)
            row = {"model": name, "source": str(source), "depth": depth, **score(rows, texts),
                   "macs_per_second": macs_per_second(mods, depth)}
            if args.chunk_compute:
                audio = args.audio or Path(max(rows, key=lambda r: Path(r["wav"]).stat().st_size)["wav"])
                row.update(chunk_compute(mods, depth, audio, args.reps))
            print(f"{name} depth {depth}: WER {row['wer']:.2f}", file=sys.stderr, flush=True)
            results.append(row)
    from provenance import commit

    report = {"date": datetime.date.today().isoformat(), "commit": commit(),
              "cpu": cpu_name(), "test_set": str(args.csv), "utterances": len(rows),
              "audio_hours": seconds / 3600, "num_layers": num_layers, "rows": results,
              "command": "python bench/elastic_depth.py " + " ".join(argv)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "elastic_depth.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "elastic_depth.md").write_text(markdown(report))
    plot(report, args.out / "elastic_depth.png")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
