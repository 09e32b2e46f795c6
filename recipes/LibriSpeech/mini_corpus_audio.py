"""The mini corpus audio: one utterance synthesised by a TTS engine into a 16 kHz mono FLAC file.

The engine's WAV is trimmed of leading/trailing silence, resampled to 16 kHz (polyphase,
numpy only), peak-normalised to the speaker's level and written atomically
(:func:`synthesize`); :func:`synthesize_all` runs many in worker processes.

Authors
-------
* speechbrain-tinyconf team 2026
"""

import math
import os
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Dict, List, Tuple

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
Job = Tuple[str, Dict[str, Any], str]  # (out_path, speaker, text)


def tts_command(spk: Dict[str, Any], text: str, wav_path: str) -> List[str]:
    """The engine's command line that speaks ``text`` with ``spk``'s voice into ``wav_path``."""
    spoken = text.lower()  # avoid all-caps words being read as acronyms
    if spk["engine"] == "espeak-ng":
        return ["espeak-ng", "-v", f"{spk['voice']}+{spk['variant']}",
                "-s", str(spk["rate"]), "-p", str(spk["pitch"]),
                "-g", str(spk["word_gap"]), "-w", wav_path, spoken]
    return ["flite", "-voice", spk["voice"],
            "--setf", f"duration_stretch={spk['duration_stretch']}",
            "--setf", f"int_f0_target_mean={spk['f0_mean']}",
            "-t", spoken, "-o", wav_path]


def trim_silence(x: np.ndarray, sr: int, threshold_db: float = -40.0, lead: float = 0.1,
                 trail: float = 0.15) -> np.ndarray:
    """Trim leading/trailing silence (relative to the loudest 10 ms frame)."""
    hop = max(1, int(0.01 * sr))
    n = len(x) // hop
    if n == 0:
        return x
    frames = x[: n * hop].reshape(n, hop)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    active = np.nonzero(rms > rms.max() * 10 ** (threshold_db / 20))[0]
    if len(active) == 0:
        return x
    start = max(0, active[0] * hop - int(lead * sr))
    end = min(len(x), (active[-1] + 1) * hop + int(trail * sr))
    return x[start:end]


_FILTERS = {}


def _polyphase_filter(up, down, beta=5.0):
    """Kaiser-windowed sinc low-pass, as in ``scipy.signal.resample_poly``.

    Returns ``(H, half_len, L)`` with ``H[p, i] = h[p + (L - 1 - i) * up]``
    (the polyphase components, reversed along the tap axis).
    """
    key = (up, down, beta)
    if key not in _FILTERS:
        max_rate = max(up, down)
        half_len = 10 * max_rate
        n_taps = 2 * half_len + 1
        t = np.arange(n_taps) - half_len
        h = np.sinc(t / max_rate) * np.kaiser(n_taps, beta)
        h = h / h.sum() * up
        n_phase_taps = -(-n_taps // up)
        hpad = np.zeros(n_phase_taps * up)
        hpad[:n_taps] = h
        H = np.ascontiguousarray(hpad.reshape(n_phase_taps, up).T[:, ::-1])
        _FILTERS[key] = (H, half_len, n_phase_taps)
    return _FILTERS[key]


def resample(x: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling, numerically equal to ``scipy.signal.resample_poly``.

    Implemented with numpy only (importing ``scipy.signal`` costs ~1.5 s per
    process, which dominated small runs and the tests).
    """
    x = np.asarray(x, dtype=np.float64)
    g = math.gcd(sr_in, sr_out)
    up, down = sr_out // g, sr_in // g
    if up == down:
        return x.copy()
    H, half_len, L = _polyphase_filter(up, down)
    n_out = -(-len(x) * up // down)
    xp = np.concatenate([np.zeros(L), x, np.zeros(2 * L + down)])
    y = np.empty(n_out)
    item = xp.strides[0]
    for r in range(min(up, n_out)):
        # Outputs r, r + up, r + 2 up, ... share the same polyphase component.
        m0 = r * down + half_len
        phase, jmax = m0 % up, m0 // up
        nq = len(range(r, n_out, up))
        start = jmax + 1  # position in xp of x[jmax - L + 1]
        frames = np.lib.stride_tricks.as_strided(
            xp[start:], shape=(nq, L), strides=(down * item, item), writeable=False)
        y[r::up] = frames @ H[phase]
    return y


def worker_init() -> None:
    """Make pool workers die with the parent (Linux), e.g. on SIGTERM/SIGKILL."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - not Linux
        pass


def synthesize(job: Job) -> Tuple[str, int]:
    """Synthesise one utterance into a 16 kHz mono FLAC file (atomically).

    ``job`` is ``(out_path, speaker_dict, text)``; returns ``(out_path, n_samples)``.
    """
    out_path, spk, text = job
    fd, wav_path = tempfile.mkstemp(suffix=".wav", prefix="minicorpus_")
    os.close(fd)
    try:
        cmd = tts_command(spk, text, wav_path)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if proc.returncode != 0 or os.path.getsize(wav_path) == 0:
            raise RuntimeError(
                f"TTS failed (rc={proc.returncode}): {' '.join(cmd)}\n"
                f"{proc.stderr.decode(errors='replace')}")
        x, sr = sf.read(wav_path, dtype="float64", always_2d=True)
    finally:
        os.unlink(wav_path)
    x = x.mean(axis=1)
    x = trim_silence(x, sr)
    x = resample(x, sr)
    peak = np.abs(x).max()
    if peak <= 0:
        raise RuntimeError(f"TTS produced silence for {out_path}: {text!r}")
    x = x * (10 ** (spk["gain_db"] / 20) / peak)
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    tmp_path = out_path + ".part"
    sf.write(tmp_path, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    os.replace(tmp_path, out_path)
    return out_path, len(pcm)


def synthesize_all(todo: List[Job], jobs: int, quiet: bool = False) -> Dict[str, int]:
    """Every job of ``todo`` synthesised by ``jobs`` processes (in this one if 1); ``{out_path: n_samples}``."""
    done: Dict[str, int] = {}
    if not todo:
        return done
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    bar = tqdm(total=len(todo), unit="utt", disable=quiet) if tqdm else None
    if jobs == 1:
        results = map(synthesize, todo)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=jobs, initializer=worker_init)
        results = pool.map(synthesize, todo, chunksize=8)
    try:
        for path, n in results:
            done[path] = n
            if bar is not None:
                bar.update(1)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    return done
