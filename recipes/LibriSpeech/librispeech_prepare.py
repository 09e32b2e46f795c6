"""Build SpeechBrain CSV manifests from a LibriSpeech-style corpus.

Expected layout (the one distributed on openslr.org)::

    <data_folder>/<split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac   (or .wav)
    <data_folder>/<split>/<spk>/<chapter>/<spk>-<chapter>.trans.txt

Every transcript line is ``UTTID WORD WORD ...``. For each requested split one
file ``<save_folder>/<split>.csv`` is written with the columns
``ID,duration,wav,spk_id,wrd`` (duration in seconds, ``wav`` an absolute path,
``wrd`` the upper-case transcript), rows sorted by ``ID``.

Preparation is idempotent: ``<save_folder>/prepare_opts.json`` records, per
split, the options the CSV was built with and its summary. When the CSV exists
and the recorded options match, the split is not rebuilt ("already
prepared"); any difference (data folder, sample rate, selection, validation)
rebuilds it. CSV and JSON are written to a temporary file in ``save_folder``
and moved into place with ``os.replace``, so an interrupted run leaves either
the old file or the new one, never a truncated one. The JSON entry is written
after its CSV, so a run interrupted between the two is simply redone. Changes
made to the corpus itself after preparation are not detected; delete the CSV
(or the JSON) to force a rebuild.

Bad input never yields a silently wrong CSV. Each case is either a counted,
logged skip (the file is left out and the run goes on) or an error that stops
the run before the split's CSV is written:

==========================================  =======================  ==================
Case                                        Outcome                  Skip reason key
==========================================  =======================  ==================
data folder or split folder missing         ``FileNotFoundError``    -
                                            (path + existing splits)
transcript line, audio file missing         warning, skip            ``missing_audio``
audio file, no transcript line              warning, skip            ``no_transcript``
audio unreadable/corrupt (soundfile error)  warning, skip            ``unreadable``
audio with 0 frames                         warning, skip            ``empty_audio``
sample rate != ``sample_rate``              ``ValueError``           -
audio not mono                              ``ValueError``           -
same utterance as both .flac and .wav       ``ValueError``           -
transcript line with no words, id without   ``ValueError``           -
``<spk>-<chapter>-<digits>`` form, or a     (file + line number)
repeated id; transcript not UTF-8
split with no usable utterance              ``ValueError``           -
==========================================  =======================  ==================

Blank transcript lines are ignored. Durations come from the file header
(``soundfile.info``); a corrupt body behind a valid header (e.g. a truncated
FLAC) is only noticed with ``validate_audio=True``, which decodes every file
and then uses the decoded length as the duration.

The folder scan is ``librispeech_scan.py``; the atomic writes, the ``prepare_opts.json``
record and :func:`~prepare_io.merge_csvs` are ``prepare_io.py`` (shared with
``recipes/SpeechOcean762/kaldi_prepare.py``).

Command line::

    python recipes/LibriSpeech/librispeech_prepare.py DATA_FOLDER SAVE_FOLDER \\
        --splits train-clean-100 dev-clean test-clean
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its modules beside it, also when loaded by path
from librispeech_scan import Row, collect_split  # noqa: E402
from prepare_io import Summary, atomic_write, format_counts, load_opts, record_opts  # noqa: E402

logger = logging.getLogger(__name__)

CSV_HEADER = ("ID", "duration", "wav", "spk_id", "wrd")


def prepare_librispeech(
    data_folder: Union[str, os.PathLike],
    save_folder: Union[str, os.PathLike],
    splits: Union[str, Sequence[str]] = ("train-clean-100", "dev-clean", "test-clean"),
    skip_prep: bool = False,
    sample_rate: int = 16000,
    select_n_sentences: Optional[Union[int, Sequence[Optional[int]]]] = None,
    *,
    validate_audio: bool = False,
) -> Dict[str, Summary]:
    """Write ``<save_folder>/<split>.csv`` for every split in ``splits``.

    Arguments
    ---------
    data_folder : path
        Folder holding the split folders (e.g. ``.../LibriSpeech``).
    save_folder : path
        Where the CSV files and ``prepare_opts.json`` go (created if needed).
    splits : str or sequence of str
        Split folder names, e.g. ``("dev-clean", "test-clean")``.
    skip_prep : bool
        If True do nothing and return an empty dict.
    sample_rate : int
        Required sample rate of every audio file.
    select_n_sentences : int, sequence or None
        Keep only the first N utterances (by ID) of each split; a sequence
        gives one limit (or None) per split.
    validate_audio : bool
        Fully decode each file to detect corrupt audio behind a valid header.

    Returns
    -------
    dict
        ``{split: {"written": n, "skipped": {reason: count}}}``.
    """
    if skip_prep:
        logger.info("skip_prep is set: LibriSpeech preparation skipped.")
        return {}

    split_list = _normalise_splits(splits)
    limits = _normalise_limits(select_n_sentences, split_list)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")

    data_path = Path(data_folder).expanduser().resolve()
    save_path = Path(save_folder).expanduser().resolve()
    _check_split_folders(data_path, split_list)
    save_path.mkdir(parents=True, exist_ok=True)

    summaries: Dict[str, Summary] = {}
    for split, limit in zip(split_list, limits):
        options = {
            "data_folder": str(data_path),
            "split": split,
            "sample_rate": sample_rate,
            "select_n_sentences": limit,
            "validate_audio": bool(validate_audio),
        }
        csv_path = save_path / f"{split}.csv"
        record = load_opts(save_path).get("splits", {}).get(split)
        if (
            csv_path.is_file()
            and isinstance(record, dict)
            and record.get("options") == options
            and isinstance(record.get("summary"), dict)
        ):
            logger.info("%s already prepared (%s), skipping.", split, csv_path)
            summaries[split] = record["summary"]
            continue

        rows, skipped = collect_split(data_path / split, sample_rate, validate_audio)
        if not rows:
            raise ValueError(
                f"Split {split!r} at {data_path / split} has no usable utterance "
                f"(skipped: {format_counts(skipped) or 'none found'})"
            )
        if limit is not None:
            rows = rows[:limit]
        _write_csv_atomic(csv_path, rows)
        summary: Summary = {"written": len(rows), "skipped": dict(skipped)}
        record_opts(save_path, split, options, summary)
        logger.info(
            "%s: written %d, skipped %d (%s) -> %s",
            split,
            len(rows),
            sum(skipped.values()),
            format_counts(skipped) or "none",
            csv_path,
        )
        summaries[split] = summary
    return summaries


# --------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------


def _normalise_splits(splits: Union[str, Sequence[str]]) -> List[str]:
    if isinstance(splits, str):
        splits = [splits]
    out: List[str] = []
    for split in splits:
        if not isinstance(split, str) or not split or "/" in split or split in (".", ".."):
            raise ValueError(f"Invalid split name {split!r}")
        if split not in out:
            out.append(split)
    if not out:
        raise ValueError("No split requested")
    return out


def _normalise_limits(
    select: Optional[Union[int, Sequence[Optional[int]]]], splits: List[str]
) -> List[Optional[int]]:
    if select is None or isinstance(select, int):
        limits: List[Optional[int]] = [select] * len(splits)
    else:
        limits = list(select)
        if len(limits) != len(splits):
            raise ValueError(
                f"select_n_sentences has {len(limits)} entries for {len(splits)} splits"
            )
    for limit in limits:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"select_n_sentences entries must be ints >= 1 or None, got {limit!r}")
    return limits


def _check_split_folders(data_path: Path, splits: Iterable[str]) -> None:
    """Fail before any work if the data folder or a split folder is missing."""
    if not data_path.is_dir():
        raise FileNotFoundError(f"LibriSpeech data folder not found: {data_path}")
    available = sorted(p.name for p in data_path.iterdir() if p.is_dir())
    for split in splits:
        if not (data_path / split).is_dir():
            raise FileNotFoundError(
                f"Split folder not found: {data_path / split} "
                f"(splits present in {data_path}: {', '.join(available) or 'none'})"
            )


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------


def _write_csv_atomic(csv_path: Path, rows: List[Row]) -> None:
    def write(handle) -> None:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for utt_id, duration, wav, spk, words in rows:
            writer.writerow((utt_id, repr(float(duration)), wav, spk, words))

    atomic_write(csv_path, write)


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(
        description="Write SpeechBrain CSV files (ID,duration,wav,spk_id,wrd) for LibriSpeech splits."
    )
    parser.add_argument("data_folder", help="folder containing the split folders (.../LibriSpeech)")
    parser.add_argument("save_folder", help="output folder for <split>.csv and prepare_opts.json")
    parser.add_argument(
        "--splits",
        nargs="+",
        default=["train-clean-100", "dev-clean", "test-clean"],
        help="split folder names (default: %(default)s)",
    )
    parser.add_argument("--sample-rate", type=int, default=16000, help="required sample rate")
    parser.add_argument(
        "--select-n-sentences", type=int, default=None, help="keep the first N utterances per split"
    )
    parser.add_argument(
        "--validate-audio", action="store_true", help="decode every file to catch corrupt audio"
    )
    parser.add_argument("--skip-prep", action="store_true", help="do nothing")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        summaries = prepare_librispeech(
            args.data_folder,
            args.save_folder,
            splits=args.splits,
            skip_prep=args.skip_prep,
            sample_rate=args.sample_rate,
            select_n_sentences=args.select_n_sentences,
            validate_audio=args.validate_audio,
        )
    except (FileNotFoundError, ValueError) as err:
        logger.error("%s", err)
        return 1
    print(json.dumps(summaries, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
