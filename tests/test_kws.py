"""Keyword spotting with the same model (issue 23, section 2): the streaming sherpa-onnx export of the tiny tone
model in ``sherpa_onnx.KeywordSpotter`` (speechbrain_tinyconf.deploy.kws, tinyconf-kws) and bench/kws_eval.py.

Times. In the tone corpus word ``k`` of an utterance spans ``[0.3 k, 0.3 k + 0.25]`` s. A keyword's reported
time (its first piece's) must lie in its word's span widened by one chunk (``CHUNK`` encoder frames, 160 ms)
on each side: the chunked encoder lets every frame of a chunk attend to the whole chunk, so the model may
emit a piece on any frame of the chunk that holds the word's evidence, up to a chunk before its onset or
after its end (the 0.05 s pauses are shorter than a chunk, so the span alone would be too strict).
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import PAUSE_S, ROOT, TONE_S, bench_script, tone_audio
from test_sherpa_onnx_wer import kaldi_dir_from
from test_sherpa_streaming import CHUNK, LEFT

CHUNK_S = 0.04 * CHUNK
slow = pytest.mark.slow  # trains (shared fixture) and exports


def kws_eval():
    return bench_script("kws_eval")


@pytest.fixture(scope="module")
def exported(trained_sherpa_run, tmp_path_factory):
    """The tiny model's streaming sherpa-onnx export, made by the command line."""
    pytest.importorskip("sherpa_onnx")
    from speechbrain_tinyconf.deploy.onnx_export import main

    out = tmp_path_factory.mktemp("kws") / "streaming"
    assert main([str(trained_sherpa_run), str(out), "--format", "sherpa-onnx", "--streaming", "--chunk-frames",
                 str(CHUNK), "--left-chunks", str(LEFT)]) == 0
    return out


def tones(words, seed=1, rate=16000):
    return tone_audio(words, np.random.default_rng(seed), rate)


def span(words, word, nth=0):
    """(start, end) in seconds of the ``nth`` ``word`` of a tone utterance of ``words``."""
    k = [i for i, w in enumerate(words) if w == word][nth]
    return k * (TONE_S + PAUSE_S), k * (TONE_S + PAUSE_S) + TONE_S


def in_span(t, word_span):
    return word_span[0] - CHUNK_S <= t <= word_span[1] + CHUNK_S


@slow
def test_streaming_export_lists_the_tokenizer(exported, trained_sherpa_run):
    config = json.loads((exported / "onnx_config.json").read_text())
    assert config["streaming"] and config["files"]["tokenizer"]["file"] == "tokenizer.model"
    (source,) = (trained_sherpa_run / "tokenizer").glob("*.model")
    assert (exported / "tokenizer.model").read_bytes() == source.read_bytes()


@slow
def test_keywords_file_spells_with_the_tokens_txt_pieces(exported):
    import sentencepiece

    from speechbrain_tinyconf.deploy.kws import KeywordSpotter, keywords_file_text

    sp = sentencepiece.SentencePieceProcessor(model_file=str(exported / "tokenizer.model"))
    symbols = {line.split()[0] for line in (exported / "tokens.txt").read_text(encoding="utf-8").splitlines()}
    green, green_cat = KeywordSpotter(exported, ["GREEN", "green  cat :2 #0.5"]).keywords
    assert green.pieces == tuple(sp.encode("GREEN", out_type=str)) and set(green.pieces) <= symbols
    assert green_cat.pieces == tuple(sp.encode("GREEN CAT", out_type=str))  # the tokenizer's pieces are upper case
    assert keywords_file_text([green, green_cat]) == (f"{' '.join(green.pieces)} :1 #0.25 @GREEN\n"
                                                      f"{' '.join(green_cat.pieces)} :2 #0.5 @green_cat\n")


