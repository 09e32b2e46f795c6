"""Pretrained-model packaging: export a recipe run, load it offline with plain SpeechBrain, CLI.

The run is the session's ``trained_run`` (conftest): the tiny config trained until it
transcribes the tone corpus, so the "exported output == recipe output" checks compare real
transcriptions, not empty strings.
"""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # trains or exports models
TRAIN = ROOT / "recipes" / "LibriSpeech" / "train.py"
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
SAMPLE = ROOT.parent / "shared" / "librispeech-sample" / "LibriSpeech" / "test-clean"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}


def _no_network(*args, **kwargs):
    raise OSError("network access attempted during an offline test")


@pytest.fixture(scope="module")
def offline():
    """HF_HUB_OFFLINE=1 and every socket connection refused."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setattr(socket.socket, "connect", _no_network)
    mp.setattr(socket, "create_connection", _no_network)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def run_dir(trained_run):
    return trained_run


@pytest.fixture(scope="module")
def model_dir(run_dir):
    out = run_dir.parent / "model"
    proc = subprocess.run([sys.executable, "-m", "speechbrain_tinyconf.pretrained.export", str(run_dir), str(out)],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def recipe(run_dir):
    """The recipe's model as its own evaluation sets it up: recover, then load the average of the best."""
    import sentencepiece as spm
    from speechbrain.utils.checkpoints import average_checkpoints

    from speechbrain_tinyconf.recipe.hparams import load_recipe_hparams

    hp = load_recipe_hparams(run_dir / "hyperparams.yaml")
    hp["checkpointer"].recover_if_possible()  # Brain.on_evaluate_start
    best = hp["checkpointer"].find_checkpoints(min_key="loss")[: hp["avg_checkpoints"]]
    hp["model"].load_state_dict(average_checkpoints(best, "model"), strict=True)
    for module in (hp["model"], hp["normalize"]):
        module.eval()
    tok = spm.SentencePieceProcessor()
    tok.load(str(next((run_dir / "tokenizer").glob("*.model"))))
    hp["tok"] = tok
    return hp


@pytest.fixture(scope="module")
def asr(model_dir, offline, tmp_path_factory):
    from speechbrain.inference.ASR import EncoderDecoderASR

    return EncoderDecoderASR.from_hparams(source=str(model_dir), savedir=str(tmp_path_factory.mktemp("savedir")))


@pytest.fixture(scope="module")
def streaming_asr(model_dir, offline, tmp_path_factory):
    from speechbrain.inference.ASR import StreamingASR

    return StreamingASR.from_hparams(source=str(model_dir), savedir=str(tmp_path_factory.mktemp("savedir_stream")))


@pytest.fixture(scope="module")
def audio_files(learnable_corpus, tmp_path_factory):
    """A 16 kHz mono tone file and its stereo, 8 kHz and 44.1 kHz versions."""
    import torchaudio

    src = sorted((learnable_corpus / "test").rglob("*.flac"))[0]
    wav, rate = sf.read(src, dtype="float32")
    folder = tmp_path_factory.mktemp("audio")
    files = {"mono": folder / "mono.wav", "stereo": folder / "stereo.wav"}
    sf.write(files["mono"], wav, rate)
    sf.write(files["stereo"], np.stack([wav, wav], axis=1), rate)
    for new in (8000, 44100):
        files[str(new)] = folder / f"rate{new}.flac"
        res = torchaudio.functional.resample(torch.from_numpy(wav), rate, new).numpy()
        sf.write(files[str(new)], res, new)
    return files


def _recipe_greedy(hp, wav):
    """features -> normalize -> CNN -> enc -> proj_enc -> Greedysearcher, as train.py's compute_forward."""
    with torch.no_grad():
        lens = torch.tensor([1.0])
        feats = hp["normalize"](hp["compute_features"](wav[None]), lens)
        enc = hp["proj_enc"](hp["enc"](hp["CNN"](feats), lens, pad_idx=hp["pad_index"]))
        tokens = hp["Greedysearcher"](enc)[0][0]
    return enc, tokens, hp["tok"].decode_ids(tokens)


def _real_recordings(n=2):
    files = sorted(SAMPLE.rglob("*.flac"))[:n] if SAMPLE.is_dir() else []
    return files


# ---------------------------------------------------------------------------


