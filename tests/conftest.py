"""Shared fixtures: a tiny corpus in the LibriSpeech layout, made in seconds without TTS."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
WORDS = "RED BLUE GREEN CAT DOG SUN MOON TREE BIRD FISH".split()


def write_tone_corpus(root: Path, counts=None, seed: int = 0) -> Path:
    """LibriSpeech-layout corpus whose 'speech' is one tone per word (learnable, TTS-free)."""
    counts = counts or {"train": 12, "dev": 4, "test": 4}
    rng = np.random.default_rng(seed)
    rate = 16000
    for split, n in counts.items():
        chapter = root / split / "7" / "11"
        chapter.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(n):
            words = [WORDS[j] for j in rng.integers(0, len(WORDS), size=rng.integers(2, 5))]
            pieces = []
            for w in words:
                freq = 200 + 120 * WORDS.index(w)
                t = np.arange(int(0.25 * rate)) / rate
                pieces += [0.3 * np.sin(2 * np.pi * freq * t), np.zeros(int(0.05 * rate))]
            audio = np.concatenate(pieces) + 0.01 * rng.standard_normal(sum(len(p) for p in pieces))
            utt = f"7-11-{i:04d}"
            sf.write(chapter / f"{utt}.flac", audio.astype(np.float32), rate)
            lines.append(f"{utt} {' '.join(words)}")
        (chapter / "7-11.trans.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def tone_corpus(tmp_path_factory) -> Path:
    return write_tone_corpus(tmp_path_factory.mktemp("tone_corpus"))
