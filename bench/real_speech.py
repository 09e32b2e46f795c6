"""Scoring helpers for the real-speech results (speechocean762): per-utterance errors from a
SpeechBrain ``wer_<split>.txt``, and WER by speaker group (children / adults, from ``spk2age``) and by
kind of utterance (digit strings / sentences, from ``text``).

Used by ``bench/pocketsphinx_reference.py`` and ``bench/real_speech_report.py`` so that every
recognizer is scored the same way (SpeechBrain's ``ErrorRateStats``, upper-case words).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

UTT_LINE = re.compile(r"^(\S+), %WER [\d.]+ \[ (\d+) / (\d+),")
CHILD_MAX_AGE = 15  # speechocean762: children are 6-15, adults older


def utterance_errors(wer_file: Path) -> Dict[str, Tuple[int, int]]:
    """``{utterance id: (word errors, reference words)}`` from the alignments of a ``wer_<split>.txt``."""
    found = {}
    for line in Path(wer_file).read_text(encoding="utf-8").splitlines():
        match = UTT_LINE.match(line)
        if match:
            found[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    return found


def speaker_groups(data_dir: Path) -> Dict[str, str]:
    """``{utterance id: "children" | "adults"}`` from a Kaldi data dir's ``utt2spk`` and ``spk2age``."""
    data_dir = Path(data_dir)
    ages = {}
    for line in (data_dir / "spk2age").read_text(encoding="utf-8").splitlines():
        if line.strip():
            spk, age = line.split()[:2]
            ages[spk] = int(age)
    groups = {}
    for line in (data_dir / "utt2spk").read_text(encoding="utf-8").splitlines():
        if line.strip():
            utt, spk = line.split()[:2]
            groups[utt] = "children" if ages[spk] <= CHILD_MAX_AGE else "adults"
    return groups


DIGIT_WORDS = frozenset("ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE OH".split())


def utterance_kinds(data_dir: Path) -> Dict[str, str]:
    """``{utterance id: "digit strings" | "sentences"}`` from a Kaldi data dir's ``text`` (a digit string
    is an utterance of spoken digits only: a quarter of speechocean762)."""
    kinds = {}
    for line in (Path(data_dir) / "text").read_text(encoding="utf-8").splitlines():
        utt, _, text = line.partition(" ")
        if utt:
            words = text.upper().split()
            kinds[utt] = "digit strings" if words and set(words) <= DIGIT_WORDS else "sentences"
    return kinds


def wer_by_groups(errors: Dict[str, Tuple[int, int]], data_dir: Path) -> Dict[str, Dict[str, float]]:
    """:func:`wer_by_group` over all utterances, children / adults and digit strings / sentences."""
    return {**wer_by_group(errors, speaker_groups(data_dir)), **wer_by_group(errors, utterance_kinds(data_dir))}


def wer_by_group(errors: Dict[str, Tuple[int, int]], groups: Dict[str, str]) -> Dict[str, Dict[str, float]]:
    """``{"all" | group: {"wer": %, "errors": n, "words": n, "utterances": n}}``.

    Example
    -------
    >>> wer_by_group({"a": (1, 4), "b": (0, 4), "c": (3, 4)}, {"a": "children", "b": "adults", "c": "adults"})["adults"]
    {'wer': 37.5, 'errors': 3, 'words': 8, 'utterances': 2}
    """
    out = {}
    for name in ("all", *sorted(set(groups.values()))):
        keys: Iterable[str] = [u for u in errors if name == "all" or groups.get(u) == name]
        errs = sum(errors[u][0] for u in keys)
        words = sum(errors[u][1] for u in keys)
        count = sum(1 for u in errors if name == "all" or groups.get(u) == name)
        out[name] = {"wer": round(100.0 * errs / words, 2) if words else None, "errors": errs,
                     "words": words, "utterances": count}
    return out


def read_data_dir(corpus: Path, split: str) -> List[Tuple[str, str, str]]:
    """(utterance id, audio path, reference text) of ``corpus/split``: a Kaldi data dir without segments
    (``wav.scp``, ``text``), or a LibriSpeech split (``<spk>/<chapter>/<spk>-<chapter>.trans.txt`` beside
    ``<utt>.flac`` or ``.wav``, as the CPU demo's corpus is written)."""
    data = Path(corpus) / split
    if not (data / "wav.scp").is_file() and any(data.glob("*/*/*.trans.txt")):
        return _read_librispeech_split(data)
    wavs = dict(line.split(maxsplit=1) for line in (data / "wav.scp").read_text().splitlines() if line.strip())
    items = []
    for line in (data / "text").read_text().splitlines():
        utt, _, text = line.partition(" ")
        if utt in wavs:
            path = Path(wavs[utt].strip())
            items.append((utt, str(path if path.is_absolute() else Path(corpus) / path), text.strip().upper()))
    return items


def _read_librispeech_split(data: Path) -> List[Tuple[str, str, str]]:
    """The utterances of a LibriSpeech split folder, read by the recipe's own scanner (its checks and skips)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes" / "LibriSpeech"))
    from librispeech_scan import collect_split

    rows, _ = collect_split(data, sample_rate=16000, validate_audio=False)
    return [(utt, wav, words) for utt, _, wav, _, words in rows]


def score(items: List[Tuple[str, str, str]], hyps: Dict[str, str], wer_path: Path, data_dir: Path) -> Dict:
    """Writes SpeechBrain's ``ErrorRateStats`` alignments of ``hyps`` to ``wer_path``; returns :func:`wer_by_group`."""
    from speechbrain.utils.metric_stats import ErrorRateStats

    stats = ErrorRateStats()
    ids = [utt for utt, _, _ in items]
    stats.append(ids, [hyps[u].split() for u in ids], [text.split() for _, _, text in items])
    with open(wer_path, "w", encoding="utf-8") as out:
        stats.write_stats(out)
    return wer_by_groups(utterance_errors(wer_path), data_dir)
