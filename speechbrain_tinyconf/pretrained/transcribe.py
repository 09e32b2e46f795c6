"""Transcribe audio files with an exported model folder (see :mod:`speechbrain_tinyconf.pretrained.export`).

    tinyconf-transcribe MODEL_DIR AUDIO [AUDIO ...] [--streaming --chunk-ms 640] [--depth K]

(or ``python -m speechbrain_tinyconf.pretrained.transcribe``). The folder is opened and checked by
:mod:`speechbrain_tinyconf.pretrained.model_folder` (:func:`load_model_or_explain`).

Prints one ``<path>\\t<text>`` line per file. A file that cannot be read is
reported on stderr and skipped; the exit status is 1 if any file failed, 2 if
the model folder is unusable (or ``--depth`` does not fit it). ``--depth K`` runs K of the encoder's
virtual layers (elastic depth, :mod:`speechbrain_tinyconf.lobes.depth`). Files longer than :data:`MAX_FULL_CONTEXT_S`
seconds are decoded chunk by chunk (said on stderr): full-context attention
needs memory that grows with the square of the length (13 GB for 10 minutes). Audio is loaded and converted (resampled,
averaged to mono) exactly as SpeechBrain's ``Pretrained.load_audio`` does,
without its URL/Hub fetching. Runs offline.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Union

import torch

from ..deploy.onnx_runtime import MAX_FULL_CONTEXT_S, full_context_message
from ..lobes.depth import set_depth
# The folder is the model_folder module's: these names are public here too (they lived here before it).
from .model_folder import (  # noqa: F401
    MODEL_FILES, ModelFolderError, check_model_dir, load_model, load_model_or_explain, model_folder_problem,
    validate_model_folder,
)

PathLike = Union[str, Path]
# MAX_FULL_CONTEXT_S (onnx_runtime): the longest input decoded with full-context attention; longer
# files are streamed (CLI) or refused (EncoderDecoderASR, through FullContextLimit in the exported
# hyperparams.yaml, and OrtTransducer.transcribe).
DEFAULT_CHUNK_MS, DEFAULT_LEFT_CHUNKS = 640.0, 4


class AudioFileError(ValueError):
    """An audio file is missing, unsupported or corrupt."""


def spm_decode_streaming(tokenizer, hyps: List[int], context) -> str:
    """Decodes one hypothesis chunk, keeping the word-initial space mid-utterance.

    Same contract as SpeechBrain's ``spm_decode_preserve_leading_space`` (which
    asks sentencepiece for ``immutable_proto`` output, removed in sentencepiece
    0.2.1): ``context`` is a ``SentencePieceDecoderStreamingContext``.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> class Toy:  # a 2-piece "tokenizer"
    ...     pieces = ["\\u2581how", "\\u2581are"]
    ...     def id_to_piece(self, i): return self.pieces[i]
    ...     def decode_ids(self, ids): return " ".join(self.pieces[i][1:] for i in ids)
    >>> ctx = SimpleNamespace(emitted_symbol_count=0)
    >>> spm_decode_streaming(Toy(), [0], ctx) + spm_decode_streaming(Toy(), [], ctx) + spm_decode_streaming(Toy(), [1], ctx)
    'how are'
    """
    if not hyps:
        return ""
    text = tokenizer.decode_ids(list(hyps))
    if context.emitted_symbol_count > 0 and tokenizer.id_to_piece(int(hyps[0])).startswith("\u2581"):
        text = " " + text
    context.emitted_symbol_count += len(hyps)
    return text


class FullContextLimit(torch.nn.Module):
    """First module of the exported ``encoder``: refuses waveforms too long for full-context attention.

    ``EncoderDecoderASR`` attends over the whole input at once, so memory grows with the
    square of its length (a 2-hour file asks for hundreds of GB). Above ``max_seconds`` it
    raises a ``ValueError`` that names the streaming alternatives instead.

    Example
    -------
    >>> guard = FullContextLimit(max_seconds=1.0, sample_rate=16000)
    >>> guard(torch.zeros(1, 16000)).shape
    torch.Size([1, 16000])
    >>> guard(torch.zeros(1, 16001))
    Traceback (most recent call last):
    ...
    ValueError: input of 1.0 s is longer than the full-context limit of 1 s (attention memory grows with the square of the length): decode it chunk by chunk (StreamingASR, OrtTransducer.transcribe_streaming, or tinyconf-transcribe, which streams long files; --streaming forces it)
    """

    def __init__(self, max_seconds: float = MAX_FULL_CONTEXT_S, sample_rate: int = 16000):
        super().__init__()
        self.max_seconds, self.sample_rate = float(max_seconds), int(sample_rate)

    def forward(self, wavs: torch.Tensor) -> torch.Tensor:
        seconds = wavs.shape[-1] / self.sample_rate
        if seconds > self.max_seconds:
            raise ValueError(full_context_message(seconds, self.max_seconds))
        return wavs

    def extra_repr(self) -> str:
        return f"max_seconds={self.max_seconds:g}, sample_rate={self.sample_rate}"


broken_model_file = model_folder_problem  # the name this had here before model_folder.py


def load_audio(asr, path: PathLike, warn: Optional[Callable[[str], None]] = None) -> torch.Tensor:
    """Mono waveform at the model's rate, as ``asr.load_audio`` gives for a local file.

    Raises :class:`AudioFileError` for a missing, unsupported, corrupt or empty file. Samples
    outside [-1, 1] (a float file at another scale) are decoded, with a warning naming the file
    (``warn(message)``, by default ``warnings.warn``).
    """
    wav = read_audio(path, asr.audio_normalizer, warn, device=asr.device)
    minimum = min_samples(asr)
    if wav.numel() < minimum:
        raise AudioFileError(
            f"{path}: too short ({wav.numel()} samples at {asr.audio_normalizer.sample_rate} Hz; "
            f"at least {minimum}, one encoder frame, are needed)"
        )
    return wav


def read_audio(path: PathLike, normalizer=None, warn: Optional[Callable[[str], None]] = None,
               device: Union[str, torch.device] = "cpu") -> torch.Tensor:
    """Mono waveform ``(samples,)`` of a local audio file, converted as ``Pretrained.load_audio`` converts it.

    ``normalizer`` is SpeechBrain's ``AudioNormalizer`` (resampling to its rate, channels averaged to
    mono); by default one at 16 kHz. The checks and the warning are :func:`load_audio`'s (which adds
    the model's minimum length); ``tinyconf-kws`` reads its files with this too.
    """
    from speechbrain.dataio import audio_io

    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: file not found")
    if not path.is_file():
        raise AudioFileError(f"{path}: not a file")
    try:
        signal, rate = audio_io.load(str(path), channels_first=False)
    except Exception as err:  # soundfile raises LibsndfileError/RuntimeError/TypeError
        raise AudioFileError(f"{path}: cannot decode audio (unsupported format or corrupt file): {err}") from err
    if signal.numel() == 0:
        raise AudioFileError(f"{path}: contains no audio samples")
    if not torch.isfinite(signal).all():
        bad = int((~torch.isfinite(signal)).sum())
        raise AudioFileError(f"{path}: {bad} sample(s) are NaN or infinite (corrupt file)")
    peak = float(signal.abs().max())
    if peak > 1.0:
        (warn or warnings.warn)(f"{path}: samples reach {peak:.3g}, outside [-1, 1] (a float file at another scale?): "
                                "the transcription is likely wrong")
    if normalizer is None:
        from speechbrain.dataio.preprocess import AudioNormalizer

        normalizer = AudioNormalizer(sample_rate=16000, mix="avg-to-mono")
    return normalizer(signal.to(device), rate)


def min_samples(asr) -> int:
    """Shortest input the front-end accepts: one encoder frame (640 samples for 40 ms at 16 kHz)."""
    return int(asr.hparams.fea_streaming_extractor.properties.stride)


def transcribe_waveform(asr, wav: torch.Tensor) -> str:
    """Full-context transcription of one mono waveform with ``EncoderDecoderASR``."""
    words, _ = asr.transcribe_batch(wav.unsqueeze(0), torch.tensor([1.0]))
    return words[0]


def transcribe_streaming(asr, wav: torch.Tensor, config) -> Iterator[str]:
    """Yields text chunk by chunk with ``StreamingASR`` (what ``transcribe_file_streaming`` does).

    ``config`` is a ``DynChunkTrainConfig`` (chunk size and left context in encoder frames).
    """
    from ..deploy.onnx_runtime import stream_chunks

    chunk_size = asr.get_chunk_size_frames(config)  # in samples
    context = asr.make_streaming_context(config)
    pad = asr.hparams.fea_streaming_extractor.get_required_padding()
    for chunk in stream_chunks(wav.detach().cpu().numpy(), chunk_size, pad, pad_last=False):
        yield asr.transcribe_chunk(context, torch.from_numpy(chunk)[None].to(asr.device), torch.tensor([1.0]))[0]


def seconds(asr, wav: torch.Tensor) -> float:
    """Duration of a waveform at the model's rate."""
    return wav.shape[-1] / asr.audio_normalizer.sample_rate


