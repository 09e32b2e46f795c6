"""Reading one LibriSpeech split folder: its transcripts, audio files and durations, and what is skipped.

``<split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac`` (or ``.wav``) with the chapter's
``<spk>-<chapter>.trans.txt`` -> rows ``(ID, duration, wav, spk_id, wrd)`` sorted by ID, and
the skip counts by reason (:func:`collect_split`). Malformed transcripts, a wrong sample rate
or channel count stop with an error naming the file; see ``librispeech_prepare.py`` for the
table of every case.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import soundfile as sf
from tqdm import tqdm

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".flac", ".wav")
TRANS_SUFFIX = ".trans.txt"
SKIP_REASONS = ("missing_audio", "no_transcript", "unreadable", "empty_audio")
# Show a progress bar only when a split has at least this many chapters.
PROGRESS_MIN_CHAPTERS = 20

Row = Tuple[str, float, str, str, str]


def collect_split(
    split_path: Path, sample_rate: int, validate_audio: bool
) -> Tuple[List[Row], Counter]:
    """Return the CSV rows (sorted by ID) and the skip counts of one split."""
    chapters = sorted(
        chapter
        for spk in split_path.iterdir()
        if spk.is_dir()
        for chapter in spk.iterdir()
        if chapter.is_dir()
    )
    skipped: Counter = Counter()
    rows: List[Row] = []
    for chapter in tqdm(
        chapters,
        desc=split_path.name,
        unit="chapter",
        disable=len(chapters) < PROGRESS_MIN_CHAPTERS,
    ):
        rows.extend(_collect_chapter(chapter, sample_rate, validate_audio, skipped))
    rows.sort(key=lambda row: row[0])
    return rows, skipped


def _collect_chapter(
    chapter: Path, sample_rate: int, validate_audio: bool, skipped: Counter
) -> List[Row]:
    spk = chapter.parent.name
    prefix = f"{spk}-{chapter.name}-"
    transcripts = _read_transcripts(chapter, prefix)

    audio: Dict[str, Path] = {}
    for path in sorted(chapter.iterdir()):
        if not path.is_file() or path.suffix.lower() not in AUDIO_EXTENSIONS:
            continue
        if path.stem in audio:
            raise ValueError(
                f"Utterance {path.stem} has two audio files: {audio[path.stem]} and {path}"
            )
        audio[path.stem] = path

    for path in (audio[utt] for utt in sorted(set(audio) - set(transcripts))):
        logger.warning("Skipping %s: no transcript line for it in %s", path, chapter)
        skipped["no_transcript"] += 1

    rows: List[Row] = []
    for utt_id in sorted(transcripts):
        words, trans_file = transcripts[utt_id]
        path = audio.get(utt_id)
        if path is None:
            logger.warning(
                "Skipping %s listed in %s: audio file missing (%s.flac/.wav)",
                utt_id,
                trans_file,
                chapter / utt_id,
            )
            skipped["missing_audio"] += 1
            continue
        duration = audio_duration(path, sample_rate, validate_audio, skipped)
        if duration is not None:
            rows.append((utt_id, duration, str(path), spk, words))
    return rows


def _read_transcripts(chapter: Path, prefix: str) -> Dict[str, Tuple[str, Path]]:
    """Map utterance id -> (upper-case words, transcript file) for a chapter."""
    id_pattern = re.compile(re.escape(prefix) + r"\d+")
    found: Dict[str, Tuple[str, Path]] = {}
    origin: Dict[str, str] = {}
    for trans_file in sorted(chapter.glob("*" + TRANS_SUFFIX)):
        try:
            text = trans_file.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{trans_file}: not valid UTF-8 ({err})") from err
        for lineno, line in enumerate(text.splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            utt_id, words = parts[0], parts[1:]
            where = f"{trans_file}, line {lineno}"
            if not id_pattern.fullmatch(utt_id):
                raise ValueError(
                    f"{where}: malformed utterance id {utt_id!r} "
                    f"(expected {prefix}<digits>)"
                )
            if not words:
                raise ValueError(f"{where}: no words for utterance {utt_id}")
            if utt_id in found:
                raise ValueError(f"{where}: utterance {utt_id} already listed at {origin[utt_id]}")
            found[utt_id] = (" ".join(words).upper(), trans_file)
            origin[utt_id] = where
    return found


def audio_duration(
    path: Path, sample_rate: int, validate_audio: bool, skipped: Counter
) -> Optional[float]:
    """Duration in seconds, or None after logging and counting a skip."""
    try:
        info = sf.info(str(path))
        frames = info.frames
        if validate_audio and info.samplerate == sample_rate:
            frames = len(sf.read(str(path), dtype="float32", always_2d=True)[0])
    except (RuntimeError, OSError) as err:  # sf.LibsndfileError is a RuntimeError
        logger.warning("Skipping %s: unreadable audio (%s)", path, err)
        skipped["unreadable"] += 1
        return None
    if info.samplerate != sample_rate:
        raise ValueError(
            f"{path}: sample rate is {info.samplerate} Hz, expected {sample_rate} Hz"
        )
    if info.channels != 1:
        raise ValueError(f"{path}: {info.channels} channels, expected mono audio")
    if frames <= 0:
        logger.warning("Skipping %s: audio has 0 frames", path)
        skipped["empty_audio"] += 1
        return None
    return frames / info.samplerate
