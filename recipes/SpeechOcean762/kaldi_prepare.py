#!/usr/bin/env python3
"""Build the recipe's CSV manifests from Kaldi data directories (any corpus in that layout).

A Kaldi data dir holds (one entry per line, first field the id)::

    wav.scp    <recording-id> <audio path>        (absolute, or relative to --audio-root)
    text       <utterance-id> <words ...>
    utt2spk    <utterance-id> <speaker-id>
    segments   <utterance-id> <recording-id> <start s> <end s>   (optional)

Without ``segments`` every recording is one utterance (recording id = utterance id). For
each data dir ``<data_folder>/<split>`` one ``<save_folder>/<split>.csv`` is written with the
columns ``ID,duration,wav,spk_id,wrd,start,stop`` (seconds; ``start``/``stop`` select the
segment of ``wav``; ``wav`` is an absolute path; ``wrd`` the upper-case transcript), sorted by
ID. speechocean762 as we ship it (Ogg/Opus under ``audio/``) and as distributed (WAV under
``WAVE/``) are both read through the same ``wav.scp`` mechanism.

Same guarantees as ``recipes/LibriSpeech/librispeech_prepare.py``: idempotent (the options,
the sha256 of the data dir's ``wav.scp``, ``text``, ``utt2spk`` and ``segments``, and the
summary of each split are recorded in ``prepare_opts.json``; a split prepared with the same
options from the same files is not rebuilt, an edited file prepares it again), atomic (temporary
file + ``os.replace``), and bad input never gives a silently wrong CSV:

=============================================  =====================  ================
Case                                           Outcome                Skip reason key
=============================================  =====================  ================
data dir, ``wav.scp``, ``text`` or ``utt2spk``  ``FileNotFoundError``  -
missing                                        (the path)
audio file of a ``wav.scp`` entry missing      warning, skip          ``missing_audio``
unreadable/corrupt audio                       warning, skip          ``unreadable``
audio with 0 frames                            warning, skip          ``empty_audio``
utterance with audio but no ``text`` line      warning, skip          ``no_text``
``text`` line whose audio is not in wav.scp    warning, skip          ``no_audio``
(or whose ``segments`` line is missing)
``text`` line with no words                    warning, skip          ``empty_text``
utterance shorter than ``min_duration``        warning, skip          ``too_short``
(0.1 s: the model needs a few encoder frames)
sample rate != ``sample_rate``, not mono       ``ValueError``         -
                                               (the file)
duplicate id in any file; a line without       ``ValueError``         -
the fields it needs; a piped ``wav.scp``       (file + line number)
command; a ``wav.scp`` path that is a
directory, device or FIFO; a ``segments``
time that is not a number; a segment outside
its recording; utterance without ``utt2spk``
entry
split with no usable utterance                 ``ValueError``         -
=============================================  =====================  ================

Windows line ends (CRLF) and blank lines are accepted. Durations come from the file header
(``soundfile.info``; ``--validate-audio`` decodes every file).

Command line::

    python recipes/SpeechOcean762/kaldi_prepare.py DATA_FOLDER SAVE_FOLDER --splits train dev test \\
        [--audio-root DIR]   # default: DATA_FOLDER (speechocean762's wav.scp paths are relative to it)

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import math
import stat
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "LibriSpeech"))
from librispeech_scan import audio_duration  # noqa: E402
from prepare_io import atomic_write, format_counts, load_opts, record_opts  # noqa: E402

logger = logging.getLogger(__name__)

CSV_HEADER = ("ID", "duration", "wav", "spk_id", "wrd", "start", "stop")
SKIP_REASONS = ("missing_audio", "unreadable", "empty_audio", "no_text", "no_audio", "empty_text", "too_short")
PROGRESS_MIN_FILES = 200  # progress bar for splits with at least this many recordings
KALDI_FILES = ("wav.scp", "text", "utt2spk", "segments")  # what a split's CSV is made from
# Shortest utterance kept: the recipe's front-end (two stride-2 convolutions over 10 ms frames)
# needs a few frames; a 0.001 s segment crashed the first training step (tests/test_kaldi_prepare.py
# runs the model on utterances of exactly this length, both front-ends).
MIN_DURATION_S = 0.1

PathLike = Union[str, Path]
Row = Tuple[str, float, str, str, str, float, float]
Summary = Dict[str, Union[int, Dict[str, int]]]


def prepare_kaldi(
    data_folder: PathLike,
    save_folder: PathLike,
    splits: Sequence[str],
    audio_root: Optional[PathLike] = None,
    sample_rate: int = 16000,
    skip_prep: bool = False,
    validate_audio: bool = False,
    min_duration: float = MIN_DURATION_S,
) -> Dict[str, Summary]:
    """Writes ``<save_folder>/<split>.csv`` for the Kaldi data dir ``<data_folder>/<split>`` of each split.

    Arguments
    ---------
    data_folder : path
        Folder holding one Kaldi data dir per split.
    save_folder : path
        Where the CSVs and ``prepare_opts.json`` go.
    splits : sequence of str
        Data dir names, e.g. ``("train", "dev", "test")``, or paths of data dirs elsewhere (an
        absolute path is used as is; its CSV is named after its last folder).
    audio_root : path, optional
        What relative ``wav.scp`` paths are relative to (default: ``data_folder``).
    sample_rate : int
        Required sample rate of every audio file.
    skip_prep : bool
        Do nothing.
    validate_audio : bool
        Decode every file (catches corrupt audio behind a valid header).
    min_duration : float
        Utterances shorter than this (seconds) are skipped and counted (``too_short``).

    Returns
    -------
    dict
        ``{split: {"written": n, "skipped": {reason: count}}}``.
    """
    if skip_prep:
        return {}
    if isinstance(splits, str):
        splits = [splits]
    data_path = Path(data_folder).expanduser().resolve()
    root = Path(audio_root).expanduser().resolve() if audio_root is not None else data_path
    save_path = Path(save_folder).expanduser().resolve()
    if not data_path.is_dir():
        raise FileNotFoundError(f"data folder not found: {data_path}")
    for split in splits:
        for name in KALDI_FILES:
            kind = _not_a_file(data_path / split / name)
            if kind:
                raise ValueError(f"{data_path / split / name} is {kind}, not a Kaldi table file")
            if name != "segments" and not (data_path / split / name).is_file():
                raise FileNotFoundError(f"{data_path / split / name} not found (a Kaldi data dir needs "
                                        "wav.scp, text and utt2spk)")
    save_path.mkdir(parents=True, exist_ok=True)

    summaries: Dict[str, Summary] = {}
    for split in splits:
        options = {"data_folder": str(data_path), "split": split, "audio_root": str(root),
                   "sample_rate": sample_rate, "validate_audio": bool(validate_audio), "format": "kaldi",
                   "min_duration": float(min_duration), "inputs": input_fingerprint(data_path / split)}
        name = Path(split).name  # a split may be given as the path of a data dir elsewhere
        csv_path = save_path / f"{name}.csv"
        record = load_opts(save_path).get("splits", {}).get(name)
        if csv_path.is_file() and isinstance(record, dict) and record.get("options") == options:
            logger.info("%s already prepared (%s), skipping.", split, csv_path)
            summaries[name] = record["summary"]
            continue
        if csv_path.is_file() and isinstance(record, dict):
            logger.info("%s: prepared before with other options or other Kaldi files: preparing it again", split)
        rows, skipped = collect_data_dir(data_path / split, root, sample_rate, validate_audio, min_duration)
        if not rows:
            raise ValueError(f"{data_path / split} has no usable utterance "
                             f"(skipped: {format_counts(skipped) or 'none found'})")
        _write_csv(csv_path, rows)
        summary: Summary = {"written": len(rows), "skipped": dict(skipped)}
        record_opts(save_path, name, options, summary)
        logger.info("%s: written %d, skipped %d (%s) -> %s", split, len(rows), sum(skipped.values()),
                    format_counts(skipped) or "none", csv_path)
        summaries[name] = summary
    return summaries


def input_fingerprint(data_dir: Path) -> Dict[str, Optional[str]]:
    """sha256 of each Kaldi file of a data dir (None where absent): a split is prepared again when one changes."""
    found: Dict[str, Optional[str]] = {}
    for name in KALDI_FILES:
        path = data_dir / name
        found[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return found


def read_table(path: Path, min_fields: int = 2) -> Dict[str, Tuple[List[str], int]]:
    """``{id: (fields after the id, line number)}`` of a Kaldi table file; CRLF and blank lines accepted.

    Raises ``ValueError`` naming file and line for a repeated id or a line with too few fields.
    """
    table: Dict[str, Tuple[List[str], int]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not valid UTF-8 ({err})") from err
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.replace("\r", "").split()
        if not fields:
            continue
        if len(fields) < min_fields:
            raise ValueError(f"{path}, line {lineno}: expected at least {min_fields} fields, got {line.strip()!r}")
        key = fields[0]
        if key in table:
            raise ValueError(f"{path}, line {lineno}: id {key} already on line {table[key][1]}")
        table[key] = (fields[1:], lineno)
    return table


def collect_data_dir(data_dir: Path, root: Path, sample_rate: int, validate_audio: bool = False,
                     min_duration: float = MIN_DURATION_S) -> Tuple[List[Row], Counter]:
    """The CSV rows (sorted by id) and the skip counts of one Kaldi data dir."""
    skipped: Counter = Counter()
    wav_scp = read_table(data_dir / "wav.scp")
    texts = read_table(data_dir / "text", min_fields=1)
    utt2spk = read_table(data_dir / "utt2spk")
    segments_path = data_dir / "segments"
    segments = read_table(segments_path, min_fields=4) if segments_path.is_file() else None

    recordings: Dict[str, Tuple[Path, float]] = {}  # recording id -> (path, duration)
    for rec, (fields, lineno) in tqdm(sorted(wav_scp.items()), desc=data_dir.name, unit="file",
                                      disable=len(wav_scp) < PROGRESS_MIN_FILES):
        if fields[-1] == "|" or len(fields) > 1:
            raise ValueError(f"{data_dir / 'wav.scp'}, line {lineno}: only '<id> <path>' entries are supported "
                             f"(got a command: {' '.join(fields)!r}); convert the audio to files first")
        path = Path(fields[0])
        path = path if path.is_absolute() else root / path
        kind = _not_a_file(path)
        if kind:
            raise ValueError(f"{data_dir / 'wav.scp'}, line {lineno}: {path} is {kind}, not an audio file")
        duration = _duration(path, sample_rate, validate_audio, skipped)
        if duration is not None:
            recordings[rec] = (path, duration)

    # utterance id -> (recording id, start, stop)
    if segments is None:
        spans = {rec: (rec, 0.0, duration) for rec, (_, duration) in recordings.items()}
        listed = set(wav_scp)
    else:
        spans, listed = {}, set()
        for utt, (fields, lineno) in segments.items():
            rec = fields[0]
            start, stop = (_seconds(value, name, segments_path, lineno) for value, name in
                           ((fields[1], "start"), (fields[2], "end")))
            if rec not in wav_scp:
                raise ValueError(f"{segments_path}, line {lineno}: recording {rec} is not in wav.scp")
            listed.add(utt)
            if rec not in recordings:
                continue  # its audio was skipped (counted there)
            duration = recordings[rec][1]
            if not 0 <= start < stop or stop > duration + 0.01:
                raise ValueError(f"{segments_path}, line {lineno}: segment {start}-{stop} s is outside "
                                 f"recording {rec} ({duration:.2f} s)")
            spans[utt] = (rec, start, min(stop, duration))

    for utt in sorted(set(listed) - set(texts)):
        if utt in spans:
            logger.warning("Skipping %s: no line for it in %s", utt, data_dir / "text")
            skipped["no_text"] += 1
    rows: List[Row] = []
    for utt, (words, lineno) in sorted(texts.items()):
        if utt not in listed:
            logger.warning("Skipping %s (%s, line %d): no audio for it in %s", utt, data_dir / "text", lineno,
                           data_dir / ("segments" if segments is not None else "wav.scp"))
            skipped["no_audio"] += 1
            continue
        if utt not in spans:
            continue  # audio skipped (counted there)
        if not words:
            logger.warning("Skipping %s (%s, line %d): empty transcript", utt, data_dir / "text", lineno)
            skipped["empty_text"] += 1
            continue
        if utt not in utt2spk:
            raise ValueError(f"{data_dir / 'utt2spk'}: no speaker for utterance {utt}")
        rec, start, stop = spans[utt]
        if round(stop - start, 4) < min_duration:  # as the CSV's duration (decimal times: 1.3 - 1.2 < 0.1)
            logger.warning("Skipping %s: %.3f s, shorter than %g s (min_duration: the model needs a few encoder "
                           "frames)", utt, stop - start, min_duration)
            skipped["too_short"] += 1
            continue
        rows.append((utt, round(stop - start, 4), str(recordings[rec][0]), utt2spk[utt][0][0],
                     " ".join(words).upper(), start, stop))
    return rows, skipped


def _seconds(value: str, name: str, path: Path, lineno: int) -> float:
    """A ``segments`` time in seconds; a ``ValueError`` naming the file and line if it is not a finite number."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        raise ValueError(f"{path}, line {lineno}: {name} time {value!r} is not a number of seconds")
    return seconds