def test_export_folder_is_self_contained(run_dir, model_dir, asr, recipe):
    from speechbrain.nnet.containers import LengthsCapableSequential

    from speechbrain_tinyconf.lobes.size import size_report

    names = sorted(p.name for p in model_dir.iterdir())
    assert names == ["README.md", "hyperparams.yaml", "model.ckpt", "normalizer.ckpt", "tinyconf-export.json",
                     "tokenizer.ckpt"]
    text = (model_dir / "hyperparams.yaml").read_text()
    assert "pretrainer" in text and "paths:" not in text  # files come from the source folder itself
    assert isinstance(asr.mods.encoder, LengthsCapableSequential)
    # Same weights (averaged like the recipe) and the same sharing: tied tensors stay tied.
    exported = asr.hparams.model.state_dict()
    expected = recipe["model"].state_dict()
    assert exported.keys() == expected.keys()
    assert all(torch.equal(exported[k], expected[k]) for k in expected)
    assert size_report(asr.hparams.model).unique_params == size_report(recipe["model"]).unique_params
    enc = asr.hparams.enc.transformer.encoder
    assert enc.plan == recipe["enc"].transformer.encoder.plan
    assert enc.layers[0].ffn_module1[1].ffn[0].U is enc.layers[2].ffn_module1[1].ffn[0].U
    assert torch.equal(asr.hparams.normalize.glob_mean, recipe["normalize"].glob_mean)
    # Each shared tensor stored once: the file holds the unique parameters only.
    assert len(torch.load(model_dir / "model.ckpt")) == len(expected)
    # savedir: links to the source files; savedir == source works too and writes nothing.
    assert all(p.is_symlink() for p in Path(asr.hparams.savedir).iterdir())
    from speechbrain.inference.ASR import EncoderDecoderASR

    again = EncoderDecoderASR.from_hparams(source=str(model_dir), savedir=str(model_dir))
    assert sorted(p.name for p in model_dir.iterdir()) == names
    assert torch.equal(again.hparams.transducer_lin.w.weight, asr.hparams.transducer_lin.w.weight)


def test_transcription_equals_recipe_greedy(asr, recipe, audio_files):
    files = [audio_files["mono"], *_real_recordings()]
    for path in files:
        wav = asr.load_audio(str(path))
        enc_ref, tokens_ref, text_ref = _recipe_greedy(recipe, wav)
        enc = asr.encode_batch(wav[None], torch.tensor([1.0]))
        assert torch.allclose(enc, enc_ref, atol=1e-6), path
        words, tokens = asr.transcribe_batch(wav[None], torch.tensor([1.0]))
        assert tokens[0] == tokens_ref and words[0] == text_ref, path
        assert asr.transcribe_file(str(path)) == text_ref
        assert text_ref  # non-empty: the comparison is not vacuous
    if not _real_recordings():
        pytest.skip(f"real LibriSpeech recordings absent ({SAMPLE}); only the generated file was checked")


def test_streaming_equals_direct_chunked_decoding(streaming_asr, recipe, audio_files):
    from speechbrain.decoders.transducer import TransducerGreedySearcherStreamingContext
    from speechbrain.lobes.features import StreamingFeatureWrapper
    from speechbrain.nnet.containers import LengthsCapableSequential
    from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
    from speechbrain.utils.filter_analysis import stack_filter_properties
    from speechbrain.utils.streaming import split_fixed_chunks

    from speechbrain_tinyconf.pretrained.transcribe import transcribe_streaming

    hp = recipe
    config = DynChunkTrainConfig(8, 2)
    extractor = StreamingFeatureWrapper(
        LengthsCapableSequential(hp["compute_features"], hp["normalize"], hp["CNN"]),
        stack_filter_properties([hp["compute_features"], hp["CNN"]]),
    )
    for path in [audio_files["mono"], *_real_recordings(1)]:
        chunks = list(streaming_asr.transcribe_file_streaming(str(path), config, use_torchaudio_streaming=False))
        assert len(chunks) > 2
        wav = streaming_asr.load_audio(str(path))
        size = (extractor.properties.stride - 1) * config.chunk_size
        pieces = list(split_fixed_chunks(wav[None], size))
        pieces += [torch.zeros(1, size)] * extractor.get_recommended_final_chunk_count(size)
        fea_ctx, enc_ctx = extractor.make_streaming_context(), hp["Transformer"].make_streaming_context(config)
        dec_ctx, tokens = TransducerGreedySearcherStreamingContext(), []
        with torch.no_grad():
            for piece in pieces:
                x = extractor(piece, context=fea_ctx, lengths=torch.tensor([1.0]))
                x = hp["proj_enc"](hp["Transformer"].encode_streaming(x, enc_ctx))
                tokens += hp["Greedysearcher"].transducer_greedy_decode_streaming(x, dec_ctx)[0]
        assert tokens, "streaming decoded nothing: the comparison would be vacuous"
        assert "".join(chunks) == hp["tok"].decode_ids(tokens)
        assert list(transcribe_streaming(streaming_asr, wav, config)) == chunks


