"""Keyword spotting with the same model: a streaming sherpa-onnx export run by ``sherpa_onnx.KeywordSpotter``.

    tinyconf-kws MODEL_DIR --keywords "HEY COMPUTER,STOP :2 #0.3" [--keywords-file F] [--boost 1.0]
        [--threshold 0.25] [--tokenizer PATH] [--threads 1] [--int8] [--trailing-blanks 1] [--keywords-out F]
        FILE [FILE ...]

(or ``python -m speechbrain_tinyconf.deploy.kws``). ``MODEL_DIR`` is a streaming sherpa-onnx export
(``tinyconf-onnx-export MODEL_OR_RUN OUT --format sherpa-onnx --streaming``). For each detection it prints
``FILE<TAB>TIME<TAB>KEYWORD``, ``TIME`` in seconds from the start of the file (two decimals: sherpa-onnx
times pieces on the 40 ms encoder frames). Audio is read as ``tinyconf-transcribe`` reads it (any rate or
channel count soundfile decodes; resampled to 16 kHz, averaged to mono:
:func:`speechbrain_tinyconf.pretrained.transcribe.read_audio`).

Keywords. An entry is a comma-separated item of ``--keywords`` or a line of ``--keywords-file``: its words,
then optionally ``:BOOST`` and ``#THRESHOLD`` (else ``--boost``, ``--threshold``). Each entry becomes one
line of sherpa-onnx's keywords file, spelled with the model's own sentencepiece model into the pieces
exactly as the export's ``tokens.txt`` writes them::

    ▁ G R E E N :1 #0.25 @GREEN

That is sherpa-onnx's format (``EncodeKeywords`` in ``sherpa-onnx/csrc/utils.cc``): tokens.txt symbols
separated by spaces; ``:`` the boost added to each piece's score in the keyword beam search; ``#`` the
threshold on the mean probability of the keyword's pieces; ``@`` the name the spotter reports, which is
read as one whitespace-free word, so a phrase's spaces are written ``_`` (and put back here). A boost or
threshold of 0 there means "the spotter's default", so both must be > 0 here, and the threshold, a
probability, at most 1. Words are put in the case of the tokenizer's pieces (upper-case ones for the
recipe's upper-case transcripts). An entry that is empty, has bad ``:``/``#`` syntax, needs a piece the
tokenizer does not have (sentencepiece's ``<unk>``, e.g. a letter never seen in training) or one missing from
``tokens.txt``, or spells the same pieces as an earlier entry, is refused before the spotter is built, in
one line naming it (sherpa-onnx itself would exit the process on an unknown token).

Tokenizer. Sherpa-onnx exports write the sentencepiece model as ``tokenizer.model``, listed (size, sha256)
in ``onnx_config.json`` like the graphs, and it is read from there; an export made before that has none:
``--tokenizer PATH`` gives it (any tokenizer is checked piece by piece against ``tokens.txt``).

Timing. Sherpa-onnx's result times each piece (its encoder frame x 40 ms from the start of the stream);
``TIME`` is the first piece's. One stream runs through each file, with no ``reset_stream`` after a detection:
sherpa-onnx's keyword search starts again from the root of its keyword graph by itself after a match and
``get_result`` reports each match once, while ``reset_stream`` would zero the encoder's caches in mid-stream
(with ``processed_frames`` still counting), a state this model's streaming encoder never saw in training.
The file is fed in one-second blocks and followed by one chunk + 0.3 s of zeros, so that its last frames
fall in a complete chunk (sherpa-onnx decodes complete chunks only); a detection that starts in those zeros
is not reported (the tone-corpus test model spotted words in digital silence there).

Exit status: 2 when the folder, a keyword or an option is unusable (one line on stderr, nothing on stdout),
1 when a file could not be read (one line each; the other files are still searched), else 0.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

PathLike = Union[str, Path]
SAMPLE_RATE = 16000
DEFAULT_BOOST = 1.0  # sherpa-onnx's keywords_score default
DEFAULT_THRESHOLD = 0.25  # sherpa-onnx's keywords_threshold default
FRAME_S = 0.04  # sherpa-onnx's piece times: encoder frames of 4 x 10 ms
TAIL_S = 0.3  # zeros after a file, beyond one chunk (as the streaming tests and bench/sherpa_onnx_wer.py)
BLOCK_S = 1.0  # audio fed to the stream at a time


class KwsError(ValueError):
    """A user error, in one line naming the folder, keyword entry, option or file at fault."""


@dataclass(frozen=True)
class Keyword:
    """One keyword: its text (as given), the pieces that spell it, its boost and threshold."""

    text: str
    pieces: Tuple[str, ...]
    boost: float = DEFAULT_BOOST
    threshold: float = DEFAULT_THRESHOLD

    @property
    def label(self) -> str:
        """The ``@`` name in the keywords file: sherpa-onnx reads one whitespace-free word."""
        return "_".join(self.text.split())

    def line(self) -> str:
        """This keyword's line of sherpa-onnx's keywords file."""
        return f"{' '.join(self.pieces)} :{self.boost:g} #{self.threshold:g} @{self.label}"


@dataclass(frozen=True)
class Detection:
    """A keyword found: ``start``/``end`` are the times (s) of its first and last pieces."""

    keyword: str
    start: float
    end: float


def keywords_file_text(keywords: Sequence[Keyword]) -> str:
    """sherpa-onnx's keywords file for ``keywords``, one line each."""
    return "".join(k.line() + "\n" for k in keywords)


