"""Model folders that cannot be silently corrupted, mixed up or lost (issue 21).

Each test names the item of issue 21 it covers. The model is the session's ``trained_run``
(conftest), exported once here; every broken folder is a copy of that export.
"""

import io
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1",
       "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

pytestmark = pytest.mark.slow  # exports a trained model


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (relative path -> bytes): what must not change."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def stages(folder: Path) -> list:
    """Temporary folders an export leaves next to its target (none, once it is over)."""
    return sorted(p.name for p in folder.parent.glob(f".{folder.name}.tinyconf-*"))


def sentencepiece_model(pieces: int, seed: int) -> bytes:
    """A unigram tokenizer of ``pieces`` pieces on random 'words' (a model other than the run's)."""
    import sentencepiece

    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(2, 6))) for _ in range(200)]
    lines = [" ".join(rng.choice(words) for _ in range(8)) for _ in range(300)]
    out = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=out, vocab_size=pieces,
                                             model_type="unigram", minloglevel=2)
    return out.getvalue()


class Ran:
    """What a command-line ``main`` did: exit status, stdout, stderr."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys):
    """``cli(command, *args)``: the ``main(args)`` of ``tinyconf-<command>`` in this process (a subprocess
    per call would import torch each time); an exception escaping main fails the test, as a traceback would."""
    import importlib

    modules = {"export": "pretrained.export", "transcribe": "pretrained.transcribe", "onnx_export": "deploy.onnx_export"}

    def run(command: str, *args) -> Ran:
        capsys.readouterr()
        code = importlib.import_module(f"speechbrain_tinyconf.{modules[command]}").main([str(a) for a in args])
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return run


def one_error_line(proc, code: int = 2) -> str:
    """The single stderr line of a failed command (exit ``code``, no traceback)."""
    assert proc.returncode == code, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def model_dir(trained_run, tmp_path_factory):
    from speechbrain_tinyconf.pretrained.export import export

    return export(trained_run, tmp_path_factory.mktemp("mf") / "model")


@pytest.fixture(scope="module")
def wav(learnable_corpus, tmp_path_factory):
    src = sorted((learnable_corpus / "test").rglob("*.flac"))[0]
    path = tmp_path_factory.mktemp("mf_audio") / "a.wav"
    sf.write(path, sf.read(src, dtype="float32")[0], 16000)
    return path


def broken_copy(model_dir: Path, tmp_path: Path, name: str = "broken") -> Path:
    copy = tmp_path / name
    shutil.copytree(model_dir, copy)
    return copy


# ---------------------------------------------------------------------------
# Item 3: tokenizer and model are checked against each other


def test_marker_records_every_binary_file(model_dir):
    from speechbrain_tinyconf.pretrained.model_folder import EXPORT_MARKER, sha256_file

    marker = json.loads((model_dir / EXPORT_MARKER).read_text())
    for name in ("model.ckpt", "normalizer.ckpt", "tokenizer.ckpt"):
        assert marker["files"][name] == {"bytes": (model_dir / name).stat().st_size,
                                         "sha256": sha256_file(model_dir / name)}
    assert f"tokenizer_sha256: {sha256_file(model_dir / 'tokenizer.ckpt')}" in (model_dir / "hyperparams.yaml").read_text()


def test_tokenizer_of_another_size_is_refused_everywhere(cli, model_dir, wav, tmp_path):
    """Item 3: a 40-piece tokenizer in a 24-output model: CLI, EncoderDecoderASR and onnx_export refuse it."""
    from speechbrain.inference.ASR import EncoderDecoderASR

    broken = broken_copy(model_dir, tmp_path)
    (broken / "tokenizer.ckpt").write_bytes(sentencepiece_model(40, seed=0))
    line = one_error_line(cli("transcribe", broken, wav))
    assert line == (f"error: {broken / 'tokenizer.ckpt'} has 40 pieces but {broken / 'model.ckpt'} outputs 24 "
                    "tokens: the tokenizer is not this model's (vocabulary sizes differ)")
    from speechbrain_tinyconf.pretrained.model_folder import ModelFolderError
    from speechbrain_tinyconf.deploy.onnx_export import main as onnx_main

    with pytest.raises(ModelFolderError, match="tokenizer.ckpt has 40 pieces but the model .vocab_size in "
                                                "hyperparams.yaml. outputs 24 tokens"):
        EncoderDecoderASR.from_hparams(source=str(broken), savedir=None)
    assert onnx_main([str(broken), str(tmp_path / "onnx")]) == 2
    assert not (tmp_path / "onnx").exists()


def test_tokenizer_of_the_same_size_is_refused_by_its_fingerprint(cli, model_dir, wav, tmp_path):
    """Item 3: another 24-piece tokenizer: the sha256 recorded at export tells it apart."""
    from speechbrain.inference.ASR import EncoderDecoderASR

    broken = broken_copy(model_dir, tmp_path)
    (broken / "tokenizer.ckpt").write_bytes(sentencepiece_model(24, seed=1))
    line = one_error_line(cli("transcribe", broken, wav))
    assert line.startswith(f"error: {broken / 'tokenizer.ckpt'} is not the file exported with {broken / 'model.ckpt'}")
    from speechbrain_tinyconf.pretrained.model_folder import ModelFolderError

    (broken / "tinyconf-export.json").unlink()  # plain SpeechBrain reads the fingerprint in hyperparams.yaml
    with pytest.raises(ModelFolderError, match="is not the tokenizer this model was exported with"):
        EncoderDecoderASR.from_hparams(source=str(broken), savedir=None)


def test_export_refuses_a_run_whose_tokenizer_is_another_size(cli, trained_run, tmp_path):
    """Item 3 at export: the run's tokenizer/ against its checkpoint, before anything is written."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    tok = next((run / "tokenizer").glob("*.model"))
    tok.write_bytes(sentencepiece_model(40, seed=0))
    proc = cli("export", run, tmp_path / "model")
    line = one_error_line(proc)
    assert f"{tok} has 40 pieces but" in line and "model.ckpt outputs 24 tokens" in line
    assert not (tmp_path / "model").exists() and not stages(tmp_path / "model")