@slow
def test_keyword_is_found_at_its_time_and_not_elsewhere(exported):
    from speechbrain_tinyconf.deploy.kws import KeywordSpotter

    kws = KeywordSpotter(exported, ["GREEN"])
    words = ["RED", "GREEN", "CAT"]
    (found,) = kws.detect(tones(words))
    assert found.keyword == "GREEN" and in_span(found.start, span(words, "GREEN")), found
    assert found.start <= found.end <= span(words, "GREEN")[1] + CHUNK_S
    assert list(kws.detect(tones(["RED", "BLUE", "DOG"]))) == []
    # The stream goes on after a detection: later ones keep the file's time (not the time since the last one).
    words = ["SUN", "GREEN", "MOON", "CAT", "FISH", "GREEN"]
    found = list(KeywordSpotter(exported, ["GREEN", "CAT"]).detect(tones(words, seed=2)))
    assert [d.keyword for d in found] == ["GREEN", "CAT", "GREEN"], found
    for d, word_span in zip(found, [span(words, "GREEN"), span(words, "CAT"), span(words, "GREEN", 1)]):
        assert in_span(d.start, word_span), (d, word_span)


@slow
def test_command_line_prints_file_time_keyword(exported, tmp_path, capsys):
    from speechbrain_tinyconf.deploy.kws import KeywordSpotter, keywords_file_text, main

    words = ["RED", "GREEN", "CAT"]
    plain, stereo, other = tmp_path / "a.wav", tmp_path / "b.flac", tmp_path / "c.wav"
    sf.write(plain, tones(words), 16000)
    at_44k = tones(words, seed=3, rate=44100)  # read as tinyconf-transcribe reads: resampled, averaged to mono
    sf.write(stereo, np.stack([at_44k, 0.5 * at_44k], axis=1), 44100)
    sf.write(other, tones(["SUN", "MOON"]), 16000)
    keywords_out = tmp_path / "keywords.txt"
    assert main([str(exported), "--keywords", "GREEN", str(plain), str(stereo), str(other),
                 "--keywords-out", str(keywords_out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = [line.split("\t") for line in captured.out.splitlines()]
    assert [(f, k) for f, _, k in lines] == [(str(plain), "GREEN"), (str(stereo), "GREEN")], captured.out
    for _, time, _ in lines:
        assert re.fullmatch(r"\d+\.\d\d", time) and in_span(float(time), span(words, "GREEN"))
    assert keywords_out.read_text(encoding="utf-8") == keywords_file_text(KeywordSpotter(exported, ["GREEN"]).keywords)


@pytest.fixture(scope="module")
def offline(trained_sherpa_run, tmp_path_factory):
    from speechbrain_tinyconf.deploy.onnx_export import main

    out = tmp_path_factory.mktemp("kws_offline") / "offline"
    assert main([str(trained_sherpa_run), str(out), "--format", "sherpa-onnx"]) == 0
    return out


@slow
@pytest.mark.parametrize("case, status, message", [
    ("empty entry", 2, "--keywords entry 2 is empty"),
    ("empty line", 2, "line 2 of {tmp}/kw.txt is empty"),
    ("unspellable", 2, "--keywords entry 1 'QUIZ': the model's tokenizer cannot spell 'Q', 'Z'"),
    ("bad boost", 2, "--keywords entry 1 'GREEN :x': 'x' is not a number"),
    ("bad threshold", 2, "threshold '2' must be in (0, 1]"),
    ("duplicate", 2, "--keywords entry 2 'green' spells the same pieces as 'GREEN'"),
    ("offline export", 2, "is an offline sherpa-onnx export: keyword spotting needs a streaming one"),
    ("missing folder", 2, "{tmp}/nowhere: model folder not found"),
    ("missing file", 1, "{tmp}/missing.wav: file not found"),
])
def test_bad_input_is_one_line(case, status, message, exported, tmp_path, capsys, request):
    from speechbrain_tinyconf.deploy.kws import main

    audio = tmp_path / "a.wav"
    sf.write(audio, tones(["RED", "GREEN"]), 16000)
    (tmp_path / "kw.txt").write_text("GREEN\n\nCAT\n", encoding="utf-8")
    folder, keywords, files = str(exported), ["--keywords", "GREEN"], [str(audio)]
    if case == "empty entry":
        keywords = ["--keywords", "GREEN,,CAT"]
    elif case == "empty line":
        keywords = ["--keywords-file", str(tmp_path / "kw.txt")]
    elif case == "unspellable":
        keywords = ["--keywords", "QUIZ"]
    elif case == "bad boost":
        keywords = ["--keywords", "GREEN :x"]
    elif case == "bad threshold":
        keywords = ["--keywords", "GREEN #2"]
    elif case == "duplicate":
        keywords = ["--keywords", "GREEN,green"]
    elif case == "offline export":
        folder = str(request.getfixturevalue("offline"))
    elif case == "missing folder":
        folder = str(tmp_path / "nowhere")
    elif case == "missing file":
        files = [str(tmp_path / "missing.wav")]
    capsys.readouterr()  # the offline fixture's export lines
    assert main([folder, *keywords, *files]) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: "), captured.err
    assert message.format(tmp=tmp_path) in captured.err


@slow
def test_tokenizer_of_an_older_export(exported, trained_sherpa_run, tmp_path, capsys):
    """An export without tokenizer.model asks for --tokenizer, which must be the model's own."""
    from speechbrain_tinyconf.deploy.kws import main

    old = tmp_path / "old"
    shutil.copytree(exported, old)
    config = json.loads((old / "onnx_config.json").read_text())
    del config["files"]["tokenizer"]
    (old / "onnx_config.json").write_text(json.dumps(config))
    (old / "tokenizer.model").unlink()
    audio = tmp_path / "a.wav"
    sf.write(audio, tones(["RED", "GREEN"]), 16000)
    assert main([str(old), "--keywords", "GREEN", str(audio)]) == 2
    assert "has no tokenizer.model" in capsys.readouterr().err
    (source,) = (trained_sherpa_run / "tokenizer").glob("*.model")
    assert main([str(old), "--keywords", "GREEN", "--tokenizer", str(source), str(audio)]) == 0
    assert capsys.readouterr().out.split("\t")[2] == "GREEN\n"
    foreign = ROOT / "pretrained" / "tinyconf-so762-5M" / "tokenizer.ckpt"  # 256 pieces
    assert main([str(old), "--keywords", "GREEN", "--tokenizer", str(foreign), str(audio)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "not this model's tokenizer" in captured.err


@slow
def test_python_m_prints_nothing_else(exported, tmp_path):
    """In a process of its own: the detection on stdout, the unreadable file on stderr, and nothing else."""
    audio = tmp_path / "a.wav"
    sf.write(audio, tones(["RED", "GREEN", "CAT"]), 16000)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "speechbrain_tinyconf.deploy.kws", str(exported), "--keywords",
                           "GREEN", str(audio), str(tmp_path / "missing.wav")], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 1
    assert re.fullmatch(re.escape(str(audio)) + r"\t\d+\.\d\d\tGREEN\n", proc.stdout), proc.stdout
    assert proc.stderr == f"error: {tmp_path / 'missing.wav'}: file not found\n"


# ---------------------------------------------------------------------------
# bench/kws_eval.py


def test_kws_eval_arithmetic():
    """Occurrences matched by count, false alarms only in negatives, per hour of negative audio."""
    m = kws_eval()
    positives = [("u1", "", "ONE TWO ONE"), ("u2", "", "TWO")]
    negatives = [("u3", "", "THREE"), ("u4", "", "FOUR")]
    detections = {"u1": ["ONE", "ONE", "ONE", "TWO"], "u3": ["TWO"], "u4": ["TWO", "ONE"]}
    seconds = {"u1": 2.0, "u2": 1.0, "u3": 900.0, "u4": 900.0}
    r = m.score(["ONE", "TWO"], positives, negatives, detections, seconds)
    assert r["keywords"]["ONE"] == {"occurrences": 2, "detected": 2, "false_alarms": 1, "extra_in_positives": 1,
                                    "detection_rate": 1.0, "false_alarms_per_hour": 2.0}
    assert r["keywords"]["TWO"]["detected"] == 1 and r["keywords"]["TWO"]["false_alarms"] == 2
    assert r["total"]["detection_rate"] == 0.75 and r["total"]["false_alarms_per_hour"] == 6.0
    assert r["negative_hours"] == 0.5 and r["positives"] == 2 and r["negatives"] == 2
    assert m.count_phrase("GREEN CAT GREEN CAT".split(), ["GREEN", "CAT"]) == 2
    # the rule: most frequent in the rule split, >= 3 letters, no function word, present in the evaluated split
    assert m.pick_keywords(["THE DOG RAN", "THE DOG SAT", "A CAT RAN", "OX OX OX"], ["RAN", "DOG", "ox"], 5) == [
        "DOG", "RAN"]


def test_kws_eval_reads_a_librispeech_split_as_its_kaldi_data_dir(learnable_corpus, tmp_path):
    """The demo's corpus is written in LibriSpeech layout: read_data_dir gives the same utterances, texts and audio
    as the Kaldi data dir made from it (test_sherpa_onnx_wer.kaldi_dir_from prefixes ids with a speaker)."""
    m = kws_eval()
    kaldi = m.read_data_dir(kaldi_dir_from(learnable_corpus, tmp_path / "corpus"), "test")
    libri = m.read_data_dir(learnable_corpus, "test")
    assert len(libri) == len(kaldi) == 8
    assert [(utt, text) for utt, _, text in libri] == sorted((utt.split("-", 1)[1], text) for utt, _, text in kaldi)
    by_utt = {utt.split("-", 1)[1]: path for utt, path, _ in kaldi}
    for utt, path, _ in libri:
        assert open(path, "rb").read() == open(by_utt[utt], "rb").read()


def test_kws_eval_keeps_the_named_speakers(learnable_corpus, tmp_path):
    """--speakers: LibriSpeech ids name their speaker first; a Kaldi dir's utt2spk names it; an unknown one is refused."""
    import pytest as _pytest

    m = kws_eval()
    libri = m.read_data_dir(learnable_corpus, "test")
    speaker = libri[0][0].split("-")[0]  # the tone corpus's test split has one speaker
    assert {utt.split("-")[0] for utt, _, _ in libri} == {speaker}
    assert m.of_speakers(libri, learnable_corpus / "test", [speaker]) == libri
    with _pytest.raises(ValueError, match="--speakers: 0 has no utterance"):
        m.of_speakers(libri, learnable_corpus / "test", ["0"])
    root = kaldi_dir_from(learnable_corpus, tmp_path / "corpus")  # speakers "kid" and "adult" alternate
    kaldi = m.read_data_dir(root, "test")
    assert [u for u, _, _ in m.of_speakers(kaldi, root / "test", ["kid"])] == [u for u, _, _ in kaldi if u.startswith("kid-")]
    with _pytest.raises(ValueError, match="--speakers: nobody has no utterance"):
        m.of_speakers(kaldi, root / "test", ["nobody"])


@slow
def test_kws_eval_on_the_tone_corpus(exported, learnable_corpus, tmp_path):
    """End to end on the tone corpus's test split: the counts are the spotter's own detections, counted again here."""
    from speechbrain_tinyconf.deploy.kws import KeywordSpotter

    root = kaldi_dir_from(learnable_corpus, tmp_path / "corpus")
    train = root / "train"
    train.mkdir()
    lines = [line for f in sorted((learnable_corpus / "train").rglob("*.trans.txt")) for line in f.read_text().splitlines()]
    (train / "text").write_text("\n".join(lines) + "\n")
    (train / "wav.scp").write_text("".join(f"{line.split()[0]} unused.flac\n" for line in lines))
    out = tmp_path / "out"
    m = kws_eval()
    # an entry with its own threshold (here sherpa-onnx's default, so the recount below is the same spotter):
    # the report names the keyword, not the entry
    assert m.main([str(exported), str(root), "--keywords", "GREEN #0.25,CAT", "--out", str(out)]) == 0
    report = json.loads((out / "kws_eval.json").read_text())
    items = m.read_data_dir(root, "test")
    kws = KeywordSpotter(exported, ["GREEN", "CAT"])
    occurrences = detected = false_alarms = 0
    negative_s = 0.0
    for utt, path, text in items:
        wav, rate = sf.read(path, dtype="float32")
        found = [d.keyword for d in kws.detect(wav)]
        words = text.split()
        if "GREEN" in words or "CAT" in words:
            for k in ("GREEN", "CAT"):
                occurrences += words.count(k)
                detected += min(words.count(k), found.count(k))
        else:
            false_alarms += len(found)
            negative_s += len(wav) / rate
    total = report["results"]["total"]
    assert (total["occurrences"], total["detected"], total["false_alarms"]) == (occurrences, detected, false_alarms)
    assert occurrences > 0 and detected > 0  # the check is not vacuous
    assert report["results"]["negative_hours"] == pytest.approx(negative_s / 3600)
    assert report["results"]["positives"] + report["results"]["negatives"] == len(items)
    table = (out / "kws_eval.md").read_text()
    assert "| GREEN |" in table and "| CAT |" in table and "| **all** |" in table
    # the rule picks from train and --limit cuts both groups
    assert m.main([str(exported), str(root), "--num-keywords", "2", "--limit", "1", "--out", str(tmp_path / "r")]) == 0
    rule = json.loads((tmp_path / "r" / "kws_eval.json").read_text())
    expected = m.pick_keywords(lines_text(lines), [t for _, _, t in items], 2)
    assert [k["text"] for k in rule["keywords"]] == expected and len(expected) == 2
    assert rule["results"]["positives"] <= 1 and rule["results"]["negatives"] <= 1


def lines_text(lines):
    return [line.split(maxsplit=1)[1] for line in lines]


def kws_negatives():
    return bench_script("kws_negatives")


def test_negative_sentences_hold_no_keyword_and_no_corpus_transcript():
    from itertools import islice

    m = kws_negatives()
    first = list(islice(m.keyword_free_sentences(["THE", "red"], set(), seed=3), 300))
    assert all("THE" not in s.split() and "RED" not in s.split() for s in first) and len(set(first)) == 300
    assert list(islice(m.keyword_free_sentences(["THE", "red"], set(), seed=3), 300)) == first  # deterministic
    again = list(islice(m.keyword_free_sentences(["THE", "red"], set(first[:10]), seed=3), 300))
    assert not set(first[:10]) & set(again)


def _stats_corpus(root, speakers):
    (root / "train" / "7" / "1").mkdir(parents=True)
    (root / "train" / "7" / "1" / "7-1.trans.txt").write_text("7-1-0000 THE CAT SAT ON THE MAT\n")
    (root / "corpus_stats.json").write_text(json.dumps({"speakers": speakers}))
    return root


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (bash scripts/install_tts.sh)")
def test_negatives_are_long_keyword_free_recordings_by_the_held_out_voices(tmp_path):
    """Two recordings of >= 6 s, one per held-out voice (the training voice is never used), as a Kaldi data dir
    that kws_eval reads: every utterance a negative, its text free of the keywords."""
    voice = {"engine": "espeak-ng", "voice": "en-us", "variant": "m1", "rate": 175, "pitch": 50, "word_gap": 1,
             "gain_db": -3.0, "name": "test voice"}
    corpus = _stats_corpus(tmp_path / "corpus", {"1": {**voice, "role": "train"}, "8": {**voice, "role": "heldout-test"},
                                                 "9": {**voice, "pitch": 70, "role": "heldout-test"}})
    out = tmp_path / "negs" / "long"
    assert kws_negatives().main([str(corpus), str(out), "--keywords", "RED,THE", "--minutes", "0.2",
                                 "--file-minutes", "0.1"]) == 0
    items = kws_eval().read_data_dir(out.parent, "long")
    assert [u for u, _, _ in items] == ["8-long-000", "9-long-001"]
    assert (out / "utt2spk").read_text() == "8-long-000 8\n9-long-001 9\n"
    assert (out / "spk2utt").read_text() == "8 8-long-000\n9 9-long-001\n"
    for _, path, text in items:
        assert sf.info(path).duration >= 6.0 and sf.info(path).samplerate == 16000
        assert not {"RED", "THE"} & set(text.split())
    positives, negatives = kws_eval().split_items(items, ["RED", "THE"])
    assert not positives and len(negatives) == 2


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (bash scripts/install_tts.sh)")
def test_negatives_reuse_a_sentence_only_for_the_same_voice_and_text(tmp_path, monkeypatch):
    """A rerun synthesises nothing and writes the same audio; a voice changed in corpus_stats.json is
    synthesised again for its own recordings only (the cache is keyed by voice and text)."""
    m = kws_negatives()
    voice = {"engine": "espeak-ng", "voice": "en-us", "variant": "m1", "rate": 175, "pitch": 50, "word_gap": 1,
             "gain_db": -3.0, "name": "test voice"}
    speakers = {"8": {**voice, "role": "heldout-test"}, "9": {**voice, "pitch": 70, "role": "heldout-test"}}
    corpus = _stats_corpus(tmp_path / "corpus", speakers)
    out = tmp_path / "negs" / "long"
    argv = [str(corpus), str(out), "--keywords", "RED", "--minutes", "0.2", "--file-minutes", "0.1"]
    assert m.main(argv) == 0
    first = {p.name: p.read_bytes() for p in (out / "audio").iterdir()}
    synthesised = []
    real = m.synthesize_all
    monkeypatch.setattr(m, "synthesize_all", lambda todo, *a, **k: (synthesised.extend(j[1]["pitch"] for j in todo),
                                                                    real(todo, *a, **k)))
    assert m.main(argv) == 0
    assert synthesised == [] and first == {p.name: p.read_bytes() for p in (out / "audio").iterdir()}
    speakers["9"]["pitch"] = 60
    (corpus / "corpus_stats.json").write_text(json.dumps({"speakers": speakers}))
    assert m.main(argv) == 0
    assert synthesised and set(synthesised) == {60}  # voice 8's sentences came from the cache
    assert (out / "audio" / "8-long-000.flac").read_bytes() == first["8-long-000.flac"]


def test_negatives_refuse_a_folder_without_corpus_stats_or_voices(tmp_path, capsys):
    m = kws_negatives()
    assert m.main([str(tmp_path), str(tmp_path / "o"), "--keywords", "RED"]) == 2
    assert "corpus_stats.json: not found" in capsys.readouterr().err
    corpus = _stats_corpus(tmp_path / "c", {"1": {"role": "train"}})
    assert m.main([str(corpus), str(tmp_path / "o"), "--keywords", "RED"]) == 2
    assert "no speaker with role 'heldout-test'" in capsys.readouterr().err


def test_a_keyword_phrase_is_excluded_as_kws_eval_counts_it():
    """Multi-word keywords are word sequences (kws_eval.count_phrase), in a sentence or across the join of two."""
    m = kws_negatives()
    assert m.holds_keyword("THE BIG RED DOG", ["red dog"]) and not m.holds_keyword("THE RED BIG DOG", ["red dog"])
    assert m.holds_keyword("A DOG IS RED DOG", ["RED DOG", "CAT"])


def _kws_report(folder, detected, occurrences, false_alarms, hours, keywords=("ONE", "TWO")):
    per = {k: {"detection_rate": d / o if o else None} for k, d, o in zip(keywords, detected, occurrences)}
    report = {"settings": {"threshold": 0.25, "boost": 1.0},
              "results": {"keywords": per, "negative_hours": hours,
                          "total": {"detected": sum(detected), "occurrences": sum(occurrences),
                                    "false_alarms": false_alarms}}}
    folder.mkdir(parents=True)
    (folder / "kws_eval.json").write_text(json.dumps(report))
    return folder


def test_kws_compare_table_from_runs_and_kws_eval_outputs(tmp_path):
    """One row per model: its run's test WER, detection on the test split, false alarms per hour on the
    keyword-free audio (not on the test split), and each keyword's rate; models on other keywords refused."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "wer_test.txt").write_text("%WER 31.57 [ 494 / 1565, 20 ins, 80 del, 394 sub ]\n")
    test = _kws_report(tmp_path / "test", [3, 1], [4, 4], 7, 0.1)
    neg = _kws_report(tmp_path / "neg", [0, 0], [0, 0], 9, 2.0)
    out = tmp_path / "out"
    assert bench_script("kws_compare").main(["--model", "reset", str(run), str(test), str(neg), "--out", str(out)]) == 0
    rows = [line for line in (out / "kws_compare.md").read_text().splitlines() if line.startswith("| reset")]
    assert rows == ["| reset | 31.57 | 1 | 0.25 | 50.0 % (4/8) | 4.5 (9) | 75 % | 25 % |"]
    boosted = _kws_report(tmp_path / "boosted", [0, 0], [0, 0], 30, 2.0)
    report = json.loads((boosted / "kws_eval.json").read_text())
    report["settings"]["boost"] = 2.0
    (boosted / "kws_eval.json").write_text(json.dumps(report))  # false alarms at another boost: refused
    assert bench_script("kws_compare").main(["--model", "a", str(run), str(test), str(boosted), "--out", str(out)]) == 1
    other = _kws_report(tmp_path / "other", [1], [1], 0, 0.1, keywords=("THREE",))
    assert bench_script("kws_compare").main(["--model", "a", str(run), str(test), str(neg),
                                             "--model", "b", str(run), str(other), str(neg), "--out", str(out)]) == 1


def test_kws_compare_names_a_missing_report(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    assert bench_script("kws_compare").main(["--model", "x", str(run), str(tmp_path / "nope"), str(tmp_path / "nope"),
                                             "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path / 'nope' / 'kws_eval.json'}: not found (a bench/kws_eval.py --out folder)"]


@slow
def test_kws_context_prior_on_the_tone_model(trained_sherpa_run, learnable_corpus, capsys):
    """The diagnosis of docs/deployment.md: at each emission of a keyword's first piece, that piece's
    probability after the previous token is what greedy search chose (the most likely token, so above
    1 / vocabulary), and the one after blank is a probability; a row per keyword."""
    m = bench_script("kws_context_prior")
    assert m.main([str(trained_sherpa_run), str(learnable_corpus), "--split", "test", "--keywords", "GREEN,CAT"]) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith(("| GREEN", "| CAT"))]
    assert [r[0] for r in rows] == ["| GREEN", "| CAT"]
    emitted = [r for r in rows if int(r[2]) > 0]
    assert emitted, rows  # the tone model says its words
    for r in emitted:
        after_prev, after_blank = float(r[3]), float(r[4].rstrip(" |"))
        assert 0 < after_blank <= 1 and 1 / 24 < after_prev <= 1  # vocab_size 24 (tests/configs/tiny.yaml)


def test_kws_context_prior_refuses_an_empty_keyword_list(capsys):
    assert bench_script("kws_context_prior").main(["model", "corpus", "--keywords", " , "]) == 1
    assert capsys.readouterr().err.strip() == "error: --keywords=' , ': no keyword"