# ---------------------------------------------------------------------------
# Keyword entries


def positive_boost(text: str, what: str) -> float:
    """A boost: a finite number > 0 (0 would mean "the default" to sherpa-onnx)."""
    value = _number(text, what)
    if not value > 0:
        raise KwsError(f"{what}: boost {text!r} must be > 0")
    return value


def probability(text: str, what: str) -> float:
    """A threshold: a probability in (0, 1] (0 would mean "the default" to sherpa-onnx)."""
    value = _number(text, what)
    if not 0 < value <= 1:
        raise KwsError(f"{what}: threshold {text!r} must be in (0, 1] (a probability)")
    return value


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise KwsError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise KwsError(f"{what}: {text!r} is not a finite number")
    return value


def parse_entry(entry: str, where: str, boost: float = DEFAULT_BOOST,
                threshold: float = DEFAULT_THRESHOLD) -> Tuple[str, float, float]:
    """``"WORDS [:BOOST] [#THRESHOLD]"`` -> (words joined by single spaces, boost, threshold).

    ``where`` names the entry in errors (``--keywords entry 2``, ``line 3 of kw.txt``).

    Example
    -------
    >>> parse_entry("hey  computer :2 #0.3", "entry 1")
    ('hey computer', 2.0, 0.3)
    >>> parse_entry("  ", "--keywords entry 2")
    Traceback (most recent call last):
    ...
    speechbrain_tinyconf.deploy.kws.KwsError: --keywords entry 2 is empty
    """
    words: List[str] = []
    seen = set()
    for item in entry.split():
        kind = item[0]
        if kind in ":#":
            if len(item) == 1:
                raise KwsError(f"{where} {entry.strip()!r}: {kind!r} needs a number right after it")
            if kind in seen:
                raise KwsError(f"{where} {entry.strip()!r}: two {kind!r} values")
            seen.add(kind)
            name = f"{where} {entry.strip()!r}"
            if kind == ":":
                boost = positive_boost(item[1:], name)
            else:
                threshold = probability(item[1:], name)
        elif kind == "@":
            raise KwsError(f"{where} {entry.strip()!r}: {item!r}: the '@' name is made from the words here")
        elif seen:
            raise KwsError(f"{where} {entry.strip()!r}: the word {item!r} comes after ':'/'#' (they end the entry)")
        else:
            words.append(item)
    if not words:
        raise KwsError(f"{where} is empty" if not entry.strip() else f"{where} {entry.strip()!r} has no words")
    return " ".join(words), boost, threshold


