"""Transducer inference with onnxruntime and numpy alone (no torch, no SpeechBrain).

Reads a folder written by ``tinyconf-onnx-export`` and
decodes greedily, full-utterance or chunk by chunk:

    from speechbrain_tinyconf.deploy.onnx_runtime import OrtTransducer
    model = OrtTransducer("onnx_dir", precision="int8", threads=1)
    tokens = model.transcribe(wav)                    # 16 kHz mono float32 numpy array
    tokens = model.transcribe_streaming(wav, 8)       # 8 encoder frames (320 ms) per step
    print(model.decode_text(tokens))                  # needs sentencepiece and tokenizer.model

This file imports only numpy, onnxruntime and the standard library, so it can
be copied to a device as is; importing it from the package imports no torch
either (the package ``__init__`` imports lazily).

Only the files that ``onnx_config.json`` lists are opened, each checked against the size and
sha256 recorded there (:func:`listed_file`): a file left by another export, or changed since,
is refused with its name. Full-context decoding refuses inputs longer than
:data:`MAX_FULL_CONTEXT_S` (its attention memory grows with the square of the length), as
``EncoderDecoderASR`` does; ``transcribe_streaming`` takes any length.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

PathLike = Union[str, Path]
CONFIG_NAME = "onnx_config.json"
FRONTEND_NAME = "frontend.npz"
PRECISIONS = ("fp32", "int8", "int4")  # file suffixes: .onnx, .int8.onnx, .int4.onnx
# Longest input decoded with full-context attention (here and in the exported PyTorch model):
# its memory grows with the square of the length (3 min took 2.6 GB in onnxruntime, 10 min 13 GB in torch).
MAX_FULL_CONTEXT_S = 60.0


def full_context_message(seconds: float, max_seconds: float = MAX_FULL_CONTEXT_S) -> str:
    """The error for an input too long for full-context decoding (``EncoderDecoderASR`` and ``OrtTransducer``)."""
    return (f"input of {seconds:.1f} s is longer than the full-context limit of {max_seconds:g} s (attention "
            "memory grows with the square of the length): decode it chunk by chunk (StreamingASR, "
            "OrtTransducer.transcribe_streaming, or tinyconf-transcribe, which streams "
            "long files; --streaming forces it)")


def read_config(folder: PathLike, fmt: str = "tinyconf") -> Dict[str, Any]:
    """``onnx_config.json`` of an ONNX export in format ``fmt`` (``tinyconf`` or ``sherpa-onnx``).

    Raises ``FileNotFoundError`` without one, ``ValueError`` for unreadable JSON, a folder of the
    other format or a config that lists no files.
    """
    folder = Path(folder)
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{CONFIG_NAME} not found in {folder} (not a folder written by tinyconf-onnx-export)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(config, dict) or not isinstance(config.get("files"), dict):
        raise ValueError(f"{path}: lists no files (not a folder written by tinyconf-onnx-export)")
    found = config.get("format", "tinyconf")
    if found != fmt:
        raise ValueError(f"{folder} is a {found} export, not a {fmt} one (--format {found} of onnx_export)")
    return config


def listed_file(folder: PathLike, config: Dict[str, Any], key: str, hint: str = "") -> Path:
    """The file ``config["files"][key]`` of an export, checked against its recorded size and sha256.

    A file the config does not list is not opened, even if a file of that name is there (it would be
    another export's): ``FileNotFoundError`` (+ ``hint``). A file whose size or sha256 differs from the
    record: ``ValueError`` naming it.
    """
    folder = Path(folder)
    entry = config["files"].get(key)
    if not isinstance(entry, dict) or "file" not in entry:
        name = {"frontend": FRONTEND_NAME, "tokenizer": "tokenizer.model"}.get(key, f"{key}.onnx")
        raise FileNotFoundError(f"{name} not found in {folder}: {CONFIG_NAME} does not list it{hint}")
    path = folder / Path(entry["file"]).name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (listed in {CONFIG_NAME})")
    size = path.stat().st_size
    if "bytes" in entry and size != entry["bytes"]:
        raise ValueError(f"{path}: {size} bytes, {CONFIG_NAME} records {entry['bytes']}: the file was changed "
                         "after export; export again")
    if entry.get("sha256"):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != entry["sha256"]:
            raise ValueError(f"{path}: its sha256 differs from the one {CONFIG_NAME} records: the file was changed "
                             "after export; export again")
    return path


# ---------------------------------------------------------------------------
# Features


class NumpyFbank:
    """SpeechBrain's ``Fbank`` (no deltas/context) with numpy alone.

    Centred STFT with zero padding, power spectrum, the mel matrix taken from
    the SpeechBrain module at export time, ``10 log10`` with ``amin`` clamp and
    a per-call ``top_db`` floor (SpeechBrain applies it per utterance, or per
    padded chunk when streaming).

    Example
    -------
    >>> import torch
    >>> from speechbrain.lobes.features import Fbank
    >>> sb = Fbank(n_mels=40)
    >>> wav = torch.randn(1, 8000)
    >>> ours = NumpyFbank.from_speechbrain(sb)(wav.numpy())
    >>> bool(np.abs(ours - sb(wav).numpy()).max() < 1e-3)
    True
    """

    def __init__(self, mel: np.ndarray, window: np.ndarray, n_fft: int, hop: int, sample_rate: int,
                 amin: float, top_db: float, multiplier: float, db_offset: float):
        self.mel = np.asarray(mel, dtype=np.float32)
        self.window = np.asarray(window, dtype=np.float64)
        self.n_fft, self.hop, self.sample_rate = int(n_fft), int(hop), int(sample_rate)
        self.amin, self.top_db = float(amin), float(top_db)
        self.multiplier, self.db_offset = float(multiplier), float(db_offset)
        self.n_mels = self.mel.shape[1]
        if self.window.shape[0] < self.n_fft:  # torch.stft centres a shorter window in n_fft
            left = (self.n_fft - self.window.shape[0]) // 2
            self.window = np.pad(self.window, (left, self.n_fft - self.window.shape[0] - left))

    @classmethod
    def from_speechbrain(cls, fbank) -> "NumpyFbank":
        """Reads the constants of a ``speechbrain.lobes.features.Fbank`` (needs torch, at export time only)."""
        import copy

        import torch

        if fbank.deltas or fbank.context:
            raise ValueError("NumpyFbank: Fbank with deltas or context windows is not supported")
        stft, bank = fbank.compute_STFT, fbank.compute_fbanks
        if not stft.center or stft.pad_mode != "constant" or stft.normalized_stft or not stft.onesided:
            raise ValueError("NumpyFbank: only centred, zero-padded, unnormalised one-sided STFTs are supported")
        linear = copy.deepcopy(bank)
        linear.log_mel = False
        n_bins = stft.n_fft // 2 + 1
        with torch.no_grad():
            mel = linear(torch.eye(n_bins)[None])[0].numpy()  # (n_bins, n_mels): the filterbank matrix
        if not bank.log_mel:
            raise ValueError("NumpyFbank: only log-mel filterbanks are supported")
        return cls(mel, stft.window.numpy(), stft.n_fft, stft.hop_length, stft.sample_rate, bank.amin, bank.top_db,
                   bank.multiplier, bank.multiplier * bank.db_multiplier)

    def save(self, path: PathLike) -> None:
        """Writes the constants to an ``.npz`` file."""
        np.savez(path, mel=self.mel, window=self.window, n_fft=self.n_fft, hop=self.hop, sample_rate=self.sample_rate,
                 amin=self.amin, top_db=self.top_db, multiplier=self.multiplier, db_offset=self.db_offset)

    @classmethod
    def load(cls, path: PathLike) -> "NumpyFbank":
        """Reads constants written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Fbank constants not found: {path}")
        z = np.load(path)
        return cls(z["mel"], z["window"], int(z["n_fft"]), int(z["hop"]), int(z["sample_rate"]), float(z["amin"]),
                   float(z["top_db"]), float(z["multiplier"]), float(z["db_offset"]))

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        """``(samples,)`` or ``(batch, samples)`` float waveform -> ``(batch, frames, n_mels)`` float32."""
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim == 1:
            wav = wav[None]
        half = self.n_fft // 2
        padded = np.pad(wav, ((0, 0), (half, half)))
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.n_fft, axis=1)[:, :: self.hop]
        spec = np.fft.rfft(frames * self.window, n=self.n_fft, axis=-1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        fb = power @ self.mel
        db = self.multiplier * np.log10(np.maximum(fb, self.amin)) - self.db_offset
        floor = db.max(axis=(1, 2), keepdims=True) - self.top_db
        return np.maximum(db, floor).astype(np.float32)


def stream_chunks(wav: np.ndarray, chunk_samples: int, pad_samples: int, pad_last: bool = True) -> List[np.ndarray]:
    """A waveform ``(samples,)`` cut into the chunks that streaming decoding feeds, in order.

    Chunks of ``chunk_samples``, then the zero chunks that let the front-end see the end of
    the audio: ``ceil(pad_samples / chunk_samples)`` of them (``pad_samples``: the front-end's
    padding, as SpeechBrain's ``StreamingFeatureWrapper.get_recommended_final_chunk_count``).
    The last chunk of audio is zero-padded to full size (``pad_last``: graphs of static shape)
    or left shorter, as ``StreamingASR.transcribe_file_streaming`` leaves it.

    Example
    -------
    >>> [c.tolist() for c in stream_chunks(np.arange(1, 6), 2, 3)]
    [[1, 2], [3, 4], [5, 0], [0, 0], [0, 0]]
    >>> [c.tolist() for c in stream_chunks(np.arange(1, 6), 2, 3, pad_last=False)]
    [[1, 2], [3, 4], [5], [0, 0], [0, 0]]
    """
    wav = np.asarray(wav).reshape(-1)
    count = -(-wav.shape[0] // chunk_samples)
    final = -(-pad_samples // chunk_samples)
    padded = np.zeros((count + final) * chunk_samples, dtype=wav.dtype)
    padded[: wav.shape[0]] = wav
    chunks = list(padded.reshape(-1, chunk_samples))
    rest = wav.shape[0] % chunk_samples
    if not pad_last and rest:
        chunks[count - 1] = chunks[count - 1][:rest]
    return chunks


class StreamingFrontend:
    """``StreamingFeatureWrapper``'s waveform bookkeeping with :class:`NumpyFbank`.

    Each call takes one chunk of ``chunk_samples`` samples and returns the Fbank
    of ``previous 2 * pad_samples samples (zeros at first) + chunk`` -- the
    input of ``encoder_chunk<C>.onnx``, which cuts the wrapper's context frames.
    """

    def __init__(self, fbank: NumpyFbank, pad_samples: int, chunk_samples: int):
        self.fbank = fbank
        self.keep = 2 * pad_samples
        self.chunk_samples = chunk_samples
        self.context = np.zeros(self.keep, dtype=np.float32)

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Fbank ``(1, feat_frames, n_mels)`` of the context + ``chunk``; keeps the new context."""
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if chunk.shape[0] != self.chunk_samples:
            raise ValueError(f"streaming chunk has {chunk.shape[0]} samples, expected {self.chunk_samples}")
        padded = np.concatenate([self.context, chunk])
        self.context = padded[-self.keep:]
        return self.fbank(padded)


# ---------------------------------------------------------------------------
# onnxruntime runtime (numpy + onnxruntime only)


def ort_session(path: PathLike, threads: int = 1):
    """An onnxruntime CPU session with ``threads`` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class OrtTransducer:
    """Greedy transducer decoding with the exported graphs and onnxruntime alone.

    Same rule as SpeechBrain's ``TransducerBeamSearcher.transducer_greedy_decode``
    (beam 1): per encoder frame, emit the joint's argmax while it is not blank,
    at most ``max_symbols_per_step + 1`` times, advancing the predictor on each
    emission.

    Arguments
    ---------
    onnx_dir : str or Path
        Folder written by :func:`speechbrain_tinyconf.deploy.export.export_transducer`.
    precision : str
        ``fp32`` (``*.onnx``), ``int8`` (``*.int8.onnx``) or ``int4`` (``*.int4.onnx``) graphs.
    threads : int
        onnxruntime intra-op threads per session.
    max_seconds : float
        Longest waveform :meth:`transcribe` takes (full-context attention); longer ones raise a
        ``ValueError`` naming the streaming alternatives.
    """

    def __init__(self, onnx_dir: PathLike, precision: str = "fp32", threads: int = 1,
                 max_seconds: float = MAX_FULL_CONTEXT_S):
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}: expected one of {', '.join(PRECISIONS)}")
        self.dir = Path(onnx_dir)
        self.config = read_config(self.dir)
        self.precision, self.threads, self.max_seconds = precision, threads, float(max_seconds)
        self.fbank = NumpyFbank.load(listed_file(self.dir, self.config, "frontend"))
        self.blank = int(self.config["blank_index"])
        self.max_symbols = int(self.config["max_symbols_per_step"])
        self._sessions: Dict[str, Any] = {}
        self.predictor = self.session("predictor")
        self.joint = self.session("joint")

    def path(self, name: str) -> Path:
        """File of graph ``name`` (``encoder``, ``encoder_chunk8``, ``predictor``, ``joint``) at this precision,
        as ``onnx_config.json`` lists it (:func:`listed_file`)."""
        key = name if self.precision == "fp32" else f"{name}.{self.precision}"
        hint = "" if self.precision == "fp32" else f" (export with --{self.precision})"
        return listed_file(self.dir, self.config, key, hint)

    def session(self, name: str):
        """The (cached) onnxruntime session of graph ``name``."""
        if name not in self._sessions:
            self._sessions[name] = ort_session(self.path(name), self.threads)
        return self._sessions[name]

    # ----------------------------------------------------------- decoding
    def initial_state(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(pred, hidden)`` after the blank/BOS token, as SpeechBrain's first predictor step."""
        hidden = np.zeros((1, 1, int(self.config["pred_hidden"])), dtype=np.float32)
        return self._predict(self.blank, hidden)

    def _predict(self, token: int, hidden: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        pred, hidden = self.predictor.run(None, {"token": np.array([[token]], dtype=np.int64), "state": hidden})
        return pred, hidden

    def greedy(self, enc: np.ndarray, state: Optional[Tuple[np.ndarray, np.ndarray]] = None
               ) -> Tuple[List[int], Tuple[np.ndarray, np.ndarray]]:
        """Greedy search over ``enc (frames, joint_dim)``; returns tokens and the state to continue from."""
        pred, hidden = self.initial_state() if state is None else state
        tokens: List[int] = []
        for t in range(enc.shape[0]):
            frame = enc[t: t + 1]
            for _ in range(self.max_symbols + 1):
                logits = self.joint.run(None, {"enc": frame, "pred": pred})[0]
                best = int(np.argmax(logits[0]))
                if best == self.blank:
                    break
                tokens.append(best)
                pred, hidden = self._predict(best, hidden)
        return tokens, (pred, hidden)

    def encode(self, wav: np.ndarray) -> np.ndarray:
        """Full-utterance encoder output ``(frames, joint_dim)`` of one waveform (at most ``max_seconds`` long)."""
        wav = np.asarray(wav, dtype=np.float32).reshape(-1)
        seconds = wav.shape[0] / self.fbank.sample_rate
        if seconds > self.max_seconds:
            raise ValueError(full_context_message(seconds, self.max_seconds))
        feats = self.fbank(wav)
        enc, lens = self.session("encoder").run(None, {"feats": feats, "feats_lens": np.ones(1, dtype=np.float32)})
        return enc[0, : int(lens[0])]

    def transcribe(self, wav: np.ndarray) -> List[int]:
        """Token ids of one waveform, full context."""
        return self.greedy(self.encode(wav))[0]

    def stream(self, chunk_frames: int) -> "OrtStream":
        """A streaming session with ``encoder_chunk<chunk_frames>``."""
        return OrtStream(self, chunk_frames)

    def transcribe_streaming(self, wav: np.ndarray, chunk_frames: int) -> List[int]:
        """Token ids of one waveform decoded chunk by chunk (the last chunk zero-padded, then final zero chunks)."""
        stream = self.stream(chunk_frames)
        tokens: List[int] = []
        for chunk in stream.split(wav):
            tokens += stream.accept(chunk)
        return tokens

    def decode_text(self, tokens: Sequence[int]) -> str:
        """Text of ``tokens`` with the exported sentencepiece model."""
        import sentencepiece as spm

        if not hasattr(self, "_spm"):
            if "tokenizer" not in self.config["files"]:
                raise FileNotFoundError(f"tokenizer.model not found in {self.dir} (the export source had no tokenizer)")
            path = listed_file(self.dir, self.config, "tokenizer")
            processor = spm.SentencePieceProcessor(model_file=str(path))
            vocab = self.config.get("vocab_size")
            if vocab is not None and processor.get_piece_size() != int(vocab):
                raise ValueError(f"{path} has {processor.get_piece_size()} pieces but the graphs of {self.dir} output "
                                 f"{vocab} tokens ({CONFIG_NAME}): the tokenizer is not this model's")
            self._spm = processor
        return self._spm.decode_ids(list(tokens))


class OrtStream:
    """Chunk-by-chunk decoding state: front-end context, encoder caches, decoder state."""

    def __init__(self, model: OrtTransducer, chunk_frames: int):
        spec = model.config["streaming"].get(str(chunk_frames))
        if spec is None:
            raise ValueError(
                f"no streaming graph for chunk_frames={chunk_frames} in {model.dir} "
                f"(exported: {', '.join(sorted(model.config['streaming'])) or 'none'}; use --chunk-frames)"
            )
        self.model, self.spec = model, spec
        self.session = model.session(f"encoder_chunk{chunk_frames}")
        self.frontend = StreamingFrontend(model.fbank, spec["pad_samples"], spec["chunk_samples"])
        n, d = spec["num_layers"], spec["d_model"]
        self.mha = np.zeros((n, 1, spec["left_frames"], d), dtype=np.float32)
        self.conv = np.zeros((n, 1, spec["conv_frames"], d), dtype=np.float32)
        self.processed = np.zeros(1, dtype=np.int64)
        self.state: Optional[Tuple[np.ndarray, np.ndarray]] = None

    @property
    def chunk_samples(self) -> int:
        """Samples per chunk."""
        return int(self.spec["chunk_samples"])

    def split(self, wav: np.ndarray) -> List[np.ndarray]:
        """``wav`` as chunks: zero-padded to whole chunks, plus the final zero chunks the front-end needs."""
        return stream_chunks(np.asarray(wav, dtype=np.float32), self.chunk_samples, int(self.spec["pad_samples"]))

    def encode_chunk(self, chunk: np.ndarray) -> np.ndarray:
        """Encoder output ``(C, joint_dim)`` of one chunk (updates the caches)."""
        return self.encode_features(self.frontend(chunk))

    def encode_features(self, feats: np.ndarray) -> np.ndarray:
        """Encoder output of one step given the Fbank ``(1, feat_frames, n_mels)`` of the padded chunk."""
        enc, self.mha, self.conv, self.processed = self.session.run(
            None, {"feats": feats, "mha_cache": self.mha, "conv_cache": self.conv, "processed": self.processed})
        return enc[0]

    def accept(self, chunk: np.ndarray) -> List[int]:
        """Decodes one chunk; returns the new tokens."""
        enc = self.encode_chunk(chunk)
        tokens, self.state = self.model.greedy(enc, self.state)
        return tokens
