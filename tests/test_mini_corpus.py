"""Tests for recipes/LibriSpeech/make_mini_corpus.py (synthetic TTS corpus).

The audio tests need the espeak-ng and/or flite binaries
(``bash scripts/install_tts.sh``) and are skipped otherwise; the text
generator tests always run.  Everything here takes a few seconds.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE_DIR = os.path.join(REPO, "recipes", "LibriSpeech")
SCRIPT = os.path.join(RECIPE_DIR, "make_mini_corpus.py")
SPLITS = ("train", "dev", "test")


def _load(name, path):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


text_gen = _load("mini_corpus_text", os.path.join(RECIPE_DIR, "mini_corpus_text.py"))

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
HAVE_FLITE = shutil.which("flite") is not None
needs_tts = pytest.mark.skipif(
    not (HAVE_ESPEAK or HAVE_FLITE),
    reason="TTS binaries espeak-ng and flite not found; install with `bash scripts/install_tts.sh`",
)

TINY = ["--n-train", "12", "--n-dev", "4", "--n-test", "4", "--seed", "0",
        "--jobs", "2", "--n-speakers", "8", "--heldout-speakers", "1", "--quiet"]


# ---------------------------------------------------------------------------
# Text generator only (fast, no audio)
# ---------------------------------------------------------------------------


def test_text_realistic_size_coverage_and_format():
    sp = text_gen.generate_splits(6000, 200, 200, seed=0)
    assert [len(sp[s]) for s in SPLITS] == [6000, 200, 200]
    all_sents = sp["train"] + sp["dev"] + sp["test"]
    # distinct within and across splits
    assert len(set(all_sents)) == len(all_sents)
    for s in all_sents:
        assert re.fullmatch(r"[A-Z']+( [A-Z']+)*", s), s
        assert 4 <= len(s.split()) <= 14, s
    train_vocab = set(w for s in sp["train"] for w in s.split())
    assert 300 <= len(train_vocab) <= 650
    for split in ("dev", "test"):
        tokens = [w for s in sp[split] for w in s.split()]
        cov = 100.0 * sum(w in train_vocab for w in tokens) / len(tokens)
        assert cov >= 97.0
        assert cov == pytest.approx(text_gen.word_coverage(sp["train"], sp[split]))
    # vocabulary repeats a lot: every training word is seen several times
    counts = Counter(w for s in sp["train"] for w in s.split())
    assert min(counts.values()) >= 5
    assert sum(counts.values()) / len(counts) > 50


def test_text_deterministic_and_seed_dependent():
    a = text_gen.generate_splits(300, 20, 20, seed=3)
    b = text_gen.generate_splits(300, 20, 20, seed=3)
    c = text_gen.generate_splits(300, 20, 20, seed=4)
    assert a == b
    assert a["train"] != c["train"]


def test_text_is_the_pinned_corpus():
    """The word lists (mini_corpus_words.yaml) and the grammar decide every corpus: same seed, same text as
    before (a changed word list or template changes this hash: then every generated corpus changes too)."""
    import hashlib

    sp = text_gen.generate_splits(300, 20, 20, seed=3)
    text = "\n".join(sp["train"] + sp["dev"] + sp["test"])
    assert sp["test"][0] == "DAVID RAN TO THE STATION WITH MY CAT"
    assert hashlib.sha256(text.encode()).hexdigest() == "6c59758523eb93b60b7a689e6678e7fdadb47680b3d4967655ac4e4ac4946a41"


def test_word_lists_are_found_from_any_working_directory(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(RECIPE_DIR, "mini_corpus_text.py"), "3"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3


# ---------------------------------------------------------------------------
# Audio corpus (needs TTS)
# ---------------------------------------------------------------------------


def _run(out_dir, extra=()):
    mod = _load("make_mini_corpus", SCRIPT)
    return mod.main([str(out_dir)] + TINY + list(extra))


def _read_corpus(root):
    """-> {split: {utt_id: (text, flac_path)}} checking the file layout."""
    corpus = {}
    for split in SPLITS:
        utts = {}
        split_dir = os.path.join(root, split)
        assert os.path.isdir(split_dir), split_dir
        for spk in os.listdir(split_dir):
            assert spk.isdigit()
            for chap in os.listdir(os.path.join(split_dir, spk)):
                assert chap.isdigit()
                cdir = os.path.join(split_dir, spk, chap)
                files = sorted(os.listdir(cdir))
                trans = f"{spk}-{chap}.trans.txt"
                assert trans in files
                flacs = sorted(f for f in files if f.endswith(".flac"))
                assert sorted(files) == sorted(flacs + [trans])  # nothing else
                with open(os.path.join(cdir, trans)) as f:
                    lines = f.read().splitlines()
                ids = []
                for line in lines:
                    uid, text = line.split(" ", 1)
                    assert re.fullmatch(rf"{spk}-{chap}-\d{{4}}", uid)
                    assert re.fullmatch(r"[A-Z']+( [A-Z']+)*", text)
                    ids.append(uid)
                    utts[uid] = (text, os.path.join(cdir, uid + ".flac"))
                # transcripts match the list of audio files exactly
                assert sorted(i + ".flac" for i in ids) == flacs
        corpus[split] = utts
    return corpus


@needs_tts
def test_tiny_corpus_layout_audio_stats(tmp_path):
    import soundfile as sf

    _run(tmp_path / "c")
    root = tmp_path / "c" / "LibriSpeech"
    corpus = _read_corpus(str(root))
    assert [len(corpus[s]) for s in SPLITS] == [12, 4, 4]

    for split in SPLITS:
        for uid, (text, path) in corpus[split].items():
            info = sf.info(path)
            assert info.samplerate == 16000 and info.channels == 1
            assert info.format == "FLAC"
            x, _ = sf.read(path, dtype="float32")
            assert 0.5 < len(x) / 16000 < 15.0
            assert np.abs(x).max() > 0.1
            assert np.sqrt(np.mean(x ** 2)) > 0.01  # not silent

    texts = {s: [t for t, _ in corpus[s].values()] for s in SPLITS}
    assert not set(texts["train"]) & set(texts["dev"])
    assert not set(texts["train"]) & set(texts["test"])
    assert not set(texts["dev"]) & set(texts["test"])

    stats = json.loads((root / "corpus_stats.json").read_text())
    train_vocab = set(w for t in texts["train"] for w in t.split())
    for split in SPLITS:
        st = stats["splits"][split]
        assert st["utterances"] == len(corpus[split])
        spk = {uid.split("-")[0] for uid in corpus[split]}
        assert st["speakers"] == len(spk)
        secs = sum(sf.info(p).frames for _, p in corpus[split].values()) / 16000
        assert st["hours"] == pytest.approx(secs / 3600, abs=1e-4)
        vocab = set(w for t in texts[split] for w in t.split())
        assert st["vocabulary_size"] == len(vocab)
        if split != "train":
            tokens = [w for t in texts[split] for w in t.split()]
            cov = 100.0 * sum(w in train_vocab for w in tokens) / len(tokens)
            assert st["train_word_coverage_pct"] == pytest.approx(cov, abs=1e-3)
            # held-out speakers never occur in train
            train_spk = {uid.split("-")[0] for uid in corpus["train"]}
            for sid in st["heldout_speakers"]:
                assert str(sid) not in train_spk and str(sid) in spk
    assert (root / "SPEAKERS.TXT").exists()


@needs_tts
def test_tiny_corpus_deterministic_idempotent_resume(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a)
    _run(b)
    ca = _read_corpus(str(a / "LibriSpeech"))
    cb = _read_corpus(str(b / "LibriSpeech"))
    for split in SPLITS:
        assert ca[split].keys() == cb[split].keys()
        for uid in ca[split]:
            ta, pa = ca[split][uid]
            tb, pb = cb[split][uid]
            assert ta == tb
            with open(pa, "rb") as fa, open(pb, "rb") as fb:
                assert fa.read() == fb.read(), uid
    # transcript files byte-identical
    for dirpath, _, files in os.walk(a / "LibriSpeech"):
        for f in files:
            if f.endswith(".trans.txt"):
                rel = os.path.relpath(os.path.join(dirpath, f), a)
                assert (a / rel).read_bytes() == (b / rel).read_bytes()

    # idempotent: same options -> nothing is regenerated
    stats_file = a / "LibriSpeech" / "corpus_stats.json"
    mtimes = {p: os.path.getmtime(p) for _, p in ca["train"].values()}
    capsys.readouterr()
    _run(a)
    assert "up to date" in capsys.readouterr().out
    assert {p: os.path.getmtime(p) for p in mtimes} == mtimes

    # resume: a missing file (interrupted run) is regenerated identically
    uid, (_, victim) = sorted(ca["train"].items())[0]
    ref = open(victim, "rb").read()
    os.remove(victim)
    stats_file.unlink()
    _run(a)
    assert open(victim, "rb").read() == ref
    others = [p for u, (_, p) in ca["train"].items() if u != uid]
    assert all(os.path.getmtime(p) == mtimes[p] for p in others)
    assert stats_file.exists()

    # different options on the same directory: refused without --force
    mod = _load("make_mini_corpus", SCRIPT)
    with pytest.raises(SystemExit, match="other options"):
        mod.main([str(a)] + TINY + ["--seed", "1"])


def test_missing_binaries_error(tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = dict(os.environ, PATH=str(empty_bin))
    proc = subprocess.run(
        [sys.executable, SCRIPT, str(tmp_path / "out"), "--n-train", "2",
         "--n-dev", "1", "--n-test", "1", "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.returncode != 0
    assert "espeak-ng" in proc.stderr and "flite" in proc.stderr
    assert "scripts/install_tts.sh" in proc.stderr


@pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng not found; install with `bash scripts/install_tts.sh`")
def test_fallback_to_one_engine(tmp_path):
    # Only espeak-ng on PATH: warns about flite and uses espeak-ng voices only.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(shutil.which("espeak-ng"), bindir / "espeak-ng")
    env = dict(os.environ, PATH=str(bindir))
    proc = subprocess.run(
        [sys.executable, SCRIPT, str(tmp_path / "out"), "--n-train", "3",
         "--n-dev", "1", "--n-test", "1", "--jobs", "1", "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING: flite not found" in proc.stderr
    assert "scripts/install_tts.sh" in proc.stderr
    stats = json.loads((tmp_path / "out" / "LibriSpeech" / "corpus_stats.json").read_text())
    assert stats["options"]["engines"] == ["espeak-ng"]
    assert {s["engine"] for s in stats["speakers"].values()} == {"espeak-ng"}
    # requesting the missing engine explicitly is an error naming it
    proc = subprocess.run(
        [sys.executable, SCRIPT, str(tmp_path / "out2"), "--engines", "espeak-ng,flite",
         "--n-train", "3", "--n-dev", "1", "--n-test", "1", "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.returncode != 0
    assert "flite" in proc.stderr and "scripts/install_tts.sh" in proc.stderr