def keyword_entries(keywords: Sequence[str] = (), keyword_files: Sequence[PathLike] = ()) -> List[Tuple[str, str]]:
    """(where, entry) of every entry: the comma-separated items of each ``--keywords`` value, then the lines
    of each keywords file (an empty item or line is an entry too, refused by :func:`parse_entry`)."""
    entries: List[Tuple[str, str]] = []
    number = 0
    for value in keywords:
        for item in value.split(","):
            number += 1
            entries.append((f"--keywords entry {number}", item))
    for name in keyword_files:
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise KwsError(f"--keywords-file {path}: cannot read it ({type(err).__name__}: {err})") from None
        lines = text.splitlines()
        if not lines:
            raise KwsError(f"--keywords-file {path} is empty")
        entries += [(f"line {i} of {path}", line) for i, line in enumerate(lines, 1)]
    return entries


# ---------------------------------------------------------------------------
# Spelling with the model's tokenizer


def read_tokens_txt(path: PathLike) -> Dict[int, str]:
    """``{id: symbol}`` of a sherpa-onnx ``tokens.txt`` (``symbol id`` lines)."""
    table = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("-").isdigit():
            table[int(fields[1])] = fields[0]
    return table


class Speller:
    """Keywords -> the pieces of the model's sentencepiece model, as its ``tokens.txt`` writes them.

    The tokenizer must be the one ``tokens.txt`` was written from: the same number of pieces, and piece
    ``i`` written as symbol ``i`` for every ``i`` > 0 (id 0, sentencepiece's ``<unk>``, is the blank ``<blk>``).
    """

    def __init__(self, tokenizer: PathLike, tokens_txt: PathLike):
        import sentencepiece

        self.path = Path(tokenizer)
        if not self.path.is_file():
            raise KwsError(f"{self.path}: tokenizer not found")
        try:
            self.sp = sentencepiece.SentencePieceProcessor(model_file=str(self.path))
        except (RuntimeError, OSError) as err:
            raise KwsError(f"{self.path}: not a sentencepiece model ({str(err).splitlines()[0]})") from None
        self.symbols = read_tokens_txt(tokens_txt)
        size = self.sp.get_piece_size()
        if len(self.symbols) != size:
            raise KwsError(f"{self.path} has {size} pieces, {tokens_txt} {len(self.symbols)}: not this model's "
                           "tokenizer")
        for i in range(1, size):
            if self.symbols.get(i) != self.sp.id_to_piece(i):
                raise KwsError(f"{self.path}: piece {i} is {self.sp.id_to_piece(i)!r}, {tokens_txt} writes "
                               f"{self.symbols.get(i)!r}: not this model's tokenizer")
        self.known = set(self.symbols.values())
        letters = "".join(self.sp.id_to_piece(i) for i in range(size)
                          if not (self.sp.is_unknown(i) or self.sp.is_control(i)))
        upper, lower = any(c.isupper() for c in letters), any(c.islower() for c in letters)
        self.case = "upper" if upper and not lower else "lower" if lower and not upper else None

    def normalise(self, text: str) -> str:
        """``text`` in the case of the tokenizer's pieces (unchanged when they have both cases or none)."""
        return text.upper() if self.case == "upper" else text.lower() if self.case == "lower" else text

    def pieces(self, text: str, where: str) -> Tuple[str, ...]:
        """The pieces of ``text``; :class:`KwsError` naming ``where`` if one is unknown or not in tokens.txt."""
        pieces = self.sp.encode(self.normalise(text), out_type=str)
        unknown = [p.replace("\u2581", "") for p in pieces if self.sp.piece_to_id(p) == self.sp.unk_id()]
        if unknown:
            shown = ", ".join(repr(u) for u in dict.fromkeys(unknown) if u) or "a piece"
            raise KwsError(f"{where} {text!r}: the model's tokenizer cannot spell {shown} (no piece for it)")
        missing = [p for p in pieces if p not in self.known]
        if missing:
            raise KwsError(f"{where} {text!r}: piece(s) {', '.join(map(repr, missing))} not in tokens.txt")
        if not pieces:
            raise KwsError(f"{where} {text!r}: spells no piece")
        return tuple(pieces)

    def keywords(self, entries: Sequence[Union[str, Tuple[str, str]]], boost: float = DEFAULT_BOOST,
                 threshold: float = DEFAULT_THRESHOLD) -> List[Keyword]:
        """:class:`Keyword` of each entry (a string, or ``(where, entry)`` from :func:`keyword_entries`)."""
        result: List[Keyword] = []
        by_pieces: Dict[Tuple[str, ...], str] = {}
        by_label: Dict[str, str] = {}
        for number, item in enumerate(entries, 1):
            where, entry = item if isinstance(item, tuple) else (f"keyword {number}", item)
            text, b, t = parse_entry(entry, where, boost, threshold)
            keyword = Keyword(text, self.pieces(text, where), b, t)
            for seen, key, what in ((by_pieces, keyword.pieces, "spells the same pieces as"),
                                    (by_label, keyword.label, "has the same name as")):
                if key in seen:
                    raise KwsError(f"{where} {text!r} {what} {seen[key]!r}")
                seen[key] = text
            result.append(keyword)
        if not result:
            raise KwsError("no keywords: give --keywords or --keywords-file")
        return result


