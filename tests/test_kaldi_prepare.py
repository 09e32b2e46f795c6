"""Kaldi data-dir preparation (recipes/SpeechOcean762/kaldi_prepare.py): every documented case."""

import csv
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes" / "SpeechOcean762"))
import kaldi_prepare as kp  # noqa: E402

SO762 = ROOT.parent / "shared" / "real-speech" / "speechocean762"


def tone(path: Path, seconds=0.5, rate=16000, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    wav = 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    sf.write(path, np.stack([wav] * channels, axis=1) if channels > 1 else wav, rate)
    return path


def make_dir(root: Path, utts=("u1", "u2", "u3"), split="train", texts=None, relative=True, crlf=False,
             spk="s1") -> Path:
    """A Kaldi data dir ``root/split`` with one WAV per utterance under ``root/audio``."""
    data = root / split
    data.mkdir(parents=True, exist_ok=True)
    lines = {"wav.scp": [], "text": [], "utt2spk": []}
    for utt in utts:
        path = tone(root / "audio" / f"{utt}.wav")
        lines["wav.scp"].append(f"{utt} {path.relative_to(root) if relative else path}")
        lines["text"].append(f"{utt} {(texts or {}).get(utt, 'hello world')}")
        lines["utt2spk"].append(f"{utt} {spk}")
    end = "\r\n" if crlf else "\n"
    for name, rows in lines.items():
        (data / name).write_text(end.join(rows) + end, newline="")
    return data


def read_csv(path: Path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows


def test_relative_and_absolute_paths_and_columns(tmp_path):
    make_dir(tmp_path, split="train")
    make_dir(tmp_path, utts=("v1",), split="dev", relative=False)
    summary = kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train", "dev"])
    assert summary["train"] == {"written": 3, "skipped": {}}
    rows = read_csv(tmp_path / "csv" / "train.csv")
    assert list(rows[0]) == list(kp.CSV_HEADER)
    assert [r["ID"] for r in rows] == ["u1", "u2", "u3"]
    assert rows[0]["wav"] == str((tmp_path / "audio" / "u1.wav").resolve())
    assert rows[0]["wrd"] == "HELLO WORLD" and rows[0]["spk_id"] == "s1"
    assert float(rows[0]["duration"]) == 0.5 and float(rows[0]["start"]) == 0.0 and float(rows[0]["stop"]) == 0.5
    assert read_csv(tmp_path / "csv" / "dev.csv")[0]["wav"] == str(tmp_path / "audio" / "v1.wav")


def test_audio_root_option(tmp_path):
    data = make_dir(tmp_path / "corpus")
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (tmp_path / "corpus" / "audio").rename(moved / "audio")
    with pytest.raises(ValueError, match="no usable utterance"):  # all audio missing under the default root
        kp.prepare_kaldi(data.parent, tmp_path / "csv", ["train"])
    kp.prepare_kaldi(data.parent, tmp_path / "csv2", ["train"], audio_root=moved)
    assert read_csv(tmp_path / "csv2" / "train.csv")[0]["wav"].startswith(str(moved))


def test_crlf_files_are_read(tmp_path):
    make_dir(tmp_path, crlf=True)
    kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    rows = read_csv(tmp_path / "csv" / "train.csv")
    assert [r["wrd"] for r in rows] == ["HELLO WORLD"] * 3
    assert all("\r" not in value for r in rows for value in r.values())


def test_missing_audio_is_skipped(tmp_path, caplog):
    make_dir(tmp_path)
    (tmp_path / "audio" / "u2.wav").unlink()
    with caplog.at_level(logging.WARNING):
        summary = kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    assert summary["train"] == {"written": 2, "skipped": {"missing_audio": 1}}
    assert "u2.wav: audio file missing" in caplog.text


def test_utterance_without_text_is_skipped(tmp_path, caplog):
    data = make_dir(tmp_path)
    (data / "text").write_text("u1 hello\nu3 bye\n")
    with caplog.at_level(logging.WARNING):
        summary = kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    assert summary["train"] == {"written": 2, "skipped": {"no_text": 1}}
    assert "Skipping u2: no line for it in" in caplog.text


def test_text_without_audio_is_skipped(tmp_path, caplog):
    data = make_dir(tmp_path)
    with open(data / "text", "a") as f:
        f.write("u9 ghost words\n")
    with caplog.at_level(logging.WARNING):
        summary = kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    assert summary["train"] == {"written": 3, "skipped": {"no_audio": 1}}
    assert "Skipping u9" in caplog.text and "no audio for it" in caplog.text


def test_empty_text_is_skipped(tmp_path, caplog):
    data = make_dir(tmp_path)
    (data / "text").write_text("u1 hello\nu2\nu3 bye\n")
    with caplog.at_level(logging.WARNING):
        summary = kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    assert summary["train"] == {"written": 2, "skipped": {"empty_text": 1}}
    assert "u2" in caplog.text and "empty transcript" in caplog.text


def test_wrong_rate_and_stereo_are_errors(tmp_path):
    make_dir(tmp_path)
    tone(tmp_path / "audio" / "u2.wav", rate=8000)
    with pytest.raises(ValueError, match=r"u2.wav: sample rate is 8000 Hz, expected 16000 Hz"):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    assert not (tmp_path / "csv" / "train.csv").exists()
    tone(tmp_path / "audio" / "u2.wav", channels=2)
    with pytest.raises(ValueError, match="u2.wav: 2 channels"):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])