def parse_model_card(text: str) -> tuple:
    """``(front matter dict, markdown body)`` of a model card."""
    import yaml

    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    assert match, "model card: no YAML front matter"
    return yaml.safe_load(match.group(1)), match.group(2)


def test_model_card_numbers_come_from_the_run(run_dir, model_dir, asr):
    from speechbrain_tinyconf.lobes.size import size_report

    front, body = parse_model_card((model_dir / "README.md").read_text())
    assert front["language"] == "en" and front["license"] == "apache-2.0" and front["library_name"] == "speechbrain"
    assert {"automatic-speech-recognition", "conformer", "transducer", "weight-sharing", "low-rank"} <= set(front["tags"])
    assert front["datasets"]
    results = front["model-index"][0]["results"]
    wer_files = sorted(run_dir.glob("wer_*.txt"))
    assert len(results) == len(wer_files) >= 1
    for result, path in zip(results, wer_files):
        wer = float(re.search(r"%WER ([\d.]+)", path.read_text()).group(1))
        assert result["metrics"][0] == {"type": "wer", "value": wer, "name": f"WER ({path.stem[4:]})"}
        assert re.search(rf"\| {path.stem[4:]} \| {wer:.2f} \|", body)
    report = size_report(asr.hparams.model)
    assert re.search(rf"\| unique \(stored once\) \| {report.unique_params:,} \|", body)
    assert re.search(rf"\| virtual \(every use counted\) \| {report.virtual_params:,} \|", body)
    assert "unique_blocks: 2" in body  # the sharing plan of tests/configs/tiny.yaml
    assert "EncoderDecoderASR.from_hparams" in body and "StreamingASR" in body and "## Limitations" in body
    command = (run_dir / "command.txt").read_text().strip()  # recorded by train.py
    assert "train.py" in command and "tiny.yaml" in command and command in body


def test_export_best_checkpoint_and_errors(run_dir, tmp_path):
    from speechbrain.utils.checkpoints import Checkpointer

    from speechbrain_tinyconf.pretrained.export import export, main

    out = export(run_dir, tmp_path / "best", ckpt="best")
    best = Checkpointer(str(run_dir / "save")).find_checkpoints(min_key="loss")[0]
    saved, ref = torch.load(out / "model.ckpt"), torch.load(best.paramfiles["model"])
    assert all(torch.equal(saved[k], ref[k]) for k in ref)
    assert "the checkpoint with the lowest validation loss" in (out / "README.md").read_text()
    assert main([str(tmp_path), str(tmp_path / "x")]) == 2  # no hyperparams.yaml

    # A folder whose sharing plan does not match its weights fails to load, loudly (strict load).
    text = (out / "hyperparams.yaml").read_text()
    assert "unique_blocks: 2" in text
    (out / "hyperparams.yaml").write_text(text.replace("unique_blocks: 2", "unique_blocks: 4"))
    from speechbrain.inference.ASR import EncoderDecoderASR

    with pytest.raises(RuntimeError, match="Missing key"):
        EncoderDecoderASR.from_hparams(source=str(out), savedir=None)


