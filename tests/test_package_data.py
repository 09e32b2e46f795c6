"""The data files of the package (model-card and inference-YAML templates) are installed with it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(p.name for p in (ROOT / "speechbrain_tinyconf" / "pretrained" / "templates").iterdir() if p.is_file())


def test_templates_are_found_in_a_built_package(tmp_path):
    """setup.py's build (what an install copies) holds templates/, and the code reads them from there."""
    lib = tmp_path / "lib"
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)], cwd=ROOT, check=True,
                   capture_output=True, timeout=120)
    assert TEMPLATES == ["inference.yaml", "model_card.md"]
    assert sorted(p.name for p in (lib / "speechbrain_tinyconf" / "pretrained" / "templates").iterdir()) == TEMPLATES
    code = ("import speechbrain_tinyconf.pretrained.export as e; from importlib import resources; "
            "print(e.__file__); print('load_model_strict' in e.inference_template()); "
            "print((resources.files('speechbrain_tinyconf.pretrained') / 'templates' / 'model_card.md').is_file())")
    env = {**os.environ, "PYTHONPATH": str(lib)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == [str(lib / "speechbrain_tinyconf" / "pretrained" / "export.py"), "True", "True"]


def test_templates_are_in_the_source_distribution(tmp_path):
    """The sdist's file list (egg_info's SOURCES.txt, from setup.py and MANIFEST.in) names every template."""
    subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path)], cwd=ROOT, check=True,
                   capture_output=True, timeout=120)
    sources = next(tmp_path.glob("*.egg-info/SOURCES.txt")).read_text().split()
    assert all(f"speechbrain_tinyconf/pretrained/templates/{name}" in sources for name in TEMPLATES)


def test_console_scripts_are_declared_and_run(tmp_path, capsys):
    """The installed commands (egg_info's entry_points.txt, what pip turns into executables) are the four
    command lines, each main() answering --help under its own name."""
    import configparser
    import importlib

    subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path)], cwd=ROOT, check=True,
                   capture_output=True, timeout=120)
    entry_points = configparser.ConfigParser()
    entry_points.read(next(tmp_path.glob("*.egg-info/entry_points.txt")))
    scripts = dict(entry_points["console_scripts"])
    assert scripts == {"tinyconf-export": "speechbrain_tinyconf.pretrained.export:main",
                       "tinyconf-transcribe": "speechbrain_tinyconf.pretrained.transcribe:main",
                       "tinyconf-onnx-export": "speechbrain_tinyconf.deploy.onnx_export:main",
                       "tinyconf-kws": "speechbrain_tinyconf.deploy.kws:main"}
    for name, target in scripts.items():
        module, function = target.split(":")
        with pytest.raises(SystemExit) as done:
            getattr(importlib.import_module(module), function)(["--help"])
        assert done.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: {name} ")
