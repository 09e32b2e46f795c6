"""Transcribe audio files with an exported model folder (see :mod:`speechbrain_tinyconf.export`).

    python -m speechbrain_tinyconf.transcribe MODEL_DIR AUDIO [AUDIO ...] [--streaming --chunk-ms 640]

Prints one ``<path>\\t<text>`` line per file. A file that cannot be read is
reported on stderr and skipped; the exit status is 1 if any file failed, 2 if
the model folder is unusable. Audio is loaded and converted (resampled,
averaged to mono) exactly as SpeechBrain's ``Pretrained.load_audio`` does,
without its URL/Hub fetching. Runs offline.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Union

import torch

PathLike = Union[str, Path]
REQUIRED_FILES = ("hyperparams.yaml", "model.ckpt", "normalizer.ckpt", "tokenizer.ckpt")


class ModelFolderError(ValueError):
    """The folder is not a usable exported model."""


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


def check_model_dir(model_dir: PathLike) -> Path:
    """Raises :class:`ModelFolderError` naming what is missing from ``model_dir``."""
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ModelFolderError(f"model folder not found: {model_dir}")
    if not model_dir.is_dir():
        raise ModelFolderError(f"not a folder: {model_dir}")
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelFolderError(
            f"{', '.join(missing)} not found in {model_dir} "
            "(not a model folder written by python -m speechbrain_tinyconf.export)"
        )
    return model_dir


def load_model(model_dir: PathLike, streaming: bool = False, device: str = "cpu", savedir: Optional[PathLike] = None):
    """``EncoderDecoderASR`` (or ``StreamingASR``) from a local model folder, offline.

    Without ``savedir`` the files are used in place (no links, nothing written).
    """
    from speechbrain.inference.ASR import EncoderDecoderASR, StreamingASR
    from speechbrain.utils.fetching import FetchConfig

    model_dir = check_model_dir(model_dir).resolve()
    cls = StreamingASR if streaming else EncoderDecoderASR
    return cls.from_hparams(
        source=str(model_dir),
        savedir=None if savedir is None else str(savedir),
        run_opts={"device": device},
        fetch_config=FetchConfig(allow_network=False),
    )


def load_audio(asr, path: PathLike) -> torch.Tensor:
    """Mono waveform at the model's rate, as ``asr.load_audio`` gives for a local file.

    Raises :class:`AudioFileError` for a missing, unsupported, corrupt or empty file.
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
    wav = asr.audio_normalizer(signal.to(asr.device), rate)
    minimum = min_samples(asr)
    if wav.numel() < minimum:
        raise AudioFileError(
            f"{path}: too short ({wav.numel()} samples at {asr.audio_normalizer.sample_rate} Hz; "
            f"at least {minimum}, one encoder frame, are needed)"
        )
    return wav


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
    from speechbrain.utils.streaming import split_fixed_chunks

    chunk_size = asr.get_chunk_size_frames(config)
    context = asr.make_streaming_context(config)
    final = asr.hparams.fea_streaming_extractor.get_recommended_final_chunk_count(chunk_size)
    zeros = [torch.zeros((1, chunk_size), device=asr.device)] * final
    for chunk in itertools.chain(split_fixed_chunks(wav.unsqueeze(0), chunk_size), zeros):
        yield asr.transcribe_chunk(context, chunk, torch.tensor([1.0]))[0]


def frame_ms(asr) -> float:
    """Duration of one encoder frame in milliseconds (40 for 10 ms hops and 4x subsampling)."""
    return 1000.0 * asr.filter_props.stride / asr.audio_normalizer.sample_rate


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m speechbrain_tinyconf.transcribe", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="folder written by python -m speechbrain_tinyconf.export")
    parser.add_argument("audio", nargs="+", help="audio files (any rate or channel count soundfile reads)")
    parser.add_argument("--streaming", action="store_true", help="decode chunk by chunk with StreamingASR")
    parser.add_argument("--chunk-ms", type=float, default=640.0, help="streaming chunk length in ms (default 640)")
    parser.add_argument("--left-chunks", type=int, default=4,
                        help="streaming left context in chunks (default 4; -1 = unlimited)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        asr = load_model(args.model_dir, streaming=args.streaming, device=args.device)
    except ModelFolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a broken yaml/checkpoint: say which folder
        print(f"error: cannot load the model in {args.model_dir}: {type(err).__name__}: {err}", file=sys.stderr)
        return 2

    config = None
    if args.streaming:
        from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

        chunk = max(1, round(args.chunk_ms / frame_ms(asr)))
        config = DynChunkTrainConfig(chunk, None if args.left_chunks < 0 else args.left_chunks)

    failed = 0
    for path in args.audio:
        try:
            wav = load_audio(asr, path)
            if config is None:
                text = transcribe_waveform(asr, wav)
            else:
                text = "".join(transcribe_streaming(asr, wav, config))
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
