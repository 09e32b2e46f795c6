#!/usr/bin/env python3
"""WER of a model's ONNX exports (fp32, int8, int4) with onnxruntime, on a recipe test CSV.

    python bench/onnx_wer.py results/demo data/mini_corpus_csv/test.csv --out bench/results/demo_onnx_wer

Exports SOURCE (a recipe run folder or a pretrained folder) with ``speechbrain_tinyconf.deploy.onnx_export
--int8 --int4`` into a temporary folder, decodes every row of CSV (the recipe's ``ID, wav, wrd`` columns,
optional ``start``/``stop`` in seconds) with :class:`~speechbrain_tinyconf.deploy.onnx_runtime.OrtTransducer`
(full context, greedy, one thread) at each precision, and scores with SpeechBrain's ``ErrorRateStats``.
Writes ``OUT/onnx_wer.md``, ``OUT/onnx_wer.json`` and ``OUT/wer_<precision>.txt``. The quantisation
deltas mean something only for a model that transcribes (check the fp32 row).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import soundfile as sf
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32", "int8", "int4")
GRAPHS = ("encoder", "predictor", "joint")


def read_csv(path: Path) -> List[Dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = {"ID", "wav", "wrd"} - set(rows[0] if rows else {})
    if not rows or missing:
        raise SystemExit(f"error: {path}: expected a recipe CSV with columns ID, wav, wrd"
                         + (f" (missing {', '.join(sorted(missing))})" if rows else " (no rows)"))
    return rows


def load_wav(row: Dict[str, str]) -> np.ndarray:
    wav, rate = sf.read(row["wav"], dtype="float32", always_2d=True)
    if rate != 16000:
        raise SystemExit(f"error: {row['wav']}: {rate} Hz, expected 16000")
    wav = wav[:, 0]
    if row.get("start") and row.get("stop"):
        wav = wav[int(float(row["start"]) * rate): int(float(row["stop"]) * rate)]
    return wav


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", type=Path, help="recipe run folder or pretrained model folder")
    p.add_argument("csv", type=Path, help="recipe CSV of the test set (ID, wav, wrd)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--limit", type=int, default=0, help="first N rows only (0: all)")
    args = p.parse_args(argv)
    if not args.csv.is_file():
        print(f"error: {args.csv}: file not found", file=sys.stderr)
        return 1
    rows = read_csv(args.csv)[: args.limit or None]

    from speechbrain.utils.metric_stats import ErrorRateStats

    from speechbrain_tinyconf.deploy.export import export_onnx
    from speechbrain_tinyconf.deploy.onnx_runtime import OrtTransducer

    tmp = tempfile.TemporaryDirectory(prefix="onnx_wer_")
    try:
        export = export_onnx(args.source, tmp.name, int8=True, int4=True, chunk_frames=())
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {args.source}: {err}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    wavs = {row["ID"]: load_wav(row) for row in tqdm(rows, desc="reading audio")}
    summary: Dict[str, Dict] = {}
    hyps: Dict[str, Dict[str, List[int]]] = {}
    for precision in PRECISIONS:
        model = OrtTransducer(tmp.name, precision=precision, threads=1)
        stats = ErrorRateStats()
        hyps[precision] = {}
        for row in tqdm(rows, desc=f"onnxruntime {precision}"):
            tokens = model.transcribe(wavs[row["ID"]])
            hyps[precision][row["ID"]] = tokens
            stats.append([row["ID"]], [model.decode_text(tokens).upper().split()], [row["wrd"].upper().split()])
        with open(args.out / f"wer_{precision}.txt", "w", encoding="utf-8") as f:
            stats.write_stats(f)
        s = stats.summarize()
        suffix = "" if precision == "fp32" else f".{precision}"
        summary[precision] = {
            "wer": s["WER"], "errors": s["num_edits"], "words": s["num_scored_tokens"],
            "model_bytes": sum(export.files[g + suffix].stat().st_size for g in GRAPHS),
            "same_tokens": sum(hyps[precision][i] == hyps["fp32"][i] for i in hyps["fp32"]),
        }
    tmp.cleanup()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from provenance import commit as git_commit

    commit = git_commit()
    command = "python bench/onnx_wer.py " + " ".join(map(str, argv if argv is not None else sys.argv[1:]))
    lines = [f"onnxruntime greedy search, full context, one thread; `{args.source}` on `{args.csv}` "
             f"({len(rows)} utterances); measured on {datetime.date.today()} (commit {commit}).", "",
             f"Command: `{command}`", "",
             "| precision | encoder+predictor+joint MB | WER | Δ vs fp32 (points) | same tokens as fp32 |",
             "|---|---:|---:|---:|---:|"]
    for precision in PRECISIONS:
        s = summary[precision]
        lines.append(f"| {precision} | {s['model_bytes'] / 1e6:.2f} | {s['wer']:.2f} | "
                     f"{s['wer'] - summary['fp32']['wer']:+.2f} | {s['same_tokens']}/{len(rows)} |")
    text = "\n".join(lines) + "\n"
    (args.out / "onnx_wer.md").write_text(text, encoding="utf-8")
    (args.out / "onnx_wer.json").write_text(json.dumps({"source": str(args.source), "csv": str(args.csv),
                                                         "utterances": len(rows), **summary}, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