def frame_ms(asr) -> float:
    """Duration of one encoder frame in milliseconds (40 for 10 ms hops and 4x subsampling)."""
    return 1000.0 * asr.filter_props.stride / asr.audio_normalizer.sample_rate


def positive_ms(text: str) -> float:
    """argparse type of ``--chunk-ms``: a finite number of milliseconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of milliseconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number of milliseconds > 0")
    return value


def integer_at_least(text: str, minimum: int, meaning: str = "") -> int:
    """``text`` as an integer >= ``minimum``, else an ``argparse.ArgumentTypeError`` (``meaning`` says why)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value}: must be >= {minimum}{meaning}")
    return value


def positive_int(text: str) -> int:
    """argparse type of ``--depth``: an integer >= 1."""
    return integer_at_least(text, 1)


def left_chunks(text: str) -> int:
    """argparse type of ``--left-chunks``: an integer >= 0 (0 = no left context)."""
    return integer_at_least(text, 0, " (chunks of left context kept by attention)")


def streaming_config(asr, chunk_ms: float, left: int):
    """``DynChunkTrainConfig`` for a chunk length in ms (at least one encoder frame) and ``left`` chunks."""
    from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

    return DynChunkTrainConfig(max(1, round(chunk_ms / frame_ms(asr))), left)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="tinyconf-transcribe", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="folder written by tinyconf-export")
    parser.add_argument("audio", nargs="+", help="audio files (any rate or channel count soundfile reads)")
    parser.add_argument("--streaming", action="store_true", help="decode chunk by chunk with StreamingASR")
    parser.add_argument("--chunk-ms", type=positive_ms, default=DEFAULT_CHUNK_MS,
                        help=f"streaming chunk length in ms (default {DEFAULT_CHUNK_MS:g})")
    parser.add_argument("--left-chunks", type=left_chunks, default=DEFAULT_LEFT_CHUNKS,
                        help=f"streaming attention left context in chunks (default {DEFAULT_LEFT_CHUNKS}; 0 = none)")
    parser.add_argument("--depth", type=positive_int, default=None,
                        help="encoder depth: virtual layers run (default all; repeated-block models only)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    models = {}

    def model(streaming: bool):
        if streaming not in models:
            models[streaming] = load_model_or_explain(args.model_dir, streaming=streaming, device=args.device)
            if args.depth is not None:
                try:
                    set_depth(models[streaming], args.depth)
                except ValueError as err:
                    raise ModelFolderError(f"--depth {args.depth}: {err}") from None
        return models[streaming]

    try:
        model(args.streaming)
    except ModelFolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    failed = 0
    for path in args.audio:
        try:
            asr = model(args.streaming)
            wav = load_audio(asr, path, warn=lambda message: print(f"warning: {message}", file=sys.stderr, flush=True))
            streaming = args.streaming or seconds(asr, wav) > MAX_FULL_CONTEXT_S
            if streaming and not args.streaming:
                print(f"note: {path}: {seconds(asr, wav):.1f} s is longer than the full-context limit of "
                      f"{MAX_FULL_CONTEXT_S:g} s: decoding it chunk by chunk (--chunk-ms {args.chunk_ms:g} "
                      f"--left-chunks {args.left_chunks})", file=sys.stderr, flush=True)
            if streaming:
                asr = model(True)
                config = streaming_config(asr, args.chunk_ms, args.left_chunks)
                text = "".join(transcribe_streaming(asr, wav, config))
            else:
                text = transcribe_waveform(asr, wav)
        except ModelFolderError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except AudioFileError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        except Exception as err:  # e.g. audio too short for the front-end
            print(f"error: {path}: transcription failed: {type(err).__name__}: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}\t{text}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
