"""The real-speech recipe (recipes/SpeechOcean762/train.py) end to end on a few speechocean762 utterances."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SO762 = ROOT.parent / "shared" / "real-speech" / "speechocean762"
TRAIN = ROOT / "recipes" / "SpeechOcean762" / "train.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SO762.is_dir(), reason=f"speechocean762 absent ({SO762}); nothing to train on")]


def small_corpus(out: Path, counts) -> Path:
    """Kaldi data dirs with the first utterances of each split (audio paths kept relative to SO762)."""
    for split, n in counts.items():
        (out / split).mkdir(parents=True)
        utts = [line.split()[0] for line in (SO762 / split / "text").read_text().splitlines()[:n]]
        for name in ("wav.scp", "text", "utt2spk"):
            rows = {line.split(maxsplit=1)[0]: line for line in (SO762 / split / name).read_text().splitlines()}
            (out / split / name).write_text("\n".join(rows[u] for u in utts) + "\n")
    return out


def test_tiny_real_speech_run_train_valid_test(tmp_path):
    data = small_corpus(tmp_path / "so", {"train": 16, "dev": 4, "test": 4})
    out = tmp_path / "run"
    cmd = [sys.executable, str(TRAIN), str(ROOT / "tests" / "configs" / "tiny.yaml"), "--data_folder", str(data),
           "--output_folder", str(out), "--device", "cpu", "--number_of_epochs", "2", "--vocab_size", "40",
           "--train_splits", "[train]", "--dev_splits", "[dev]", "--test_splits", "[dev, test]",
           "--dynamic_batching", "False", "--batch_size", "4"]
    (data / "audio").symlink_to(SO762 / "audio")  # wav.scp paths are relative to the corpus folder
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (out / "train_log.txt").read_text()
    assert log.count("valid loss") == 2 and "split: test" in log and "split: dev" in log
    for split in ("dev", "test"):
        text = (out / f"wer_{split}.txt").read_text()
        assert "%WER" in text and "[ " in text
    header = (out / "train.csv").read_text().splitlines()[0]
    assert header == "ID,duration,wav,spk_id,wrd,start,stop"
    resolved = (out / "hyperparams.yaml").read_text()
    assert "number_of_ctc_epochs: 8" in resolved  # the recipe's CPU schedule, under the command line
    assert "number_of_epochs: 2" in resolved