@pytest.mark.parametrize("name", ["wav.scp", "text", "utt2spk"])
def test_duplicate_ids_are_errors(tmp_path, name):
    data = make_dir(tmp_path)
    with open(data / name, "a") as f:
        f.write({"wav.scp": "u1 audio/u1.wav\n", "text": "u1 again\n", "utt2spk": "u1 s2\n"}[name])
    with pytest.raises(ValueError, match=rf"{name}, line 4: id u1 already on line 1"):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])


def test_corrupt_and_empty_audio_are_skipped(tmp_path):
    make_dir(tmp_path)
    (tmp_path / "audio" / "u1.wav").write_bytes(b"RIFF" + bytes(40))
    sf.write(tmp_path / "audio" / "u3.wav", np.zeros(0, np.float32), 16000)
    summary = kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    assert summary["train"] == {"written": 1, "skipped": {"unreadable": 1, "empty_audio": 1}}


def test_malformed_lines_pipes_and_missing_speaker_are_errors(tmp_path):
    data = make_dir(tmp_path)
    (data / "utt2spk").write_text("u1 s1\nu2\n")
    with pytest.raises(ValueError, match=r"utt2spk, line 2: expected at least 2 fields"):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    (data / "utt2spk").write_text("u1 s1\nu2 s1\n")
    with pytest.raises(ValueError, match="no speaker for utterance u3"):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    (data / "utt2spk").write_text("u1 s1\nu2 s1\nu3 s1\n")
    (data / "wav.scp").write_text("u1 sox audio/u1.wav -t wav - |\n")
    with pytest.raises(ValueError, match=r"wav.scp, line 1: only '<id> <path>' entries"):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])


def test_missing_files_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        kp.prepare_kaldi(tmp_path / "nope", tmp_path / "csv", ["train"])
    data = make_dir(tmp_path)
    (data / "utt2spk").unlink()
    with pytest.raises(FileNotFoundError, match=r"train/utt2spk not found"):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])


def test_segments(tmp_path):
    data = tmp_path / "train"
    data.mkdir()
    tone(tmp_path / "rec.wav", seconds=2.0)
    (data / "wav.scp").write_text("rec rec.wav\n")
    (data / "segments").write_text("a rec 0.0 0.8\nb rec 1.0 1.9\n")
    (data / "text").write_text("a first part\nb second part\n")
    (data / "utt2spk").write_text("a s\nb s\n")
    kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    rows = read_csv(tmp_path / "csv" / "train.csv")
    assert [(r["ID"], float(r["start"]), float(r["stop"]), float(r["duration"])) for r in rows] == [
        ("a", 0.0, 0.8, 0.8), ("b", 1.0, 1.9, 0.9)]
    (data / "segments").write_text("a rec 0.0 0.8\nb rec 1.0 2.5\n")
    with pytest.raises(ValueError, match=r"segments, line 2: segment 1.0-2.5 s is outside recording rec"):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv2", ["train"])


