#!/usr/bin/env python3
"""Writes RESULTS.md from the tables the measuring scripts generated (nothing typed by hand).

    python scripts/make_results.py [--demo-run results/demo] [--check]

RESULTS.md holds every results table of the project, each under the command that made it, the date
and the commit (the ones the table states, else those of the commit that last wrote its file):

* CPU demo: ``docs/demo/demo.md``, made here from a ``run_demo.sh`` run folder with ``--demo-run``
  (``train_log.txt``, ``wer_test.txt``, ``command.txt``, ``log.txt``);
* real speech: ``docs/real_speech/real_speech.md`` (``bench/real_speech_report.py``) and the earlier
  runs' ``docs/real_speech/before_campaign.md``;
* int4 weight storage of the shipped model: ``bench/results/weight_storage_so762_{dev,test}/weight_storage.md``
  (``bench/weight_storage.py``);
* training throughput: ``bench/results/train_throughput/throughput.md`` (``bench/train_throughput.py``);
* ablation: ``docs/ablation/ablation.md`` (``bench/ablation.py``);
* benchmark: ``bench/results/benchmark.md`` and, with the demo's trained model,
  ``bench/results/trained_demo/benchmark.md`` (``bench/benchmark.py``);
* quantised WER: ``bench/results/demo_onnx_wer/onnx_wer.md`` (``bench/onnx_wer.py``);
* sherpa-onnx: ``bench/results/sherpa_onnx.md`` (``bench/sherpa_onnx_bench.py``);
* elastic depth: ``bench/results/elastic_depth_demo/elastic_depth.md``, its second seed pair
  ``bench/results/elastic_depth_demo_s3408/elastic_depth.md`` and
  ``bench/results/elastic_depth_so762/elastic_depth.md`` (``bench/elastic_depth.py``);
* the real-speech pilots: ``docs/real_speech/pilots/pilots.md`` (``bench/pilot_report.py``);
* keyword spotting: ``bench/results/kws_*/kws_eval.md`` (``bench/kws_eval.py``) and
  ``bench/results/kws_reset/kws_compare.md`` (``bench/kws_compare.py``).

``--check`` writes nothing and exits 1 if RESULTS.md differs from what would be written (the test
suite runs it, so RESULTS.md cannot drift from the generated tables).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
SOURCES: List[Tuple[str, str]] = [
    ("CPU demo (synthetic speech, `run_demo.sh`)", "docs/demo/demo.md"),
    ("Real speech (speechocean762): the campaign and the shipped model", "docs/real_speech/real_speech.md"),
    ("Real speech: runs before the campaign (from scratch, 2026-12-01)", "docs/real_speech/before_campaign.md"),
    ("Real speech: the shipped model's int4 weight storage, dev", "bench/results/weight_storage_so762_dev/weight_storage.md"),
    ("Real speech: the shipped model's int4 weight storage, test",
     "bench/results/weight_storage_so762_test/weight_storage.md"),
    ("CPU training throughput", "bench/results/train_throughput/throughput.md"),
    ("Ablation at CPU scale (synthetic speech)", "docs/ablation/ablation.md"),
    ("CPU benchmark", "bench/results/benchmark.md"),
    ("CPU benchmark, trained demo model", "bench/results/trained_demo/benchmark.md"),
    ("Quantised WER, demo model", "bench/results/demo_onnx_wer/onnx_wer.md"),
    ("sherpa-onnx deployment benchmark", "bench/results/sherpa_onnx.md"),
    ("Elastic depth, CPU demo model (synthetic speech)", "bench/results/elastic_depth_demo/elastic_depth.md"),
    ("Elastic depth, CPU demo model (synthetic speech), second seed pair (3408)",
     "bench/results/elastic_depth_demo_s3408/elastic_depth.md"),
    ("Elastic depth, shipped model (speechocean762)", "bench/results/elastic_depth_so762/elastic_depth.md"),
    ("Real speech: the pilots of 2026-12-06", "docs/real_speech/pilots/pilots.md"),
    ("Keyword spotting, demo model: test split", "bench/results/kws_demo/kws_eval.md"),
    ("Keyword spotting, demo model: test split, held-out voices", "bench/results/kws_demo_heldout/kws_eval.md"),
    ("Keyword spotting, demo model: test split, threshold 0.35", "bench/results/kws_demo_threshold0.35/kws_eval.md"),
    ("Keyword spotting, demo model: test split, threshold 0.5", "bench/results/kws_demo_threshold0.5/kws_eval.md"),
    ("Keyword spotting, demo model: 1 h without keywords, held-out voices",
     "bench/results/kws_demo_long_negatives/kws_eval.md"),
    ("Keyword spotting, demo model: 1 h without keywords, threshold 0.35",
     "bench/results/kws_demo_long_negatives_threshold0.35/kws_eval.md"),
    ("Keyword spotting, demo model: 1 h without keywords, threshold 0.5",
     "bench/results/kws_demo_long_negatives_threshold0.5/kws_eval.md"),
    ("Keyword spotting, demo model: predictor_reset_prob against a control (one fine-tuning epoch each)",
     "bench/results/kws_reset/kws_compare.md"),
    ("Keyword spotting, shipped model: digits in speechocean762 test", "bench/results/kws_so762_digits/kws_eval.md"),
    ("Keyword spotting, shipped model: digits, threshold 0.5", "bench/results/kws_so762_digits_threshold0.5/kws_eval.md"),
]
STATED = re.compile(r"on (\d{4}-\d\d-\d\d) \(commit ([0-9a-f]{7,40}(?:\+dirty)?)")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ - ")
LOG_LINE = re.compile(r"epoch: (\d+), lr: [\d.e+-]+, steps: (\d+)(?:, audio_hours: [\d.]+)? - train loss: ([\d.]+) - "
                      r"valid loss: ([\d.]+)"
                      r"(?:, valid WER: ([\d.]+))?")
TEST_LINE = re.compile(r"split: (\w+), epochs trained: \d+ - test loss: ([\d.]+), test WER: ([\d.]+), test CER: ([\d.]+)")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def provenance(path: Path, text: str) -> str:
    """``date, commit`` the table states, else those of the last commit that wrote the file."""
    stated = STATED.search(text)
    if stated:
        return f"{stated.group(1)}, commit {stated.group(2)} (stated by the table)"
    last = _git("log", "-1", "--format=%cs, commit %h", "--", str(path.relative_to(ROOT)))
    return f"{last} (last commit that wrote the file)" if last else "not committed yet"


def demo_markdown(run: Path) -> str:
    """The demo table of a ``run_demo.sh`` run folder."""
    rows = ["| epoch | updates | train loss | valid loss | valid WER |", "|---:|---:|---:|---:|---:|"]
    tests = []
    for line in (run / "train_log.txt").read_text(encoding="utf-8").splitlines():
        if LOG_LINE.match(line):
            epoch, steps, train, valid, wer = LOG_LINE.match(line).groups()
            rows.append(f"| {epoch} | {int(steps):,} | {train} | {valid} | {wer or ''} |")
        elif TEST_LINE.match(line):
            tests.append(TEST_LINE.match(line).groups())
    wer_head = (run / "wer_test.txt").read_text(encoding="utf-8").splitlines()[0]
    stamps = [datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
              for m in map(STAMP.match, (run / "log.txt").read_text(encoding="utf-8", errors="replace").splitlines()) if m]
    minutes = (stamps[-1] - stamps[0]).total_seconds() / 60 if stamps else float("nan")
    run_date = stamps[0].date() if stamps else "unknown date"
    installed = re.search(r"@([0-9a-f]{7,40})#egg=speechbrain_tinyconf", (run / "env.log").read_text(encoding="utf-8")) \
        if (run / "env.log").is_file() else None
    commit = installed.group(1)[:7] if installed else _git("rev-parse", "--short", "HEAD")
    lines = [f"Generated by `python scripts/make_results.py --demo-run {run}` on {run_date} "
             f"(commit {commit}, the run's) from the run folder of:", "",
             "```bash", (run / "command.txt").read_text(encoding="utf-8").strip(), "```", "", *rows, ""]
    for split, loss, wer, cer in tests:
        lines.append(f"- {split}: **WER {wer} %**, CER {cer} %, transducer loss {loss} per utterance")
    lines += [f"- `wer_test.txt`: {wer_head}", f"- training + evaluation (train.py log, first to last line): {minutes:.1f} min"]
    return "\n".join(lines) + "\n"


def results_markdown() -> str:
    parts = ["# Results", "",
             "Every table below is generated by the script named in it; this file is written by "
             "`python scripts/make_results.py` from those files (do not edit by hand). README.md says how to "
             "use the models; this file says how well they do.", ""]
    for title, rel in SOURCES:
        path = ROOT / rel
        parts += [f"## {title}", ""]
        if not path.is_file():
            parts += [f"_No table yet (`{rel}` not generated)._", ""]
            continue
        text = path.read_text(encoding="utf-8")
        parts += [f"Source: [`{rel}`]({rel}); {provenance(path, text)}.", ""]
        body = "\n".join(("#" * 2 + line) if line.startswith("#") else line for line in text.splitlines())
        parts += [body.strip(), ""]
    return "\n".join(parts)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-run", type=Path, default=None, help="run_demo.sh run folder: (re)make docs/demo/demo.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if RESULTS.md is not what would be written")
    args = parser.parse_args(argv)
    if args.demo_run:
        missing = [n for n in ("train_log.txt", "wer_test.txt", "command.txt", "log.txt") if not (args.demo_run / n).is_file()]
        if missing:
            print(f"error: {args.demo_run}: no {missing[0]} (not a finished run_demo.sh run folder)", file=sys.stderr)
            return 1
        if not args.check:
            target = ROOT / "docs" / "demo" / "demo.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(demo_markdown(args.demo_run), encoding="utf-8")
    text = results_markdown()
    out = ROOT / "RESULTS.md"
    if args.check:
        if not out.is_file() or out.read_text(encoding="utf-8") != text:
            print("RESULTS.md is out of date: run python scripts/make_results.py", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    print(out)
    for _, rel in SOURCES:  # provenance from git: it changes when the table is committed
        path = ROOT / rel
        if path.is_file() and not STATED.search(path.read_text(encoding="utf-8")) and _git("status", "--porcelain", "--", rel):
            print(f"note: {rel} has uncommitted changes: commit it, then run this again "
                  "(RESULTS.md names the commit that wrote it)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