# ---------------------------------------------------------------------------
# Item 5: export --overwrite is atomic


def test_export_overwrite_killed_after_model_ckpt_leaves_the_old_export(cli, model_dir, trained_run, tmp_path):
    """Item 5: kill -9 right after model.ckpt is written: the old export is byte-identical, and the
    next --overwrite works (the killed process's temporary folder is cleared)."""
    target = broken_copy(model_dir, tmp_path, "model")
    before = snapshot(target)
    script = (
        "import os, signal, sys, torch\n"
        "import speechbrain_tinyconf.pretrained.export as e\n"
        "real = torch.save\n"
        "def save(obj, path, *a, **k):\n"
        "    real(obj, path, *a, **k)\n"
        "    if str(path).endswith('model.ckpt'): os.kill(os.getpid(), signal.SIGKILL)\n"
        "e.torch.save = save\n"
        "sys.exit(e.main(sys.argv[1:]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(trained_run), str(target), "--overwrite"],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert snapshot(target) == before
    assert len(stages(target)) == 1  # the killed export's, with model.ckpt in it
    proc = cli("export", trained_run, target, "--overwrite")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert stages(target) == [] and (target / "tinyconf-export.json").is_file()
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in model_dir.iterdir())


def test_failed_export_leaves_the_old_one_and_nothing_else(model_dir, trained_run, tmp_path, monkeypatch, capsys):
    """Items 5 and 11: an error while writing (a full disk) is one line; the old export stays as it was."""
    import speechbrain_tinyconf.pretrained.export as export_mod

    target = broken_copy(model_dir, tmp_path, "model")
    before = snapshot(target)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(target / "README.md"))

    monkeypatch.setattr(export_mod, "model_card", full_disk)
    assert export_mod.main([str(trained_run), str(target), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: cannot write {target}: No space left on device ({target / 'README.md'})"]
    assert snapshot(target) == before and stages(target) == []
    notes = ROOT / "README.md"  # an --example that is not audio: refused before anything is written
    assert export_mod.main([str(trained_run), str(target), "--overwrite", "--example", str(notes)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --example {notes}: not an audio file soundfile can read")
    assert snapshot(target) == before and stages(target) == []


# ---------------------------------------------------------------------------
# Items 9, 10, 12: loading


def test_loading_a_model_folder_computes_no_svd(model_dir, monkeypatch):
    """Item 9: the checkpoint replaces the low-rank factors, so loading factorises nothing."""
    from speechbrain_tinyconf.pretrained.model_folder import instantiate, load_model

    calls = []
    real = torch.linalg.svd
    monkeypatch.setattr(torch.linalg, "svd", lambda *a, **k: calls.append(1) or real(*a, **k))
    hp = instantiate(model_dir)
    asr = load_model(model_dir)
    assert calls == []
    saved = torch.load(model_dir / "model.ckpt")
    assert all(torch.equal(hp["model"].state_dict()[k], v) for k, v in saved.items())
    assert all(torch.equal(asr.hparams.model.state_dict()[k], v) for k, v in saved.items())


@pytest.mark.parametrize("edit,expected", [
    (("d_model: 32", "d_model: 48"),
     r"size mismatch for \S+: \(\d+(, \d+)*\) in the file, \(\d+(, \d+)*\) in the model"),
    (("vocab_size: 24", "vocab_size: 30"),
     r"size mismatch for 2.Embedding.weight: \(24, 16\) in the file, \(30, 16\) in the model"),
    (("unique_blocks: 2", "unique_blocks: 4"),
     r"Missing key\(s\) in the file: \d+ \(first 1\.transformer\.encoder\.layers\.\d"),
])
def test_state_dict_mismatch_is_one_line_naming_key_shapes_and_file(cli, model_dir, wav, tmp_path, edit, expected):
    """Item 10: an edited hyperparams.yaml: the CLI and onnx_export name the file, the first key and both shapes."""
    import re

    broken = broken_copy(model_dir, tmp_path)
    text = (broken / "hyperparams.yaml").read_text()
    assert edit[0] in text
    (broken / "hyperparams.yaml").write_text(text.replace(edit[0], edit[1]))
    for proc in (cli("transcribe", broken, wav), cli("onnx_export", broken, tmp_path / "onnx")):
        line = one_error_line(proc)
        assert line.startswith(f"error: {broken / 'model.ckpt'} does not fit the model hyperparams.yaml builds"), line
        assert re.search(expected, line), line
    assert not (tmp_path / "onnx").exists()


def test_missing_file_is_called_missing(cli, model_dir, wav, tmp_path):
    """Item 12: a missing normalizer.ckpt is 'missing', not 'corrupt', in the CLI and onnx_export."""
    broken = broken_copy(model_dir, tmp_path)
    (broken / "normalizer.ckpt").unlink()
    for proc in (cli("transcribe", broken, wav), cli("onnx_export", broken, tmp_path / "onnx")):
        line = one_error_line(proc)
        assert line.startswith(f"error: {broken / 'normalizer.ckpt'}: missing"), line
        assert "corrupt" not in line


def test_a_changed_model_ckpt_is_refused(cli, model_dir, trained_run, wav, tmp_path):
    """Items 2/3: a model.ckpt of another export (same architecture) dropped into the folder."""
    from speechbrain.utils.checkpoints import Checkpointer

    broken = broken_copy(model_dir, tmp_path)
    other = Checkpointer(str(trained_run / "save")).find_checkpoints(min_key="loss")[-1].paramfiles["model"]
    shutil.copyfile(other, broken / "model.ckpt")
    line = one_error_line(cli("transcribe", broken, wav))
    assert line.startswith(f"error: {broken / 'model.ckpt'} is not the file exported with {broken / 'tokenizer.ckpt'}")


# ---------------------------------------------------------------------------
# Item 11: export's output folder


def test_export_onto_a_file_or_unwritable_folder_is_one_line(trained_run, tmp_path, monkeypatch, capsys):
    """Item 11: an output path that is a file, or a folder that cannot be written (simulated: the tests
    may run as root, who can write anywhere), is one line and exit 2; nothing is left behind."""
    from speechbrain_tinyconf.pretrained.export import main

    a_file = tmp_path / "taken"
    a_file.write_text("mine\n")
    assert main([str(trained_run), str(a_file)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {a_file} exists and is not a folder"]
    assert a_file.read_text() == "mine\n"
    import speechbrain_tinyconf.pretrained.model_folder as mf

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr(mf.tempfile, "mkdtemp", read_only)
    target = tmp_path / "ro" / "model"
    assert main([str(trained_run), str(target)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: cannot write {target}: Permission denied ({tmp_path / 'ro'})"]
    assert not (tmp_path / "ro").exists()  # the parent it created is removed again


# ---------------------------------------------------------------------------
# Item 14: audio far outside [-1, 1]


def test_float_audio_out_of_range_is_transcribed_with_a_warning(cli, model_dir, wav, tmp_path):
    loud = tmp_path / "loud.wav"
    sf.write(loud, sf.read(wav, dtype="float32")[0] * 100, 16000, subtype="FLOAT")
    proc = cli("transcribe", model_dir, wav, loud)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [line.split("\t")[0] for line in proc.stdout.splitlines()] == [str(wav), str(loud)]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {loud}: samples reach ")
    assert "outside [-1, 1]" in warnings[0]


# ---------------------------------------------------------------------------
# Item 15: nothing of a run folder's YAML runs during export, and no tag is copied


@pytest.mark.parametrize("key,payload,refused", [
    ("hack", "!applyref:os.system", False),  # hyperpyyaml's resolve_references would run it
    ("hack", "!apply:os.system", False),  # a key the model does not use
    ("d_model", "!apply:os.system", True),  # a value the model definitions use
    ("CNN", "!apply:os.system", True),  # a module definition
])
def test_run_folder_yaml_runs_nothing_during_export(cli, trained_run, tmp_path, key, payload, refused):
    """Item 15: export (and onnx_export of a run) runs no tag of the run's hyperparams.yaml and copies none."""
    import re

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    flag = tmp_path / "payload_ran"
    entry = f'{key}: {payload} ["touch {flag}"]\n'
    text = (run / "hyperparams.yaml").read_text()
    text, found = re.subn(rf"^{key}:.*\n(?:[ \t]+.*\n)*", entry, text, flags=re.M)  # the key with its block
    (run / "hyperparams.yaml").write_text(text if found else text + entry)
    out = tmp_path / "model"
    proc = cli("export", run, out)
    assert not flag.exists(), "the run's YAML ran code during export"
    if refused:
        line = one_error_line(proc)
        assert line.startswith(f"error: {run / 'hyperparams.yaml'}: ") and key in line, line
        assert not out.exists()
    else:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "os.system" not in (out / "hyperparams.yaml").read_text()
        if payload == "!apply:os.system":  # a run source of onnx_export runs nothing either
            assert cli("onnx_export", run, tmp_path / "onnx", "--chunk-frames", "8").returncode == 0
            assert not flag.exists()


def test_template_definitions_are_the_recipes():
    """The exported module definitions (templates/inference.yaml) are hparams/transducer_recipe.yaml's, for
    every variant and front-end/predictor option: export checks this for each run, this checks it for all."""
    from speechbrain_tinyconf.pretrained.model_folder import inference_hparams_text
    from speechbrain_tinyconf.recipe.hparams import recipe_yaml

    for variant in sorted((ROOT / "hparams").glob("*.yaml")):
        if variant.name == "transducer_recipe.yaml":
            continue
        for options in ({}, {"frontend": "kaldi", "predictor": "stateless", "emb_dim": 256}):
            text = inference_hparams_text(recipe_yaml(variant, {"data_folder": "/data", **options}))
            assert "!apply:os" not in text and "data_folder" not in text
