"""Tests for recipes/LibriSpeech/librispeech_prepare.py (and its librispeech_scan.py, prepare_io.py).

Tests on real recordings use ../shared/librispeech-sample and skip when it is
absent; the bad-input tests build small corpora in tmp_path with soundfile.
"""

import csv
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "recipes" / "LibriSpeech" / "librispeech_prepare.py"
SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "librispeech-sample"
LIBRI = SAMPLE / "LibriSpeech"
HEADER = ["ID", "duration", "wav", "spk_id", "wrd"]

_spec = importlib.util.spec_from_file_location("librispeech_prepare", SCRIPT)
lp = importlib.util.module_from_spec(_spec)
sys.modules["librispeech_prepare"] = lp
_spec.loader.exec_module(lp)
prepare_librispeech = lp.prepare_librispeech
import prepare_io  # noqa: E402  (beside it: loading librispeech_prepare put its folder on sys.path)


# ---------------------------------------------------------------- helpers


@pytest.fixture
def libri():
    if not LIBRI.is_dir():
        pytest.skip(f"real LibriSpeech sample not found at {LIBRI} (../shared absent)")
    return LIBRI


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], [dict(zip(rows[0], row)) for row in rows[1:]]


def read_trans(folder):
    out = {}
    for trans in Path(folder).rglob("*.trans.txt"):
        for line in trans.read_text().splitlines():
            if line.strip():
                utt, text = line.split(" ", 1)
                out[utt] = text
    return out


def write_audio(path, n_frames=1600, sr=16000, channels=1):
    rng = np.random.default_rng(0)
    data = 0.1 * rng.standard_normal((n_frames, channels) if channels > 1 else n_frames)
    sf.write(str(path), data, sr)


def build_corpus(root, split="dev", utts=None, ext=".flac"):
    """Write a tiny LibriSpeech-layout corpus; returns the data folder."""
    if utts is None:
        utts = {
            "11-100-0000": "HELLO WORLD",
            "11-100-0001": "SECOND LINE",
            "22-200-0000": "ANOTHER SPEAKER",
        }
    data = Path(root) / "LibriSpeech"
    chapters = {}
    for i, (utt, text) in enumerate(sorted(utts.items())):
        spk, chapter, _ = utt.split("-")
        folder = data / split / spk / chapter
        folder.mkdir(parents=True, exist_ok=True)
        write_audio(folder / f"{utt}{ext}", n_frames=1600 + 160 * i)
        chapters.setdefault(folder / f"{spk}-{chapter}.trans.txt", []).append(f"{utt} {text}")
    for trans, lines in chapters.items():
        trans.write_text("\n".join(lines) + "\n")
    return data


def chapter_dir(data, utt, split="dev"):
    spk, chapter, _ = utt.split("-")
    return data / split / spk / chapter


def ids(csv_path):
    return [row["ID"] for row in read_csv(csv_path)[1]]


# ---------------------------------------------------------------- real sample


def test_real_sample_csvs(libri, tmp_path):
    out = tmp_path / "save"
    summary = prepare_librispeech(libri, out, splits=["dev-clean-2", "test-clean"])
    assert summary == {
        "dev-clean-2": {"written": 10, "skipped": {}},
        "test-clean": {"written": 4, "skipped": {}},
    }
    for split, n in (("dev-clean-2", 10), ("test-clean", 4)):
        header, rows = read_csv(out / f"{split}.csv")
        assert header == HEADER
        assert len(rows) == n
        assert [r["ID"] for r in rows] == sorted(r["ID"] for r in rows)
        trans = read_trans(libri / split)
        assert {r["ID"] for r in rows} == set(trans)
        for row in rows:
            wav = Path(row["wav"])
            assert wav.is_absolute() and wav.is_file()
            assert wav.name == row["ID"] + ".flac"
            info = sf.info(str(wav))
            assert abs(float(row["duration"]) - info.frames / info.samplerate) < 1e-3
            assert row["wrd"] == trans[row["ID"]]
            assert row["spk_id"] == row["ID"].split("-")[0]