# ---------------------------------------------------------------------------
# The export and the spotter


def streaming_export(model_dir: PathLike, precision: str = "fp32") -> Tuple[dict, List[str]]:
    """``(onnx_config, [encoder, decoder, joiner, tokens])`` of a streaming sherpa-onnx export (the files its
    config lists, checked), else :class:`KwsError`."""
    from .onnx_runtime import read_config
    from .sherpa import sherpa_files

    folder = Path(model_dir)
    if not folder.exists():
        raise KwsError(f"{folder}: model folder not found")
    if not folder.is_dir():
        raise KwsError(f"{folder}: not a folder (a streaming sherpa-onnx export is)")
    try:
        config = read_config(folder, "sherpa-onnx")
        if not config.get("streaming"):
            raise KwsError(f"{folder} is an offline sherpa-onnx export: keyword spotting needs a streaming one "
                           "(tinyconf-onnx-export MODEL_OR_RUN OUT --format sherpa-onnx --streaming)")
        return config, sherpa_files(folder, precision)
    except (FileNotFoundError, ValueError) as err:
        raise KwsError(str(err)) from None


def export_tokenizer(model_dir: PathLike, config: dict) -> Path:
    """The export's ``tokenizer.model`` (checked against ``onnx_config.json``), else :class:`KwsError`."""
    from .onnx_runtime import listed_file

    if "tokenizer" not in config["files"]:
        raise KwsError(f"{model_dir} has no tokenizer.model (an export made before tinyconf-kws): pass --tokenizer "
                       "PATH, the sentencepiece model of the model it was exported from, or export it again")
    try:
        return listed_file(model_dir, config, "tokenizer")
    except (FileNotFoundError, ValueError) as err:
        raise KwsError(str(err)) from None


