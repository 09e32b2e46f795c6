"""The four-layer layout of issue 22: one module for the model folder (item 2), subpackages whose old
module paths keep working for one release (item 3).

The tests import what they check inside themselves, so that on the layout before issue 22 each fails on
its own point (the walk test fails on its count there: 5 returns).
"""

import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
       "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
# A few old paths and where they went (the whole table is speechbrain_tinyconf._MOVED).
OLD_TO_NEW = {
    "speechbrain_tinyconf.encoder": "speechbrain_tinyconf.lobes.encoder",
    "speechbrain_tinyconf.sharing": "speechbrain_tinyconf.lobes.sharing",
    "speechbrain_tinyconf.hparams": "speechbrain_tinyconf.recipe.hparams",
    "speechbrain_tinyconf.runs": "speechbrain_tinyconf.recipe.runs",
    "speechbrain_tinyconf.model_folder": "speechbrain_tinyconf.pretrained.model_folder",
    "speechbrain_tinyconf.transcribe": "speechbrain_tinyconf.pretrained.transcribe",
    "speechbrain_tinyconf.onnx": "speechbrain_tinyconf.deploy",
    "speechbrain_tinyconf.onnx.export": "speechbrain_tinyconf.deploy.export",
    "speechbrain_tinyconf.onnx_export": "speechbrain_tinyconf.deploy.onnx_export",
    "speechbrain_tinyconf.onnx_runtime": "speechbrain_tinyconf.deploy.onnx_runtime",
}