def test_real_sample_loads_with_speechbrain(libri, tmp_path):
    from speechbrain.dataio.dataio import load_data_csv, read_audio

    prepare_librispeech(libri, tmp_path, splits=["test-clean"])
    data = load_data_csv(str(tmp_path / "test-clean.csv"))
    assert sorted(data) == sorted(read_trans(libri / "test-clean"))
    item = data["1089-134686-0001"]
    assert item["wrd"] == "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM"
    signal = read_audio(item["wav"])
    assert abs(len(signal) / 16000 - item["duration"]) < 1e-3


def test_validate_audio_on_real_sample(libri, tmp_path):
    summary = prepare_librispeech(libri, tmp_path, splits=["test-clean"], validate_audio=True)
    assert summary["test-clean"] == {"written": 4, "skipped": {}}


# ---------------------------------------------------------------- idempotence


def test_second_call_skips_and_keeps_file(libri, tmp_path, caplog):
    first = prepare_librispeech(libri, tmp_path, splits=["test-clean"])
    csv_path = tmp_path / "test-clean.csv"
    mtime = csv_path.stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="librispeech_prepare"):
        second = prepare_librispeech(libri, tmp_path, splits=["test-clean"])
    assert second == first
    assert csv_path.stat().st_mtime_ns == mtime
    assert "already prepared" in caplog.text


def test_changed_options_regenerate(tmp_path, caplog):
    data = build_corpus(tmp_path / "corpus")
    out = tmp_path / "save"
    prepare_librispeech(data, out, splits=["dev"])
    assert len(ids(out / "dev.csv")) == 3

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="librispeech_prepare"):
        summary = prepare_librispeech(data, out, splits=["dev"], select_n_sentences=2)
    assert "already prepared" not in caplog.text
    assert summary["dev"]["written"] == 2
    assert ids(out / "dev.csv") == ["11-100-0000", "11-100-0001"]
    opts = json.loads((out / "prepare_opts.json").read_text())
    assert opts["splits"]["dev"]["options"]["select_n_sentences"] == 2

    # Another data folder with the same split name is another CSV too.
    other = build_corpus(tmp_path / "corpus2", utts={"33-300-0000": "ONLY ONE"})
    prepare_librispeech(other, out, splits=["dev"], select_n_sentences=2)
    assert ids(out / "dev.csv") == ["33-300-0000"]


def test_deleted_csv_is_rebuilt(tmp_path):
    data = build_corpus(tmp_path / "corpus")
    out = tmp_path / "save"
    prepare_librispeech(data, out, splits=["dev"])
    (out / "dev.csv").unlink()
    prepare_librispeech(data, out, splits=["dev"])
    assert len(ids(out / "dev.csv")) == 3


def test_idempotent_skip_returns_recorded_skip_counts(tmp_path):
    data = build_corpus(tmp_path / "corpus")
    (chapter_dir(data, "22-200-0000") / "22-200-0000.flac").unlink()
    first = prepare_librispeech(data, tmp_path / "save", splits=["dev"])
    second = prepare_librispeech(data, tmp_path / "save", splits=["dev"])
    assert first == second == {"dev": {"written": 2, "skipped": {"missing_audio": 1}}}


def test_skip_prep_does_nothing(tmp_path):
    assert prepare_librispeech(tmp_path / "nowhere", tmp_path / "save", skip_prep=True) == {}
    assert not (tmp_path / "save").exists()


# ---------------------------------------------------------------- atomic write


def test_no_tmp_left_and_failed_write_keeps_old_csv(tmp_path, monkeypatch):
    data = build_corpus(tmp_path / "corpus")
    out = tmp_path / "save"
    prepare_librispeech(data, out, splits=["dev"], select_n_sentences=1)
    assert sorted(p.name for p in out.iterdir()) == ["dev.csv", "prepare_opts.json"]
    before = (out / "dev.csv").read_bytes()

    real_writer = csv.writer

    class Interrupted(Exception):
        pass

    def failing_writer(*args, **kwargs):
        writer = real_writer(*args, **kwargs)

        class Wrapper:
            calls = 0

            def writerow(self, row):
                Wrapper.calls += 1
                if Wrapper.calls == 3:
                    raise Interrupted("simulated crash")
                return writer.writerow(row)

        return Wrapper()

    monkeypatch.setattr(lp.csv, "writer", failing_writer)
    with pytest.raises(Interrupted):
        prepare_librispeech(data, out, splits=["dev"])
    monkeypatch.undo()

    assert (out / "dev.csv").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["dev.csv", "prepare_opts.json"]
    # The record still describes the old CSV, so the old options still skip ...
    assert prepare_librispeech(data, out, splits=["dev"], select_n_sentences=1)["dev"]["written"] == 1
    assert (out / "dev.csv").read_bytes() == before
    # ... and the new options rebuild it.
    assert prepare_librispeech(data, out, splits=["dev"])["dev"]["written"] == 3