def test_idempotent_and_atomic(tmp_path, caplog, monkeypatch):
    make_dir(tmp_path)
    kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    csv_path = tmp_path / "csv" / "train.csv"
    before = csv_path.read_bytes()
    with caplog.at_level(logging.INFO):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    assert "already prepared" in caplog.text and csv_path.read_bytes() == before
    # a failure while writing keeps the old CSV and leaves no temporary file
    monkeypatch.setattr(kp.csv, "writer", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"], validate_audio=True)  # other options: rebuild
    assert csv_path.read_bytes() == before and not list((tmp_path / "csv").glob("*.tmp"))


def test_cli_errors_exit_non_zero(tmp_path):
    script = ROOT / "recipes" / "SpeechOcean762" / "kaldi_prepare.py"
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "nope"), str(tmp_path / "o"), "--splits", "x"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith("error: data folder not found")


@pytest.mark.skipif(not SO762.is_dir(), reason=f"speechocean762 absent ({SO762}): only generated data dirs tested")
def test_speechocean762_as_shipped_and_as_distributed(tmp_path):
    """The Ogg/Opus copy in ../shared, and the original layout (WAV under WAVE/, same Kaldi files)."""
    summary = kp.prepare_kaldi(SO762, tmp_path / "csv", ["train", "dev", "test"])
    assert {s: v["written"] for s, v in summary.items()} == {"train": 2500, "dev": 500, "test": 1500}
    rows = read_csv(tmp_path / "csv" / "dev.csv")
    assert 0.54 * 3600 * 0.95 < sum(float(r["duration"]) for r in rows) < 0.54 * 3600 * 1.05
    # the original distribution: WAV files under WAVE/ and wav.scp pointing there
    original = tmp_path / "original"
    (original / "dev").mkdir(parents=True)
    keep = rows[:5]
    with open(original / "dev" / "wav.scp", "w") as scp:
        for r in keep:
            wav, rate = sf.read(r["wav"], dtype="int16")
            target = original / "WAVE" / f"SPEAKER{r['spk_id']}" / f"{r['ID']}.WAV"
            target.parent.mkdir(parents=True, exist_ok=True)
            sf.write(target, wav, rate, format="WAV", subtype="PCM_16")
            scp.write(f"{r['ID']} WAVE/SPEAKER{r['spk_id']}/{r['ID']}.WAV\n")
    for name in ("text", "utt2spk"):
        (original / "dev" / name).write_text((SO762 / "dev" / name).read_text())
    summary = kp.prepare_kaldi(original, tmp_path / "csv_wav", ["dev"])
    assert summary["dev"]["written"] == 5 and summary["dev"]["skipped"] == {"no_audio": 495}
    wav_rows = read_csv(tmp_path / "csv_wav" / "dev.csv")
    assert [r["wrd"] for r in wav_rows] == [r["wrd"] for r in keep]
    assert all(abs(float(a["duration"]) - float(b["duration"])) < 0.05 for a, b in zip(wav_rows, keep))


# ---------------------------------------------------------------------------
# Issue 21


def test_edited_kaldi_files_are_prepared_again(tmp_path, caplog):
    """Item 6: an edited text (same size) or wav.scp is not 'already prepared': the CSV follows the files."""
    data = make_dir(tmp_path, texts={"u2": "hello world"})
    kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    (data / "text").write_text((data / "text").read_text().replace("u2 hello world", "u2 jello world"))
    with caplog.at_level(logging.INFO):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    assert "already prepared" not in caplog.text and "preparing it again" in caplog.text
    assert [r["wrd"] for r in read_csv(tmp_path / "csv" / "train.csv")] == ["HELLO WORLD", "JELLO WORLD", "HELLO WORLD"]
    (data / "wav.scp").write_text("\n".join((data / "wav.scp").read_text().splitlines()[:2]) + "\n")
    summary = kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    assert summary["train"] == {"written": 2, "skipped": {"no_audio": 1}}
    caplog.clear()
    with caplog.at_level(logging.INFO):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    assert "already prepared" in caplog.text  # unchanged files: still skipped


