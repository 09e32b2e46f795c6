#!/usr/bin/env python3
"""Steps 4-5 of ``run_demo.sh``: export the trained demo run, transcribe one test file, print the summary.

    python recipes/LibriSpeech/demo_summary.py RUN_DIR DATA_FOLDER --start T0 --train-start T1 --train-end T2

``DATA_FOLDER`` is the corpus in the LibriSpeech layout (its ``test/`` split and, when the mini-corpus
generator made it, ``corpus_stats.json``); the times are Unix seconds. Exit status: 0, or that of the
first step that failed (its message on stderr).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from speechbrain_tinyconf.pretrained import transcribe
from speechbrain_tinyconf.pretrained.export import export
from speechbrain_tinyconf.recipe.runs import parse_wer_file


def first_test_file(data_folder: Path) -> Path:
    """The first test utterance in sorted order (what the demo transcribes)."""
    files = sorted((data_folder / "test").rglob("*.flac"))
    if not files:
        raise FileNotFoundError(f"no .flac file under {data_folder / 'test'}")
    return files[0]


def reference(audio: Path) -> str:
    """The transcript line of ``audio`` in its chapter's ``*.trans.txt``."""
    for trans in sorted(audio.parent.glob("*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            utt, _, words = line.partition(" ")
            if utt == audio.stem:
                return words
    return "(no transcript line found)"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("data_folder", type=Path)
    parser.add_argument("--start", type=float, required=True, help="Unix time the demo started")
    parser.add_argument("--train-start", type=float, required=True)
    parser.add_argument("--train-end", type=float, required=True)
    args = parser.parse_args(argv)

    model_dir = args.run_dir / "model"
    print(f"== [4/5] exporting the trained model to {model_dir} and transcribing one test file with it", flush=True)
    try:
        export(args.run_dir, model_dir, overwrite=True)
        audio = first_test_file(args.data_folder)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    status = transcribe.main([str(model_dir), str(audio)])
    if status:
        return status
    print(f"reference: {audio}\t{reference(audio)}")

    print("== [5/5] results")
    wer = parse_wer_file(args.run_dir / "wer_test.txt")
    stats_path = args.data_folder / "corpus_stats.json"
    stats = json.loads(stats_path.read_text())["splits"] if stats_path.is_file() else None
    sentences = stats["test"]["utterances"] if stats else wer.sentences
    print(f"test WER {wer.wer} % ({wer.errors} errors / {wer.words} words) on {sentences} held-out sentences")
    if stats:
        print(f"test words covered by training transcripts: {stats['test']['train_word_coverage_pct']} %")
        print(f"training audio: {stats['train']['hours']:.2f} h")
    print(f"training + evaluation: {(args.train_end - args.train_start) / 60:.1f} min; "
          f"whole command: {(time.time() - args.start) / 60:.1f} min")
    print(f"details: {args.run_dir}/wer_test.txt, {args.run_dir}/train_log.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