# ---------------------------------------------------------------- formats


def test_wav_files_and_lowercase_text_accepted(tmp_path):
    data = build_corpus(tmp_path / "corpus", utts={"11-100-0000": "hello there"}, ext=".wav")
    prepare_librispeech(data, tmp_path / "save", splits=["dev"])
    (row,) = read_csv(tmp_path / "save" / "dev.csv")[1]
    assert row["wav"].endswith("11-100-0000.wav")
    assert row["wrd"] == "HELLO THERE"
    assert float(row["duration"]) == pytest.approx(0.1)


def test_csv_quoting_of_awkward_paths(tmp_path):
    data = build_corpus(tmp_path / 'odd, "dir"')
    prepare_librispeech(data, tmp_path / "save", splits=["dev"])
    header, rows = read_csv(tmp_path / "save" / "dev.csv")
    assert header == HEADER
    for row in rows:
        assert Path(row["wav"]).is_file()
        assert ', "dir"' in row["wav"]


def test_flac_and_wav_for_same_utterance_is_error(tmp_path):
    data = build_corpus(tmp_path / "corpus")
    write_audio(chapter_dir(data, "11-100-0000") / "11-100-0000.wav")
    with pytest.raises(ValueError, match="11-100-0000.wav"):
        prepare_librispeech(data, tmp_path / "save", splits=["dev"])


# ---------------------------------------------------------------- bad input


def test_missing_split_names_path_and_existing_splits(tmp_path):
    data = build_corpus(tmp_path / "corpus")
    out = tmp_path / "save"
    with pytest.raises(FileNotFoundError) as err:
        prepare_librispeech(data, out, splits=["dev", "test-clean"])
    message = str(err.value)
    assert str(data.resolve() / "test-clean") in message
    assert "dev" in message.split("present")[1]
    # Nothing was prepared for the split that does exist either.
    assert not (out / "dev.csv").exists()


def test_missing_data_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        prepare_librispeech(tmp_path / "nowhere", tmp_path / "save", splits=["dev"])


def test_transcript_line_without_audio_is_skipped(tmp_path, caplog):
    data = build_corpus(tmp_path / "corpus")
    (chapter_dir(data, "11-100-0001") / "11-100-0001.flac").unlink()
    with caplog.at_level(logging.WARNING):
        summary = prepare_librispeech(data, tmp_path / "save", splits=["dev"])
    assert summary["dev"] == {"written": 2, "skipped": {"missing_audio": 1}}
    assert "11-100-0001" not in ids(tmp_path / "save" / "dev.csv")
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1
    assert "11-100.trans.txt" in warning[0] and "11-100-0001" in warning[0]


def test_audio_without_transcript_is_skipped(tmp_path, caplog):
    data = build_corpus(tmp_path / "corpus")
    extra = chapter_dir(data, "11-100-0000") / "11-100-0009.flac"
    write_audio(extra)
    with caplog.at_level(logging.WARNING):
        summary = prepare_librispeech(data, tmp_path / "save", splits=["dev"])
    assert summary["dev"] == {"written": 3, "skipped": {"no_transcript": 1}}
    assert "11-100-0009" not in ids(tmp_path / "save" / "dev.csv")
    assert str(extra) in caplog.text