def test_export_by_dev_wer_averages_the_checkpoints_with_the_lowest_dev_wer(run_dir, tmp_path):
    """``select_checkpoints_by: WER`` (the run's hparam, as its evaluation uses it): the export averages the
    checkpoints with the lowest dev WER, and the card says so."""
    import shutil

    from speechbrain.utils.checkpoints import Checkpointer, average_checkpoints

    from speechbrain_tinyconf.pretrained.export import export

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    text = (run / "hyperparams.yaml").read_text()
    assert "select_checkpoints_by: loss" in text
    (run / "hyperparams.yaml").write_text(text.replace("select_checkpoints_by: loss", "select_checkpoints_by: WER"))
    checkpointer = Checkpointer(str(run / "save"))
    by_wer, by_loss = checkpointer.find_checkpoints(min_key="WER")[:2], checkpointer.find_checkpoints(min_key="loss")[:2]
    assert len(by_wer) == 2 and {c.path for c in by_wer} != {c.path for c in by_loss}  # else this shows nothing
    out = export(run, tmp_path / "model")
    saved, ref = torch.load(out / "model.ckpt"), average_checkpoints(by_wer, "model")
    assert all(torch.allclose(saved[k], ref[k]) for k in ref)
    card = (out / "README.md").read_text()
    assert "average of the 2 checkpoint(s) with the lowest validation WER" in card
    assert all(f"{c.meta['WER']:.2f} |" in card for c in by_wer)


def test_cli_transcribes_resamples_and_reports_bad_files(model_dir, asr, audio_files, tmp_path):
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + os.urandom(300))
    unsupported = tmp_path / "notes.txt"
    unsupported.write_text("not audio\n")
    missing = tmp_path / "missing.wav"
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(100, dtype=np.float32), 16000)
    good = [audio_files[k] for k in ("mono", "stereo", "8000", "44100")]
    cmd = [sys.executable, "-m", "speechbrain_tinyconf.pretrained.transcribe", str(model_dir), str(good[0]), str(missing),
           str(corrupt), str(good[1]), str(unsupported), str(good[2]), str(short), str(good[3])]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = dict(line.split("\t", 1) for line in proc.stdout.splitlines())
    assert list(lines) == [str(p) for p in good]  # bad files skipped, the others still transcribed
    for path in good:  # same text as SpeechBrain's own load_audio path (resampling, downmix)
        assert lines[str(path)] == asr.transcribe_file(str(path)), path
    assert lines[str(good[1])] == lines[str(good[0])]  # stereo of identical channels == mono
    assert f"{missing}: file not found" in proc.stderr
    assert f"{corrupt}: cannot decode audio" in proc.stderr and f"{unsupported}: cannot decode audio" in proc.stderr
    assert f"{short}: too short (100 samples" in proc.stderr


def test_cli_streaming(model_dir, streaming_asr, audio_files, tmp_path):
    from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

    path = audio_files["mono"]
    cmd = [sys.executable, "-m", "speechbrain_tinyconf.pretrained.transcribe", str(model_dir), str(path),
           "--streaming", "--chunk-ms", "320", "--left-chunks", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = "".join(streaming_asr.transcribe_file_streaming(str(path), DynChunkTrainConfig(8, 2),
                                                               use_torchaudio_streaming=False))
    assert proc.stdout == f"{path}\t{expected}\n"


def test_cli_error_messages(tmp_path, capsys):
    from speechbrain_tinyconf.pretrained.transcribe import main

    assert main([str(tmp_path), "a.wav"]) == 2
    err = capsys.readouterr().err
    assert f"hyperparams.yaml, model.ckpt, normalizer.ckpt, tokenizer.ckpt missing in {tmp_path}" in err
    assert main([str(tmp_path / "nowhere"), "a.wav"]) == 2
    assert "model folder not found" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Defects found by probing (issue 11)


def _cli(*args, timeout=300):
    cmd = [sys.executable, "-m", "speechbrain_tinyconf.pretrained.transcribe", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)


def test_export_never_writes_into_a_run_folder(run_dir, model_dir, tmp_path):
    from speechbrain_tinyconf.pretrained.export import main

    before = {p: p.read_bytes() for p in (run_dir / "hyperparams.yaml", run_dir / "command.txt")}
    readme = run_dir / "README.md"
    assert main([str(run_dir), str(run_dir)]) == 2  # output = the run folder
    assert main([str(run_dir), str(run_dir.parent)]) == 2  # output contains the run folder
    assert all(p.read_bytes() == data for p, data in before.items()) and not readme.exists()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "hyperparams.yaml").write_text("mine: 1\n")
    assert main([str(run_dir), str(other)]) == 2  # not an export (no marker): untouched
    assert (other / "hyperparams.yaml").read_text() == "mine: 1\n"
    assert main([str(run_dir), str(model_dir)]) == 2  # an earlier export: only with --overwrite
    assert main([str(run_dir), str(model_dir), "--overwrite"]) == 0