def test_too_short_segments_are_skipped_and_counted(tmp_path):
    """Item 7: a 0.001 s segment (which crashed the first training step) is skipped as too_short."""
    data = tmp_path / "train"
    data.mkdir()
    tone(tmp_path / "rec.wav", seconds=2.0)
    (data / "wav.scp").write_text("rec rec.wav\n")
    (data / "segments").write_text("a rec 0.0 0.8\nb rec 1.0 1.001\nc rec 1.2 1.3\n")  # c: exactly 0.1 s
    (data / "text").write_text("a one\nb two\nc three\n")
    (data / "utt2spk").write_text("a s\nb s\nc s\n")
    summary = kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    assert summary["train"] == {"written": 2, "skipped": {"too_short": 1}}
    assert [r["ID"] for r in read_csv(tmp_path / "csv" / "train.csv")] == ["a", "c"]
    assert kp.MIN_DURATION_S == 0.1  # the minimum the docstring and README state


@pytest.mark.parametrize("frontend", ["speechbrain", "kaldi"])
def test_min_duration_is_what_the_model_can_take(frontend):
    """Item 7: the stated minimum goes through the recipe's front-end and encoder (both front-ends); a
    0.001 s input does not (the padding RuntimeError of the issue)."""
    import torch

    from speechbrain_tinyconf.recipe.hparams import load_detached

    hp = load_detached(ROOT / "tests" / "configs" / "tiny.yaml", {"frontend": frontend})

    def forward(seconds):
        wav = 0.1 * torch.randn(1, round(seconds * 16000))
        feats = hp["normalize"](hp["compute_features"](wav), torch.ones(1), epoch=1)
        return hp["proj_enc"](hp["enc"](hp["CNN"](feats), torch.ones(1), pad_idx=0))

    assert forward(kp.MIN_DURATION_S).shape[1] >= 2  # encoder frames
    with pytest.raises((RuntimeError, AssertionError)):
        forward(0.001)


def test_bad_segment_time_names_file_and_line(tmp_path):
    """Item 13: `u2 rec x 0.5` names the file and line, not just the float parser's complaint."""
    data = tmp_path / "train"
    data.mkdir()
    tone(tmp_path / "rec.wav", seconds=2.0)
    (data / "wav.scp").write_text("rec rec.wav\n")
    (data / "segments").write_text("u1 rec 0.0 0.5\nu2 rec x 0.5\n")
    (data / "text").write_text("u1 a\nu2 b\n")
    (data / "utt2spk").write_text("u1 s\nu2 s\n")
    with pytest.raises(ValueError, match=r"train/segments, line 2: start time 'x' is not a number of seconds"):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    (data / "segments").write_text("u1 rec 0.0 0.5\nu2 rec 0.5 nan\n")
    with pytest.raises(ValueError, match=r"segments, line 2: end time 'nan' is not a number of seconds"):
        kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])


def test_directory_device_or_fifo_in_wav_scp_is_named_for_what_it_is(tmp_path):
    """Item 13: not 'missing': a ValueError naming wav.scp's line and what the path is; the CLI exits 1, one line."""
    import os

    make_dir(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    script = ROOT / "recipes" / "SpeechOcean762" / "kaldi_prepare.py"
    for path, kind in ((tmp_path / "audio", "a directory"), (Path("/dev/zero"), "a device"), (fifo, "a FIFO")):
        scp = tmp_path / "train" / "wav.scp"
        scp.write_text(f"u1 {path}\nu2 audio/u2.wav\nu3 audio/u3.wav\n")
        with pytest.raises(ValueError, match=rf"wav.scp, line 1: {path} is {kind}"):
            kp.prepare_kaldi(tmp_path, tmp_path / "csv", ["train"])
    proc = subprocess.run([sys.executable, str(script), str(tmp_path), str(tmp_path / "o"), "--splits", "train"],
                          capture_output=True, text=True, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and lines == [f"error: {scp}, line 1: {fifo} is a FIFO (named pipe), not an audio file"]