def test_corrupt_audio_is_skipped(tmp_path, caplog):
    data = build_corpus(tmp_path / "corpus")
    bad = chapter_dir(data, "22-200-0000") / "22-200-0000.flac"
    bad.write_bytes(b"this is not a flac file")
    with caplog.at_level(logging.WARNING):
        summary = prepare_librispeech(data, tmp_path / "save", splits=["dev"])
    assert summary["dev"] == {"written": 2, "skipped": {"unreadable": 1}}
    assert "22-200-0000" not in ids(tmp_path / "save" / "dev.csv")
    assert str(bad) in caplog.text and "unreadable" in caplog.text


def test_truncated_flac_caught_only_when_validating(libri, tmp_path, caplog):
    src = libri / "test-clean" / "1089" / "134686"
    data = tmp_path / "LibriSpeech"
    dst = data / "dev" / "1089" / "134686"
    shutil.copytree(src, dst)
    victim = dst / "1089-134686-0000.flac"
    payload = victim.read_bytes()
    victim.write_bytes(payload[: len(payload) // 3])

    # The header is intact, so a header-only scan cannot see the damage.
    assert prepare_librispeech(data, tmp_path / "save", splits=["dev"])["dev"]["written"] == 2
    # Same save folder: switching validation on is an option change -> rebuilt.
    with caplog.at_level(logging.WARNING):
        summary = prepare_librispeech(data, tmp_path / "save", splits=["dev"], validate_audio=True)
    assert summary["dev"] == {"written": 1, "skipped": {"unreadable": 1}}
    assert ids(tmp_path / "save" / "dev.csv") == ["1089-134686-0001"]
    assert str(victim) in caplog.text


def test_zero_length_audio_is_skipped(tmp_path, caplog):
    data = build_corpus(tmp_path / "corpus", ext=".wav")
    empty = chapter_dir(data, "11-100-0000") / "11-100-0000.wav"
    sf.write(str(empty), np.zeros(0), 16000)
    with caplog.at_level(logging.WARNING):
        summary = prepare_librispeech(data, tmp_path / "save", splits=["dev"])
    assert summary["dev"] == {"written": 2, "skipped": {"empty_audio": 1}}
    assert "11-100-0000" not in ids(tmp_path / "save" / "dev.csv")
    assert str(empty) in caplog.text


def test_wrong_sample_rate_is_error(tmp_path):
    data = build_corpus(tmp_path / "corpus")
    wrong = chapter_dir(data, "22-200-0000") / "22-200-0000.flac"
    write_audio(wrong, sr=8000)
    with pytest.raises(ValueError) as err:
        prepare_librispeech(data, tmp_path / "save", splits=["dev"])
    assert str(wrong) in str(err.value)
    assert "8000" in str(err.value) and "16000" in str(err.value)
    assert not (tmp_path / "save" / "dev.csv").exists()


def test_sample_rate_option_is_honoured(tmp_path):
    data = build_corpus(tmp_path / "corpus")
    with pytest.raises(ValueError, match="expected 8000 Hz"):
        prepare_librispeech(data, tmp_path / "save", splits=["dev"], sample_rate=8000)


def test_stereo_audio_is_error(tmp_path):
    data = build_corpus(tmp_path / "corpus")
    stereo = chapter_dir(data, "11-100-0000") / "11-100-0000.flac"
    write_audio(stereo, channels=2)
    with pytest.raises(ValueError, match="2 channels"):
        prepare_librispeech(data, tmp_path / "save", splits=["dev"])


@pytest.mark.parametrize(
    "bad_line, lineno, fragment",
    [
        ("11-100-0001", 2, "no words"),
        ("22-200-0005 WRONG CHAPTER", 2, "malformed utterance id"),
        ("11-100-abcd SOME WORDS", 2, "malformed utterance id"),
        ("11-100-0000 DUPLICATE", 2, "already listed"),
    ],
)
def test_malformed_transcript_line_is_error(tmp_path, bad_line, lineno, fragment):
    data = build_corpus(tmp_path / "corpus")
    trans = chapter_dir(data, "11-100-0000") / "11-100.trans.txt"
    trans.write_text(f"11-100-0000 HELLO WORLD\n{bad_line}\n")
    with pytest.raises(ValueError) as err:
        prepare_librispeech(data, tmp_path / "save", splits=["dev"])
    message = str(err.value)
    assert str(trans) in message and f"line {lineno}" in message and fragment in message
    assert not (tmp_path / "save" / "dev.csv").exists()


def test_blank_transcript_lines_are_ignored(tmp_path):
    data = build_corpus(tmp_path / "corpus")
    trans = chapter_dir(data, "11-100-0000") / "11-100.trans.txt"
    trans.write_text("\n11-100-0000 HELLO WORLD\n   \n11-100-0001 SECOND LINE\n\n")
    assert prepare_librispeech(data, tmp_path / "save", splits=["dev"])["dev"]["written"] == 3


def test_split_with_everything_skipped_is_error(tmp_path):
    data = build_corpus(tmp_path / "corpus", utts={"11-100-0000": "ONLY ONE"})
    (chapter_dir(data, "11-100-0000") / "11-100-0000.flac").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="no usable utterance"):
        prepare_librispeech(data, tmp_path / "save", splits=["dev"])
    assert not (tmp_path / "save" / "dev.csv").exists()


def test_empty_split_is_error(tmp_path):
    (tmp_path / "LibriSpeech" / "dev").mkdir(parents=True)
    with pytest.raises(ValueError, match="dev"):
        prepare_librispeech(tmp_path / "LibriSpeech", tmp_path / "save", splits=["dev"])


def test_bad_select_n_sentences(tmp_path):
    data = build_corpus(tmp_path / "corpus")
    with pytest.raises(ValueError, match="select_n_sentences"):
        prepare_librispeech(data, tmp_path / "save", splits=["dev"], select_n_sentences=0)


# ---------------------------------------------------------------- CLI


def test_cli(tmp_path):
    data = build_corpus(tmp_path / "corpus")
    out = tmp_path / "save"
    cmd = [sys.executable, str(SCRIPT), str(data), str(out), "--splits", "dev"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"dev": {"written": 3, "skipped": {}}}
    assert len(ids(out / "dev.csv")) == 3
    assert "written 3" in run.stderr

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert again.returncode == 0 and "already prepared" in again.stderr

    missing = subprocess.run(
        cmd[:-1] + ["nope"], capture_output=True, text=True, timeout=60, env=env
    )
    assert missing.returncode == 1
    assert str(data.resolve() / "nope") in missing.stderr


def test_merge_csvs_concatenates_rows_under_one_header(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text('ID,duration,wav,spk_id,wrd\n1-1-0000,1.5,/x/a.flac,1,"HELLO, WORLD"\n')
    b.write_text("ID,duration,wav,spk_id,wrd\n2-1-0000,2.0,/x/b.flac,2,BYE\n2-1-0001,2.5,/x/c.flac,2,AGAIN\n")
    target = tmp_path / "train.csv"
    prepare_io.merge_csvs([a, b], target)
    header, rows = read_csv(target)
    assert header == ["ID", "duration", "wav", "spk_id", "wrd"]
    assert [r["ID"] for r in rows] == ["1-1-0000", "2-1-0000", "2-1-0001"]
    assert rows[0]["wrd"] == "HELLO, WORLD"
    assert not list(tmp_path.glob("*.tmp"))
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,wav\n3,/x\n")
    with pytest.raises(ValueError, match="bad.csv: header"):
        prepare_io.merge_csvs([a, bad], tmp_path / "out.csv")


def test_merge_csvs_names_the_csvs_that_share_an_id(tmp_path):
    a, b = tmp_path / "train-clean-100.csv", tmp_path / "train-other-500.csv"
    a.write_text("ID,duration,wav,spk_id,wrd\n1-1-0000,1.5,/x/a.flac,1,HELLO\n")
    b.write_text("ID,duration,wav,spk_id,wrd\n2-1-0000,2.0,/x/b.flac,2,BYE\n1-1-0000,2.5,/y/a.flac,1,AGAIN\n")
    target = tmp_path / "train.csv"
    with pytest.raises(ValueError, match=r"utterance id 1-1-0000 is in both .*train-clean-100.csv and .*train-other-500.csv"):
        prepare_io.merge_csvs([a, b], target)
    assert not target.exists() and not list(tmp_path.glob("*.tmp"))
