"""Shared fixtures: a tiny corpus in the LibriSpeech layout, made in seconds without TTS."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
WORDS = "RED BLUE GREEN CAT DOG SUN MOON TREE BIRD FISH".split()


TONE_S, PAUSE_S = 0.25, 0.05  # each word: a tone, then a pause


def bench_script(name: str):
    """``bench/<name>.py`` imported as the module ``name`` (once per session; bench/ is not a package, and its
    scripts import each other by that name)."""
    import importlib.util

    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


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


def _shared_dir(tmp_path_factory) -> Path:
    """This session's folder for what every pytest-xdist worker shares (the parent of the workers' own base
    folders; without xdist, the session's base folder)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _lock(shared: Path):
    from filelock import FileLock  # torch's dependency

    return FileLock(str(shared / "shared.lock"))


@pytest.fixture(scope="session")
def learnable_corpus(tmp_path_factory) -> Path:
    """The tone corpus the trained runs learn; one copy per session, shared by the xdist workers."""
    shared = _shared_dir(tmp_path_factory)
    root = shared / "learnable_corpus"
    with _lock(shared):
        if not (root / ".complete").is_file():
            write_tone_corpus(root, counts={"train": 48, "dev": 8, "test": 8})
            (root / ".complete").touch()
    return root


# The child writes its exit status beside the run: a worker that did not start the training waits for that file.
_WRAPPER = ("import os, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
            "open(sys.argv[1] + '.tmp', 'w').write(str(rc)); os.replace(sys.argv[1] + '.tmp', sys.argv[1])")


class TinyTraining:
    """tests/configs/tiny.yaml trained with TRAINED_OVERRIDES (+ ``extra``) on ``corpus`` into ``out``, in a
    child process started at once (single-threaded: ``OMP_NUM_THREADS=1``); :meth:`result` waits for it.
    :meth:`join` waits for one that another pytest-xdist worker started into ``out``."""

    TIMEOUT_S = 900

    def __init__(self, corpus: Path, out: Path, *extra: str, start: bool = True):
        import subprocess
        import sys

        self.out = out
        self.stderr_path = out.parent / f"{out.name}.stderr"
        self.rc_path = out.parent / f"{out.name}.rc"
        self.proc = None
        if not start:
            return
        cmd = [sys.executable, str(ROOT / "recipes" / "LibriSpeech" / "train.py"), str(ROOT / "tests" / "configs" / "tiny.yaml"),
               "--data_folder", str(corpus), "--output_folder", str(out), "--device", "cpu", *TRAINED_OVERRIDES, *extra]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out.parent / f"{out.name}.stdout", "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen([sys.executable, "-c", _WRAPPER, str(self.rc_path), *cmd], stdout=stdout,
                                         stderr=stderr, text=True, env=env, start_new_session=True)

    @classmethod
    def join(cls, out: Path) -> "TinyTraining":
        return cls(Path(), out, start=False)

    def result(self) -> Path:
        # TIMEOUT_S from the wait, not from the start: a training started beside another one (which shares
        # the cores with it on a busy machine) gets no less time than one trained alone
        import time

        deadline = time.monotonic() + self.TIMEOUT_S
        try:
            while not self.rc_path.is_file():
                assert time.monotonic() < deadline, f"{self.out}: no result after {self.TIMEOUT_S} s"
                assert self.proc is None or self.proc.poll() is None or self.rc_path.is_file(), \
                    self.stderr_path.read_text()[-3000:]
                time.sleep(0.2)
        except BaseException:
            self.stop()
            raise
        assert self.rc_path.read_text() == "0", self.stderr_path.read_text()[-3000:]
        return self.out

    def stop(self) -> None:
        import signal

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            if not self.rc_path.is_file():  # workers waiting for this run fail at once instead of timing out
                self.rc_path.write_text("killed")

    def finish(self) -> None:
        """At the end of the session: let a training other workers may still wait for end; stop it otherwise."""
        if self.proc is not None and os.environ.get("PYTEST_XDIST_WORKER"):
            try:
                self.proc.wait(timeout=self.TIMEOUT_S)
            except Exception:
                pass
        self.stop()


def train_tiny(corpus: Path, out: Path, *extra: str) -> Path:
    """tests/configs/tiny.yaml trained with TRAINED_OVERRIDES (+ ``extra``) on ``corpus`` into ``out``."""
    return TinyTraining(corpus, out, *extra).result()


# The session's two trained runs: (folder, extra options). Both are single-threaded children, so the
# first fixture that needs one starts every one the session's tests will use, side by side: on two
# cores the second costs (almost) no wall time. Under pytest-xdist the first worker that needs them
# starts them in the session's shared folder, and the other workers wait for the same runs.
TRAINED_RUNS = {
    "trained_run": ("trained", ()),
    "trained_sherpa_run": ("trained_sherpa", ("--frontend", "kaldi", "--predictor", "stateless", "--emb_dim", "32")),
}


def _start_or_join(name: str, corpus: Path, shared: Path) -> TinyTraining:
    """Under the shared lock: start training ``name``, or join the one already started this session."""
    folder, extra = TRAINED_RUNS[name]
    out = shared / folder / "run"
    if (shared / folder).is_dir():
        return TinyTraining.join(out)
    return TinyTraining(corpus, out, *extra)


@pytest.fixture(scope="session")
def _tiny_trainings(request, learnable_corpus, tmp_path_factory):
    """Starts, side by side, the trainings of TRAINED_RUNS that the selected tests use (or joins them when another
    xdist worker has); lets them end or stops them at the end of the session."""
    used = {name for item in request.session.items for name in getattr(item, "fixturenames", ())
            if name in TRAINED_RUNS}
    shared = _shared_dir(tmp_path_factory)
    with _lock(shared):
        trainings = {name: _start_or_join(name, learnable_corpus, shared) for name in TRAINED_RUNS if name in used}
    yield trainings
    for training in trainings.values():
        training.finish()


def _trained(name: str, trainings, learnable_corpus, tmp_path_factory) -> Path:
    if name not in trainings:  # requested without a test naming it (e.g. getfixturevalue): train it now
        shared = _shared_dir(tmp_path_factory)
        with _lock(shared):
            trainings[name] = _start_or_join(name, learnable_corpus, shared)
    return trainings[name].result()


@pytest.fixture(scope="session")
def trained_run(_tiny_trainings, learnable_corpus, tmp_path_factory) -> Path:
    """Recipe output folder of tests/configs/tiny.yaml trained until it transcribes the tone corpus."""
    return _trained("trained_run", _tiny_trainings, learnable_corpus, tmp_path_factory)


@pytest.fixture(scope="session")
def trained_sherpa_run(_tiny_trainings, learnable_corpus, tmp_path_factory) -> Path:
    """The same, with the options sherpa-onnx can run: Kaldi fbank front-end, stateless predictor."""
    return _trained("trained_sherpa_run", _tiny_trainings, learnable_corpus, tmp_path_factory)


def pytest_configure(config):
    # scripts/run_tests.sh runs the suite on pytest-xdist workers (-n auto): each worker is one single-threaded torch
    # process, and so are the processes it starts, or two workers with torch's default threads would oversubscribe
    # two cores (measured in the guide: 5.5 s per step instead of 0.3).
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)