def module_walk():
    """scripts/module_walk.py as a module."""
    if "module_walk" not in sys.modules:
        spec = importlib.util.spec_from_file_location("module_walk", ROOT / "scripts" / "module_walk.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["module_walk"] = module  # before it runs: its dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["module_walk"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A model folder of tests/configs/tiny.yaml (random weights), exported by the package."""
    return module_walk().tiny_model_folder(tmp_path_factory.mktemp("tiny"))


def old_paths(text: str) -> str:
    """An exported hyperparams.yaml as export wrote it before the layout: every class by its old path, the
    pretrainer hooks by the oldest one (speechbrain_tinyconf.export, before model_folder.py)."""
    text = text.replace("speechbrain_tinyconf.pretrained.model_folder.load_model_strict",
                        "speechbrain_tinyconf.export.load_model_strict")
    for layer in ("lobes", "recipe", "pretrained", "deploy"):
        text = text.replace(f"speechbrain_tinyconf.{layer}.", "speechbrain_tinyconf.")
    return text


# ---------------------------------------------------------------------------
# Item 2: one module knows the model folder


def test_export_onnx_walks_through_each_module_once(tiny_folder, tmp_path):
    """The model folder handed to export_onnx goes deploy.export > deploy.load > pretrained.model_folder and
    back at most 3 times (the layout before issue 22: 10 stops, 5 returns; the count is defined in
    scripts/module_walk.py)."""
    walk = module_walk().measure(tiny_folder, tmp_path)
    assert walk.returns <= 3, walk.line()
    assert walk.stops[:3] == ["deploy.export", "deploy.load", "pretrained.model_folder"], walk.line()
    assert "pretrained.export" not in walk.stops and "pretrained.transcribe" not in walk.stops, walk.line()


def test_export_transcribe_and_deploy_use_the_model_folder_module_not_each_other():
    """What a model folder is (marker, files, inference YAML, checks) lives in pretrained/model_folder.py:
    export.py, transcribe.py and deploy/load.py import it, and none of them imports another of the three."""
    import ast

    def imported(path: Path) -> set:
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                found.add("." * node.level + (node.module or ""))
        return found

    package = ROOT / "speechbrain_tinyconf"
    users = {"export": package / "pretrained" / "export.py", "transcribe": package / "pretrained" / "transcribe.py",
             "load": package / "deploy" / "load.py"}
    imports = {name: imported(path) for name, path in users.items()}
    assert {".model_folder"} <= imports["export"] and {".model_folder"} <= imports["transcribe"]
    assert "..pretrained" in imports["load"] or "..pretrained.model_folder" in imports["load"]
    for name, found in imports.items():
        others = [other for other in users if other != name]
        assert not [m for m in found for other in others if m.endswith("." + other) or m == other], (name, found)
    names = {"tinyconf-export.json", "hyperparams.yaml", "model.ckpt", "normalizer.ckpt", "tokenizer.ckpt"}
    for path in users.values():  # the folder's marker and file names are spelt in model_folder.py only
        constants = {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                     if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        assert not constants & names, (path, constants & names)


def test_a_run_recipe_with_old_paths_exports_the_same_inference_yaml():
    """A run trained before the layout names the package's classes by their old paths: the same module
    definitions, so export (and onnx export of the run) accept it and write today's YAML."""
    from speechbrain_tinyconf.pretrained.model_folder import inference_hparams_text
    from speechbrain_tinyconf.recipe.hparams import recipe_yaml

    new = recipe_yaml(ROOT / "tests" / "configs" / "tiny.yaml", {"data_folder": "/data"})
    old = old_paths(new)
    assert "!apply:speechbrain_tinyconf.frontend.make_frontend" in old and "speechbrain_tinyconf.lobes" not in old
    assert inference_hparams_text(old, "ab" * 32) == inference_hparams_text(new, "ab" * 32)
    changed = new.replace("!apply:speechbrain_tinyconf.lobes.predictor.make_predictor",
                          "!apply:speechbrain_tinyconf.lobes.frontend.make_frontend")
    with pytest.raises(ValueError, match="its dec definition differs"):
        inference_hparams_text(changed)


# ---------------------------------------------------------------------------
# Item 3: old module paths, one release


@pytest.mark.parametrize("old,new", sorted(OLD_TO_NEW.items()))
def test_an_old_module_path_is_the_new_module_with_a_deprecation_warning(old, new):
    from speechbrain_tinyconf import current_name

    assert current_name(old) == new
    module = importlib.import_module(new)
    sys.modules.pop(old, None)  # imported earlier in this session (e.g. by an old YAML): import it afresh
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}") as caught:
        assert importlib.import_module(old) is module
    assert len([w for w in caught if old + " moved" in str(w.message)]) == 1


def test_every_moved_module_imports_at_its_new_path():
    import speechbrain_tinyconf

    for old, new in speechbrain_tinyconf._MOVED.items():
        assert importlib.import_module(f"speechbrain_tinyconf.{new}").__name__ == f"speechbrain_tinyconf.{new}"
        assert not (ROOT / "speechbrain_tinyconf" / f"{old}.py").exists()


def test_public_names_stay_at_the_top_level():
    import speechbrain_tinyconf
    from speechbrain_tinyconf.lobes.encoder import SharedConformerEncoder
    from speechbrain_tinyconf.lobes.size import size_report

    assert speechbrain_tinyconf.SharedConformerEncoder is SharedConformerEncoder
    assert speechbrain_tinyconf.size_report is size_report
    for name in speechbrain_tinyconf.__all__:
        assert getattr(speechbrain_tinyconf, name) is not None


def test_an_old_yaml_class_path_instantiates_the_same_class():
    """``!new:speechbrain_tinyconf.encoder.SharedConformerEncoder`` (a YAML written before the layout)."""
    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_tinyconf.lobes.encoder import SharedConformerEncoder
    from speechbrain_tinyconf.lobes.sharing import SharingPlan

    text = ("encoder: !new:speechbrain_tinyconf.encoder.SharedConformerEncoder\n"
            "    num_layers: 2\n    d_model: 16\n    d_ffn: 32\n    nhead: 2\n    kernel_size: 3\n"
            "    sharing: !new:speechbrain_tinyconf.sharing.SharingPlan\n        unique_blocks: 1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        hparams = load_hyperpyyaml(text)
    assert isinstance(hparams["encoder"], SharedConformerEncoder)
    assert isinstance(hparams["encoder"].plan, SharingPlan)


def test_a_folder_with_old_paths_loads_through_encoderdecoderasr_and_the_transcribe_loader(tiny_folder, tmp_path):
    """A folder exported before the layout (its hyperparams.yaml names the old paths) loads, offline."""
    import shutil

    import torch

    from speechbrain_tinyconf.lobes.predictor import TransducerSearcher
    from speechbrain_tinyconf.pretrained.model_folder import instantiate, validate_model_folder
    from speechbrain_tinyconf.pretrained.transcribe import FullContextLimit, load_model_or_explain

    folder = tmp_path / "old"
    shutil.copytree(tiny_folder, folder)
    yaml_path = folder / "hyperparams.yaml"
    yaml_path.write_text(old_paths(yaml_path.read_text(encoding="utf-8")), encoding="utf-8")
    text = yaml_path.read_text(encoding="utf-8")
    assert "speechbrain_tinyconf.export.load_model_strict" in text and "speechbrain_tinyconf.lobes." not in text
    validate_model_folder(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asr = load_model_or_explain(folder)
        hparams = instantiate(folder)
    assert isinstance(asr.mods.decoder, TransducerSearcher)
    assert any(isinstance(m, FullContextLimit) for m in asr.mods.encoder.modules())
    saved = torch.load(folder / "model.ckpt")
    assert all(torch.equal(hparams["model"].state_dict()[k], v) for k, v in saved.items())
    words, _ = asr.transcribe_batch(torch.zeros(1, 16000), torch.tensor([1.0]))
    assert isinstance(words[0], str)


def test_python_m_an_old_path_runs_the_new_module_after_one_line():
    """``python -m speechbrain_tinyconf.transcribe``: one deprecation line on stderr naming the console
    script, then the command itself."""
    proc = subprocess.run([sys.executable, "-m", "speechbrain_tinyconf.transcribe", "--help"], capture_output=True,
                          text=True, env=ENV, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "python -m speechbrain_tinyconf.transcribe is deprecated" in lines[0], proc.stderr
    assert "use tinyconf-transcribe (or python -m speechbrain_tinyconf.pretrained.transcribe)" in lines[0]
    assert proc.stdout.startswith("usage: tinyconf-transcribe "), proc.stdout


@pytest.mark.parametrize("old,script", [("export", "tinyconf-export"), ("onnx_export", "tinyconf-onnx-export")])
@pytest.mark.filterwarnings("ignore:.*found in sys.modules after import of package:RuntimeWarning")
def test_the_other_old_command_paths_name_their_console_script(old, script, capsys, monkeypatch):
    """What ``python -m speechbrain_tinyconf.<old>`` runs (the code the old path's finder hands to runpy),
    run in this process (where the module is imported already: runpy says so, and runs it anew)."""
    import speechbrain_tinyconf

    spec = speechbrain_tinyconf._MovedModuleFinder.find_spec(f"speechbrain_tinyconf.{old}")
    monkeypatch.setattr(sys, "argv", [f"-m speechbrain_tinyconf.{old}", "--help"])
    with pytest.raises(SystemExit) as done:
        exec(spec.loader.get_code(spec.name), {"__name__": "__main__"})
    assert done.value.code == 0
    out = capsys.readouterr()
    assert out.err.strip().splitlines() == [f"warning: python -m speechbrain_tinyconf.{old} is deprecated (removed in "
                                            f"the next release): use {script} (or python -m {current(old)})"]
    assert out.out.startswith(f"usage: {script} ")


def test_an_object_pickled_under_an_old_path_unpickles():
    import pickle

    from speechbrain_tinyconf.lobes.sharing import SharingPlan

    data = pickle.dumps(SharingPlan.from_config({"unique_blocks": 2}), protocol=0)
    old = data.replace(b"speechbrain_tinyconf.lobes.sharing", b"speechbrain_tinyconf.sharing")
    assert old != data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        plan = pickle.loads(old)
    assert isinstance(plan, SharingPlan) and plan.unique_blocks == 2


def current(old: str) -> str:
    from speechbrain_tinyconf import current_name

    return current_name(f"speechbrain_tinyconf.{old}")


def test_the_runtime_imports_no_torch_at_its_old_path_either():
    code = ("import sys, warnings; warnings.simplefilter('ignore'); import speechbrain_tinyconf.onnx_runtime as r; "
            "print(r.__name__, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120,
                         check=True).stdout.split()
    assert out == ["speechbrain_tinyconf.deploy.onnx_runtime", "False"]