def _not_a_file(path: Path) -> Optional[str]:
    """What ``path`` is when it exists but is not a regular file (a directory, a device, a FIFO...), else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # missing: counted as missing_audio
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _duration(path: Path, sample_rate: int, validate_audio: bool, skipped: Counter) -> Optional[float]:
    """Duration in seconds, or None after logging and counting a skip (as for LibriSpeech, plus a missing file)."""
    if not path.is_file():
        logger.warning("Skipping %s: audio file missing", path)
        skipped["missing_audio"] += 1
        return None
    return audio_duration(path, sample_rate, validate_audio, skipped)


def _write_csv(path: Path, rows: List[Row]) -> None:
    def write(handle) -> None:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for utt, duration, wav, spk, words, start, stop in rows:
            writer.writerow((utt, repr(float(duration)), wav, spk, words, repr(float(start)), repr(float(stop))))

    atomic_write(path, write)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_folder", help="folder holding one Kaldi data dir per split")
    parser.add_argument("save_folder", help="where <split>.csv and prepare_opts.json are written")
    parser.add_argument("--splits", nargs="+", required=True, help="data dir names, e.g. train dev test")
    parser.add_argument("--audio-root", default=None, help="base of relative wav.scp paths (default DATA_FOLDER)")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--validate-audio", action="store_true", help="decode every file")
    parser.add_argument("--min-duration", type=float, default=MIN_DURATION_S,
                        help=f"skip utterances shorter than this, in seconds (default {MIN_DURATION_S:g})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        summaries = prepare_kaldi(args.data_folder, args.save_folder, args.splits, args.audio_root,
                                  args.sample_rate, validate_audio=args.validate_audio, min_duration=args.min_duration)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for split, summary in summaries.items():
        print(f"{split}: {summary['written']} utterances, skipped: {format_counts(Counter(summary['skipped'])) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