class KeywordSpotter:
    """``sherpa_onnx.KeywordSpotter`` on a streaming export, with keywords spelled by the model's tokenizer.

    Example (not run here: it needs an export)::

        kws = KeywordSpotter("sherpa_streaming/", ["HEY COMPUTER", "STOP :2 #0.3"])
        for d in kws.detect_file("meeting.opus"):
            print(d.start, d.keyword)

    Arguments
    ---------
    model_dir : str or Path
        A streaming sherpa-onnx export (``tinyconf-onnx-export ... --format sherpa-onnx --streaming``).
    keywords : sequence
        Entries (``"WORDS [:BOOST] [#THRESHOLD]"``, or ``(where, entry)`` pairs that name them in errors).
    tokenizer : str or Path, optional
        The sentencepiece model; by default the export's ``tokenizer.model``.
    boost, threshold : float
        For entries without ``:``/``#`` (sherpa-onnx's defaults: 1.0, 0.25).
    threads : int
        onnxruntime threads.
    int8 : bool
        The ``*.int8.onnx`` graphs (export with ``--int8``).
    max_active_paths, trailing_blanks : int
        sherpa-onnx's keyword beam size and the blank frames a keyword must be followed by (its defaults).
    """

    def __init__(self, model_dir: PathLike, keywords: Sequence[Union[str, Tuple[str, str]]],
                 tokenizer: Optional[PathLike] = None, boost: float = DEFAULT_BOOST,
                 threshold: float = DEFAULT_THRESHOLD, threads: int = 1, int8: bool = False,
                 max_active_paths: int = 4, trailing_blanks: int = 1):
        self.dir = Path(model_dir)
        boost = positive_boost(str(boost), "--boost")
        threshold = probability(str(threshold), "--threshold")
        if int(threads) < 1:
            raise KwsError(f"--threads={threads}: must be >= 1")
        if int(trailing_blanks) < 0:
            raise KwsError(f"--trailing-blanks={trailing_blanks}: must be >= 0")
        self.config, files = streaming_export(self.dir, "int8" if int8 else "fp32")
        speller = Speller(tokenizer if tokenizer is not None else export_tokenizer(self.dir, self.config), files[3])
        self.keywords = speller.keywords(keywords, boost, threshold)
        self.names = {k.label: k.text for k in self.keywords}
        self.chunk_s = int(self.config.get("chunk_frames", 8)) * FRAME_S
        try:
            import sherpa_onnx
        except ImportError as err:
            raise KwsError(f"keyword spotting needs sherpa-onnx ({err}): pip install -e \".[sherpa]\"") from None
        encoder, decoder, joiner, tokens = files
        with tempfile.TemporaryDirectory(prefix="tinyconf_kws_") as tmp:  # read once, by the constructor
            path = Path(tmp) / "keywords.txt"
            path.write_text(keywords_file_text(self.keywords), encoding="utf-8")
            self.spotter = sherpa_onnx.KeywordSpotter(
                tokens=tokens, encoder=encoder, decoder=decoder, joiner=joiner, keywords_file=str(path),
                num_threads=int(threads), sample_rate=SAMPLE_RATE, feature_dim=80, max_active_paths=max_active_paths,
                keywords_score=boost, keywords_threshold=threshold, num_trailing_blanks=trailing_blanks)

    def detect(self, wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Iterator[Detection]:
        """The detections in a mono waveform, in order, as the stream reaches them."""
        wav = np.asarray(wav, dtype=np.float32).reshape(-1)
        seconds = wav.shape[0] / sample_rate
        stream = self.spotter.create_stream()
        step = max(1, int(BLOCK_S * sample_rate))
        blocks = [wav[i: i + step] for i in range(0, wav.shape[0], step)]
        blocks.append(np.zeros(int(round((self.chunk_s + TAIL_S) * sample_rate)), dtype=np.float32))
        decoded = 0
        for i, block in enumerate(blocks):
            stream.accept_waveform(sample_rate, block)
            if i == len(blocks) - 1:
                stream.input_finished()
            while self.spotter.is_ready(stream):
                self.spotter.decode_stream(stream)
                decoded += 1
                # The binding's result, read once: KeywordSpotter.get_result/tokens/timestamps each read it anew,
                # and sherpa-onnx reports a match once.
                result = self.spotter.keyword_spotter.get_result(stream)
                if result.keyword.strip():
                    found = self._detection(result, decoded)
                    if found.start < seconds:  # else it is in the zeros after the file, not in the file
                        yield found

    def _detection(self, result, decoded: int) -> Detection:
        label = result.keyword.strip()
        times = list(result.timestamps)
        if times:
            start, end = float(times[0]), float(times[-1])
        else:  # no piece times: the audio consumed so far
            start = end = decoded * self.chunk_s
        return Detection(self.names.get(label, label.replace("_", " ")), start, end)

    def detect_file(self, path: PathLike, warn: Optional[Callable[[str], None]] = None) -> List[Detection]:
        """The detections in an audio file, read as ``tinyconf-transcribe`` reads it
        (:class:`~speechbrain_tinyconf.pretrained.transcribe.AudioFileError` if it cannot be)."""
        from ..pretrained.transcribe import read_audio

        wav = read_audio(path, warn=warn)
        return list(self.detect(wav.detach().cpu().numpy()))


# ---------------------------------------------------------------------------
# Command line


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="tinyconf-kws", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="a streaming sherpa-onnx export (tinyconf-onnx-export ... --format "
                                          "sherpa-onnx --streaming)")
    parser.add_argument("audio", nargs="*", help="audio files (any rate or channel count soundfile reads)")
    parser.add_argument("--keywords", action="append", default=[],
                        help='comma-separated entries "WORDS [:BOOST] [#THRESHOLD]" (repeatable)')
    parser.add_argument("--keywords-file", action="append", default=[],
                        help="a file of entries, one a line (repeatable)")
    parser.add_argument("--boost", default=str(DEFAULT_BOOST),
                        help=f"boost of entries without ':' (> 0; default {DEFAULT_BOOST:g}, sherpa-onnx's)")
    parser.add_argument("--threshold", default=str(DEFAULT_THRESHOLD),
                        help=f"threshold of entries without '#' (in (0, 1]; default {DEFAULT_THRESHOLD:g}, "
                             "sherpa-onnx's)")
    parser.add_argument("--tokenizer", help="the model's sentencepiece model (default: MODEL_DIR's tokenizer.model)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    parser.add_argument("--int8", action="store_true", help="the int8 graphs (an export with --int8)")
    parser.add_argument("--trailing-blanks", type=int, default=1,
                        help="a keyword is reported once more than N blank frames follow its last piece (default 1, "
                             "sherpa-onnx's; a larger N loses keywords that speech follows at once)")
    parser.add_argument("--keywords-out", help="also write the sherpa-onnx keywords file made from the entries here")
    args = parser.parse_intermixed_args(argv)  # files before or after the options

    def fail(message: str, status: int = 2) -> int:
        print(f"error: {message}", file=sys.stderr, flush=True)
        return status

    if not args.keywords and not args.keywords_file:
        return fail("no keywords: give --keywords or --keywords-file")
    if not args.audio and not args.keywords_out:
        return fail("no audio files (and no --keywords-out)")
    try:
        boost = positive_boost(args.boost, "--boost")
        threshold = probability(args.threshold, "--threshold")
        entries = keyword_entries(args.keywords, args.keywords_file)
        for where, entry in entries:  # the syntax first: nothing is loaded for a typo
            parse_entry(entry, where, boost, threshold)
        kws = KeywordSpotter(args.model_dir, entries, tokenizer=args.tokenizer, boost=boost, threshold=threshold,
                             threads=args.threads, int8=args.int8, trailing_blanks=args.trailing_blanks)
    except KwsError as err:
        return fail(str(err))
    if args.keywords_out:
        try:
            Path(args.keywords_out).write_text(keywords_file_text(kws.keywords), encoding="utf-8")
        except OSError as err:  # --keywords-out not writable
            return fail(f"--keywords-out {args.keywords_out}: {err.strerror or err}")

    from ..pretrained.transcribe import AudioFileError

    failed = 0
    for path in args.audio:
        try:
            found = kws.detect_file(path, warn=lambda m: print(f"warning: {m}", file=sys.stderr, flush=True))
        except AudioFileError as err:
            failed = fail(str(err), 1)
            continue
        for d in found:
            print(f"{path}\t{d.start:.2f}\t{d.keyword}", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
