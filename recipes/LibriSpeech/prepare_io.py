"""How data preparation writes its files: atomically, with a record of the options each split was made with.

Every file is written to a temporary file beside it and moved into place (:func:`atomic_write`),
so an interrupted run leaves the old file or the new one, never a truncated one.
``prepare_opts.json`` records, per split, the options its CSV was built with and its summary
(:func:`load_opts`, :func:`record_opts`): a split prepared with the same options is not
prepared again. :func:`merge_csvs` joins prepared CSVs (the training set of several splits).
Shared by ``librispeech_prepare.py`` and ``recipes/SpeechOcean762/kaldi_prepare.py``.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import csv
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable, Dict, IO, Sequence, Union

logger = logging.getLogger(__name__)

OPTS_FILE = "prepare_opts.json"
OPTS_VERSION = 1

Summary = Dict[str, Union[int, Dict[str, int]]]


def atomic_write(path: Path, write: Callable[[IO[str]], None]) -> None:
    """Call ``write(fileobj)`` on a temp file next to ``path``, then replace it."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp_name, 0o666 & ~_current_umask())  # mkstemp creates 0600 files
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def merge_csvs(sources: Sequence[Union[str, Path]], target: Union[str, Path]) -> None:
    """Writes the rows of several prepared CSVs (same header) to ``target``, atomically.

    The recipe trains on e.g. ``train-clean-100 + train-clean-360 + train-other-500``.
    """
    header, rows, owner = None, [], {}
    for source in sources:
        with open(source, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            this_header = next(reader, None)
            if header is not None and this_header != header:
                raise ValueError(f"{source}: header {this_header} differs from {header} of {sources[0]}")
            header = this_header
            for row in reader:
                if row and row[0] in owner:  # SpeechBrain keys examples by ID: one would shadow the other
                    raise ValueError(f"utterance id {row[0]} is in both {owner[row[0]]} and {source}: "
                                     f"the splits merged into {target} must not share ids")
                if row:
                    owner[row[0]] = source
                rows.append(row)
    if header is None:
        raise ValueError("merge_csvs: no source CSV given")

    def write(handle) -> None:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)

    atomic_write(Path(target), write)


def load_opts(save_path: Path) -> dict:
    """``save_path``'s ``prepare_opts.json`` (empty if missing, unreadable or of another version)."""
    opts_path = save_path / OPTS_FILE
    if not opts_path.is_file():
        return {}
    try:
        data = json.loads(opts_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        logger.warning("Ignoring unreadable %s (%s); splits will be rebuilt", opts_path, err)
        return {}
    if not isinstance(data, dict) or data.get("version") != OPTS_VERSION:
        return {}
    return data


def record_opts(save_path: Path, split: str, options: dict, summary: Summary) -> None:
    """Records ``split``'s options and summary in ``prepare_opts.json`` (after its CSV is written)."""
    data = load_opts(save_path)
    split_records = data.get("splits") if isinstance(data.get("splits"), dict) else {}
    split_records[split] = {"options": options, "summary": summary}
    data = {"version": OPTS_VERSION, "splits": split_records}

    def write(handle) -> None:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")

    atomic_write(save_path / OPTS_FILE, write)


def format_counts(counts: Dict[str, int]) -> str:
    """``reason=n, ...`` for the non-zero skip counts, sorted by reason."""
    return ", ".join(f"{reason}={n}" for reason, n in sorted(counts.items()) if n)
