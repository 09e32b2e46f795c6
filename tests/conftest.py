"""Shared fixtures: a tiny corpus in the LibriSpeech layout, made in seconds without TTS."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
WORDS = "RED BLUE GREEN CAT DOG SUN MOON TREE BIRD FISH".split()


TONE_S, PAUSE_S = 0.25, 0.05  # each word: a tone, then a pause


def tone_audio(words, rng, rate: int = 16000) -> np.ndarray:
    """The 'speech' of ``words`` in the tone corpus: per word a 0.25 s tone of its own pitch and a 0.05 s
    pause (word ``k`` spans ``[0.3 k, 0.3 k + 0.25]`` s), plus noise at 0.01 from ``rng``."""
    pieces = []
    for w in words:
        freq = 200 + 120 * WORDS.index(w)
        t = np.arange(int(TONE_S * rate)) / rate
        pieces += [0.3 * np.sin(2 * np.pi * freq * t), np.zeros(int(PAUSE_S * rate))]
    audio = np.concatenate(pieces) + 0.01 * rng.standard_normal(sum(len(p) for p in pieces))
    return audio.astype(np.float32)


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
            utt = f"7-11-{i:04d}"
            sf.write(chapter / f"{utt}.flac", tone_audio(words, rng), rate)
            lines.append(f"{utt} {' '.join(words)}")
        (chapter / "7-11.trans.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def tone_corpus(tmp_path_factory) -> Path:
    return write_tone_corpus(tmp_path_factory.mktemp("tone_corpus"))


# A tiny model that really transcribes: the tiny config trained on a larger tone corpus until it
# emits. Measured (2 CPU cores, 2026-12-01): 480 updates in ~20 s, test WER 11.5 % (3 / 26 words);
# without branch scales the same schedule stays at 100 % (all blank).
TRAINED_OVERRIDES = [
    "--number_of_epochs", "40", "--number_of_ctc_epochs", "40", "--batch_size", "4", "--lr", "0.01",
    "--warmup_steps", "50", "--wav_augment_prob", "0", "--fea_augment_prob", "0", "--valid_search_interval", "10",
    "--sharing", "{unique_blocks: 2, per_layer: [norms], low_rank: {targets: [ffn], rank: 8, share: U}, branch_scales: 0.1}",
]


@pytest.fixture(scope="session")
def learnable_corpus(tmp_path_factory) -> Path:
    return write_tone_corpus(tmp_path_factory.mktemp("learnable_corpus"), counts={"train": 48, "dev": 8, "test": 8})


class TinyTraining:
    """tests/configs/tiny.yaml trained with TRAINED_OVERRIDES (+ ``extra``) on ``corpus`` into ``out``, in a
    child process started at once (single-threaded: ``OMP_NUM_THREADS=1``); :meth:`result` waits for it."""

    TIMEOUT_S = 900

    def __init__(self, corpus: Path, out: Path, *extra: str):
        import os
        import subprocess
        import sys

        cmd = [sys.executable, str(ROOT / "recipes" / "LibriSpeech" / "train.py"), str(ROOT / "tests" / "configs" / "tiny.yaml"),
               "--data_folder", str(corpus), "--output_folder", str(out), "--device", "cpu", *TRAINED_OVERRIDES, *extra]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        self.stderr_path = out.parent / f"{out.name}.stderr"
        with open(out.parent / f"{out.name}.stdout", "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=True, env=env)

    def result(self) -> Path:
        # TIMEOUT_S from the wait, not from the start: a training started beside another one (which shares
        # the cores with it on a busy machine) gets no less time than one trained alone
        try:
            returncode = self.proc.wait(timeout=self.TIMEOUT_S)
        except Exception:
            self.stop()
            raise
        assert returncode == 0, self.stderr_path.read_text()[-3000:]
        return self.out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def train_tiny(corpus: Path, out: Path, *extra: str) -> Path:
    """tests/configs/tiny.yaml trained with TRAINED_OVERRIDES (+ ``extra``) on ``corpus`` into ``out``."""
    return TinyTraining(corpus, out, *extra).result()


# The session's two trained runs: (folder, extra options). Both are single-threaded children, so the
# first fixture that needs one starts every one the session's tests will use, side by side: on two
# cores the second costs (almost) no wall time.
TRAINED_RUNS = {
    "trained_run": ("trained", ()),
    "trained_sherpa_run": ("trained_sherpa", ("--frontend", "kaldi", "--predictor", "stateless", "--emb_dim", "32")),
}


@pytest.fixture(scope="session")
def _tiny_trainings(request, learnable_corpus, tmp_path_factory):
    """Starts, side by side, the trainings of TRAINED_RUNS that the selected tests use; stops leftovers at the end."""
    used = {name for item in request.session.items for name in getattr(item, "fixturenames", ())
            if name in TRAINED_RUNS}
    trainings = {name: TinyTraining(learnable_corpus, tmp_path_factory.mktemp(TRAINED_RUNS[name][0]) / "run",
                                    *TRAINED_RUNS[name][1])
                 for name in TRAINED_RUNS if name in used}
    yield trainings
    for training in trainings.values():
        training.stop()


def _trained(name: str, trainings, learnable_corpus, tmp_path_factory) -> Path:
    if name not in trainings:  # requested without a test naming it (e.g. getfixturevalue): train it now
        trainings[name] = TinyTraining(learnable_corpus, tmp_path_factory.mktemp(TRAINED_RUNS[name][0]) / "run",
                                       *TRAINED_RUNS[name][1])
    return trainings[name].result()


@pytest.fixture(scope="session")
def trained_run(_tiny_trainings, learnable_corpus, tmp_path_factory) -> Path:
    """Recipe output folder of tests/configs/tiny.yaml trained until it transcribes the tone corpus."""
    return _trained("trained_run", _tiny_trainings, learnable_corpus, tmp_path_factory)


@pytest.fixture(scope="session")
def trained_sherpa_run(_tiny_trainings, learnable_corpus, tmp_path_factory) -> Path:
    """The same, with the options sherpa-onnx can run: Kaldi fbank front-end, stateless predictor."""
    return _trained("trained_sherpa_run", _tiny_trainings, learnable_corpus, tmp_path_factory)
