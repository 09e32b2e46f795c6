"""bench/sherpa_onnx_wer.py: the deployed model's WER is the PyTorch greedy WER, scored like every real-speech row."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "sherpa_onnx_wer.py"

pytestmark = pytest.mark.slow  # trains (shared fixture) and exports


def kaldi_dir_from(corpus: Path, root: Path) -> Path:
    """The tone corpus's test split as a Kaldi data dir (paths relative to ``root``), two speakers: a child, an adult."""
    data = root / "test"
    data.mkdir(parents=True)
    (root / "audio").mkdir()
    wav, text, utt2spk = [], [], []
    for i, trans in enumerate(sorted((corpus / "test").rglob("*.trans.txt"))):
        for line in trans.read_text().splitlines():
            utt, words = line.split(maxsplit=1)
            spk = "kid" if len(wav) % 2 else "adult"
            target = root / "audio" / f"{spk}-{utt}.flac"
            target.write_bytes((trans.parent / f"{utt}.flac").read_bytes())
            wav.append(f"{spk}-{utt} audio/{target.name}")
            text.append(f"{spk}-{utt} {words.lower()}")
            utt2spk.append(f"{spk}-{utt} {spk}")
    (data / "wav.scp").write_text("\n".join(wav) + "\n")
    (data / "text").write_text("\n".join(text) + "\n")
    (data / "utt2spk").write_text("\n".join(utt2spk) + "\n")
    (data / "spk2age").write_text("kid 9\nadult 30\n")
    return root


def pytorch_wer(run: Path, root: Path) -> float:
    """WER of SpeechBrain's greedy search (one token per frame, as sherpa-onnx) with the same scoring."""
    import sentencepiece
    from speechbrain.utils.metric_stats import ErrorRateStats

    from speechbrain_tinyconf.deploy.load import load_transducer

    mods = load_transducer(run)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(mods.tokenizer_path))
    stats = ErrorRateStats()
    wavs = dict(line.split() for line in (root / "test" / "wav.scp").read_text().splitlines())
    for line in (root / "test" / "text").read_text().splitlines():
        utt, words = line.split(maxsplit=1)
        audio = torch.from_numpy(sf.read(root / wavs[utt], dtype="float32")[0])
        with torch.no_grad():
            hyp = mods.greedy_searcher().transducer_greedy_decode(mods.encode(audio[None]), max_symbols_per_step=0)[0][0]
        stats.append([utt], [sp.decode_ids(hyp).upper().split()], [words.upper().split()])
    return stats.summarize("error_rate")


def test_deployed_wer_equals_pytorch_greedy(trained_sherpa_run, learnable_corpus, tmp_path):
    pytest.importorskip("sherpa_onnx")
    root = kaldi_dir_from(learnable_corpus, tmp_path / "corpus")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(trained_sherpa_run), str(root), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary_test.json").read_text())
    expected = pytorch_wer(trained_sherpa_run, root)
    assert expected < 50  # the model transcribes: the comparison is not between two empty outputs
    assert summary["fp32"]["all"]["wer"] == pytest.approx(expected, abs=0.01)
    assert summary["fp32"]["children"]["utterances"] + summary["fp32"]["adults"]["utterances"] == 8
    # int8 on this model: same tokens on every file when measured (tests/test_onnx_int8*.py); allow one word
    assert summary["int8"]["all"]["errors"] <= summary["fp32"]["all"]["errors"] + 1
    # int8 files are smaller; measured 0.63x on this tiny model (norms, biases and small convs stay fp32),
    # 0.32x on the 1.3 M real-speech model
    assert summary["int8"]["model_bytes"] < 0.8 * summary["fp32"]["model_bytes"]
    assert (out / "wer_test_fp32.txt").is_file() and (out / "wer_test_int8.txt").is_file()
    # int4 (MatMulNBits, blocks of 32) is coarser: measured 10 word errors against fp32's 7 on this tiny
    # model (d_model 32: one block per weight column) on 2026-12-01; allow +5, and it is the smallest
    assert summary["int4"]["all"]["errors"] <= summary["fp32"]["all"]["errors"] + 5
    assert summary["int4"]["model_bytes"] < summary["int8"]["model_bytes"]


def test_missing_data_dir_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), str(tmp_path / "nowhere"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "wav.scp" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_streaming_rows_decode_complete_chunks(trained_sherpa_run, learnable_corpus, tmp_path):
    """--streaming-chunk-frames adds OnlineRecognizer rows (fp32, int8). A chunk longer than every tone file
    (64 frames = 2.56 s) is only decoded once complete: with 0.8 s of silence fed at the end instead of a chunk,
    every hypothesis was empty (100 % WER, seen). The streaming encoder itself is checked token by token
    against PyTorch's streaming in tests/test_sherpa_streaming.py; this model was not trained with chunks, so
    its streaming WER is not its offline one (measured 46.15 % against 26.92 %)."""
    pytest.importorskip("sherpa_onnx")
    root = kaldi_dir_from(learnable_corpus, tmp_path / "corpus")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(trained_sherpa_run), str(root), "--out", str(out),
                           "--streaming-chunk-frames", "64"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary_test.json").read_text())
    rows = {k: v for k, v in summary.items() if k.startswith("streaming")}
    assert set(rows) == {"streaming 2560 ms fp32", "streaming 2560 ms int8"}
    assert rows["streaming 2560 ms fp32"]["all"]["utterances"] == 8
    assert rows["streaming 2560 ms fp32"]["all"]["wer"] < 80  # words come out of the last chunk
    assert rows["streaming 2560 ms int8"]["model_bytes"] < rows["streaming 2560 ms fp32"]["model_bytes"]
    assert (out / "wer_test_streaming2560ms_int8.txt").is_file()
