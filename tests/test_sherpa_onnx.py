"""Export to sherpa-onnx: sherpa-onnx's own recognizer gives the PyTorch model's greedy tokens."""

from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch

from speechbrain_tinyconf.deploy.load import load_transducer
from speechbrain_tinyconf.deploy.sherpa import export_sherpa_onnx, sherpa_files
from speechbrain_tinyconf.deploy.onnx_export import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "librispeech-sample" / "LibriSpeech"

pytestmark = pytest.mark.slow  # trains and exports


@pytest.fixture(scope="module")
def sherpa_onnx():
    return pytest.importorskip("sherpa_onnx")


@pytest.fixture(scope="module")
def exported(trained_sherpa_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("sherpa")
    export_sherpa_onnx(load_transducer(trained_sherpa_run), out, int8=True)
    return out


def audio_files(corpus):
    files = sorted((corpus / "test").rglob("*.flac")) + sorted((corpus / "dev").rglob("*.flac"))
    return files + sorted(SAMPLE.rglob("*.flac"))[:2]


def pytorch_pieces(mods, wav) -> list:
    """SpeechBrain's greedy search, one token per frame at most (what sherpa-onnx's greedy search does)."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(mods.tokenizer_path))
    with torch.no_grad():
        tokens = mods.greedy_searcher().transducer_greedy_decode(mods.encode(wav[None]), max_symbols_per_step=0)[0][0]
    return [sp.id_to_piece(t).replace("\u2581", " ") for t in tokens]  # sherpa-onnx shows the word marker as a space


def sherpa_pieces(recognizer, wav) -> list:
    stream = recognizer.create_stream()
    stream.accept_waveform(16000, wav)
    recognizer.decode_stream(stream)
    return list(stream.result.tokens)


def test_offline_recognizer_gives_the_pytorch_tokens(sherpa_onnx, trained_sherpa_run, exported, learnable_corpus):
    mods = load_transducer(trained_sherpa_run)
    recognizers = {
        precision: sherpa_onnx.OfflineRecognizer.from_transducer(
            *sherpa_files(exported, precision), num_threads=1, sample_rate=16000, feature_dim=80,
            decoding_method="greedy_search")
        for precision in ("fp32", "int8")
    }
    emitted, agree = 0, []
    for path in audio_files(learnable_corpus):
        wav = sf.read(path, dtype="float32")[0]
        ref = pytorch_pieces(mods, torch.from_numpy(wav))
        assert sherpa_pieces(recognizers["fp32"], wav) == ref, path
        emitted += len(ref)
        agree.append(sherpa_pieces(recognizers["int8"], wav) == ref)
    assert emitted > 20  # the comparison is not vacuous
    assert np.mean(agree) >= 0.9, agree  # int8: same tokens on (nearly) every file


def test_metadata_and_tokens(exported, trained_sherpa_run):
    import sentencepiece

    mods = load_transducer(trained_sherpa_run)
    meta = {p.key: p.value for p in onnx.load(str(exported / "decoder.onnx")).metadata_props}
    vocab = mods.transducer_lin.w.out_features
    assert meta == {"vocab_size": str(vocab), "context_size": "1"}
    int8_meta = {p.key: p.value for p in onnx.load(str(exported / "decoder.int8.onnx")).metadata_props}
    assert int8_meta == meta
    sp = sentencepiece.SentencePieceProcessor(model_file=str(mods.tokenizer_path))
    lines = (exported / "tokens.txt").read_text().splitlines()
    assert len(lines) == vocab == sp.get_piece_size() and lines[0] == "<blk> 0"
    assert all(line == f"{sp.id_to_piece(i)} {i}" for i, line in enumerate(lines) if i)


def test_refusals_name_the_option(trained_run, trained_sherpa_run, tmp_path, capsys):
    assert main([str(trained_run), str(tmp_path / "a"), "--format", "sherpa-onnx"]) == 2
    assert "train with frontend: kaldi" in capsys.readouterr().err
    gru_kaldi = load_transducer(trained_run)
    from speechbrain_tinyconf.lobes.frontend import KaldiFbank
    from speechbrain_tinyconf.deploy.sherpa import SherpaExportError

    gru_kaldi.compute_features = KaldiFbank()
    with pytest.raises(SherpaExportError, match="train with predictor: stateless"):
        export_sherpa_onnx(gru_kaldi, tmp_path / "c")


def test_sherpa_files_returns_listed_files_only(exported, tmp_path):
    """Issue 21 item 2: graphs the export's onnx_config.json does not list (an earlier export's int8 files, say)
    are never handed to sherpa-onnx; a listed file changed since is refused, naming it."""
    import json
    import shutil

    config = json.loads((exported / "onnx_config.json").read_text())
    assert config["format"] == "sherpa-onnx"
    assert sherpa_files(exported, "int8") == [str(exported / config["files"][k]["file"])
                                              for k in ("encoder.int8", "decoder.int8", "joiner.int8", "tokens")]
    fp32_only = tmp_path / "fp32_only"
    shutil.copytree(exported, fp32_only)
    config["files"] = {k: v for k, v in config["files"].items() if ".int8" not in k}
    (fp32_only / "onnx_config.json").write_text(json.dumps(config))
    assert (fp32_only / "encoder.int8.onnx").is_file()  # a stale file of the right name
    with pytest.raises(FileNotFoundError, match=r"encoder.int8.onnx not found in .*: onnx_config.json does not list it"):
        sherpa_files(fp32_only, "int8")
    (fp32_only / "tokens.txt").write_text("<blk> 0\n")
    with pytest.raises(ValueError, match=r"tokens.txt: \d+ bytes, onnx_config.json records \d+"):
        sherpa_files(fp32_only, "fp32")
    with pytest.raises(ValueError, match="is a sherpa-onnx export, not a tinyconf one"):
        from speechbrain_tinyconf.deploy.onnx_runtime import OrtTransducer

        OrtTransducer(exported)