def test_export_errors_name_the_folder(run_dir, tmp_path, capsys):
    from speechbrain_tinyconf.pretrained.export import main

    assert main([str(run_dir), str(run_dir)]) == 2
    assert f"{run_dir} is a recipe run folder" in capsys.readouterr().err
    assert main([str(run_dir), str(run_dir.parent)]) == 2
    assert f"contains ({run_dir}) a recipe run folder" in capsys.readouterr().err


def test_exported_hparams_write_each_value_once(model_dir):
    """Top-level values are referenced by the module definitions: editing one changes the model."""
    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_tinyconf.recipe.hparams import read_plain_yaml

    text = (model_dir / "hyperparams.yaml").read_text()
    top = read_plain_yaml(text)
    scalars = [k for k, v in top.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    assert {"d_model", "num_encoder_layers", "vocab_size", "sample_rate"} <= set(scalars)
    for key in scalars:
        assert f"<{key}>" in text, f"top-level {key} is not used by any definition"
    assert "d_model: 32" in text and text.count(": 32\n") <= 3  # d_model, dec_dim, joint_dim: once each
    hp = load_hyperpyyaml(text, {"num_encoder_layers": 2, "d_model": 48})
    encoder = hp["enc"].transformer.encoder
    assert len(encoder.layers) == 2 and encoder.layers[0].norm1.norm.weight.shape == (48,)


def test_cli_names_a_corrupt_checkpoint(model_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "model.ckpt").write_bytes(b"not a checkpoint" * 10)
    proc = _cli(broken, "a.wav")
    assert proc.returncode == 2
    assert f"{broken / 'model.ckpt'}: corrupt or not a PyTorch checkpoint" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_cli_reports_nan_and_inf_audio(model_dir, audio_files, tmp_path):
    wav, rate = sf.read(audio_files["mono"], dtype="float32")
    files = []
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        bad = wav.copy()
        bad[100:110] = value
        files.append(tmp_path / f"{name}.wav")
        sf.write(files[-1], bad, rate, subtype="FLOAT")
    proc = _cli(model_dir, files[0], audio_files["mono"], files[1])
    assert proc.returncode == 1
    assert [line.split("\t")[0] for line in proc.stdout.splitlines()] == [str(audio_files["mono"])]
    for path in files:
        assert f"{path}: 10 sample(s) are NaN or infinite" in proc.stderr


@pytest.mark.parametrize("flag,value", [("--left-chunks", "-1"), ("--left-chunks", "x"), ("--chunk-ms", "nan"),
                                        ("--chunk-ms", "inf"), ("--chunk-ms", "0"), ("--chunk-ms", "-5")])
def test_cli_rejects_bad_streaming_options(flag, value, capsys):
    from speechbrain_tinyconf.pretrained.transcribe import main

    with pytest.raises(SystemExit) as exit_info:
        main(["model", "a.wav", "--streaming", flag, value])
    assert exit_info.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err


def test_cli_streams_no_left_context(model_dir, audio_files):
    proc = _cli(model_dir, audio_files["mono"], "--streaming", "--left-chunks", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_long_files_are_streamed_not_attended_in_full(model_dir, asr, audio_files, tmp_path, capsys, monkeypatch):
    """Above MAX_FULL_CONTEXT_S the CLI streams (and says so); EncoderDecoderASR refuses, naming --streaming.
    The CLI's main() in this process (the other CLI tests start it as a command)."""
    from speechbrain_tinyconf.pretrained.transcribe import MAX_FULL_CONTEXT_S, main

    wav, rate = sf.read(audio_files["mono"], dtype="float32")
    repeats = int(MAX_FULL_CONTEXT_S * rate / len(wav)) + 2
    long = tmp_path / "long.wav"
    sf.write(long, np.tile(np.concatenate([wav, np.zeros(rate // 2, np.float32)]), repeats), rate)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as the command's environment (ENV) has it
    capsys.readouterr()
    plain_status = main([str(model_dir), str(long)])
    plain = capsys.readouterr()
    streamed_status = main([str(model_dir), str(long), "--streaming"])
    streamed = capsys.readouterr()
    assert plain_status == 0 and streamed_status == 0, plain.err[-2000:]
    assert f"longer than the full-context limit of {MAX_FULL_CONTEXT_S:g} s: decoding it chunk by chunk" in plain.err
    assert plain.out == streamed.out and len(plain.out.split()) > repeats  # it transcribes every repeat
    with pytest.raises(ValueError, match="full-context limit.*--streaming"):
        asr.transcribe_file(str(long))


def test_onnx_export_and_export_name_a_corrupt_checkpoint(model_dir, run_dir, tmp_path, capsys):
    import shutil

    from speechbrain_tinyconf.deploy import onnx_export
    from speechbrain_tinyconf.pretrained import export as export_mod

    broken = tmp_path / "broken_model"
    shutil.copytree(model_dir, broken)
    (broken / "model.ckpt").write_bytes(b"garbage" * 20)
    assert onnx_export.main([str(broken), str(tmp_path / "onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{broken / 'model.ckpt'}: corrupt or not a PyTorch checkpoint" in err and len(err.splitlines()) == 1

    run = tmp_path / "broken_run"
    shutil.copytree(run_dir, run)
    newest = sorted(run.glob("save/CKPT+*/model.ckpt"))[-1]
    newest.write_bytes(b"garbage" * 20)
    assert export_mod.main([str(run), str(tmp_path / "m"), "--ckpt", "average", "--num-avg", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{newest}: corrupt or not a PyTorch checkpoint" in err and len(err.splitlines()) == 1


def test_example_recording_and_training_data_in_the_card(run_dir, audio_files, tmp_path):
    from speechbrain_tinyconf.pretrained.export import export

    out = export(run_dir, tmp_path / "with_example", example=audio_files["mono"])
    card = (out / "README.md").read_text()
    text = re.search(r"Transcription: `(.*)`", card).group(1)
    assert text and (out / "example.wav").is_file()
    proc = _cli(out, out / "example.wav")
    assert proc.returncode == 0 and proc.stdout == f"{out / 'example.wav'}\t{text}\n"
    assert "## Training data\n\n48 utterances" in card and "1 speakers" in card


def test_int4_weights_are_small_and_every_reader_gets_the_same_fp32_weights(run_dir, model_dir, asr, recipe,
                                                                            audio_files, tmp_path):
    from speechbrain_tinyconf.pretrained.model_folder import load_model
    from speechbrain_tinyconf.pretrained.weight_storage import is_packed, unpack_state_dict
    from speechbrain_tinyconf.recipe.runs import init_source

    out = tmp_path / "int4"
    proc = subprocess.run([sys.executable, "-m", "speechbrain_tinyconf.pretrained.export", str(run_dir), str(out),
                           "--weights", "int4"], capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stored = torch.load(out / "model.ckpt")
    assert is_packed(stored)
    # The tiny test model has many small (fp16) tensors: measured 0.31 of the fp32 file; a 5M model, 0.15.
    assert (out / "model.ckpt").stat().st_size < 0.4 * (model_dir / "model.ckpt").stat().st_size
    assert json.loads((out / "tinyconf-export.json").read_text())["weights"] == "int4"
    assert "4-bit groups (64 values for `ffn_module` weights" in (out / "README.md").read_text()
    weights = unpack_state_dict(stored)
    loaded = load_model(out).hparams.model.state_dict()  # EncoderDecoderASR, through the folder's pretrainer
    assert loaded.keys() == weights.keys() and all(torch.equal(loaded[k], weights[k]) for k in weights)
    source = init_source(out)  # train.py --init_from
    assert all(torch.equal(source.state_dict[k], weights[k]) for k in weights)
    assert source.description == f"exported model {out} (int4 weights)"  # in the new run's init_from.txt
    fp32 = recipe["model"].state_dict()
    assert any(not torch.equal(weights[k], fp32[k]) for k in fp32)  # quantised, not copied
    # Close to the fp32 model: the encoder output of the test recording moves by a few % of its norm.
    wav = asr.load_audio(str(audio_files["mono"]))
    int4_enc = load_model(out).encode_batch(wav[None], torch.tensor([1.0]))
    fp32_enc = asr.encode_batch(wav[None], torch.tensor([1.0]))
    # Measured 0.035 (2026-12-06); an unquantised copy would be 0, a broken dequantisation ~1.
    assert float((int4_enc - fp32_enc).norm() / fp32_enc.norm()) < 0.1
