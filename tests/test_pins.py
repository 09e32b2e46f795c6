"""The installed environment is the pinned one (constraints.txt), and every install path uses the pins."""

import re
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "constraints.txt"
PIN_LINE = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)")
# The packages whose versions change this project's numbers or behaviour: they must be installed.
REQUIRED = ("torch", "torchaudio", "speechbrain", "sentencepiece", "numpy", "onnx", "onnxruntime",
            "soundfile", "hyperpyyaml", "scipy", "matplotlib", "pytest")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict:
    found = {}
    for line in PINS.read_text(encoding="utf-8").splitlines():
        match = PIN_LINE.match(line.strip())
        if match:
            found[norm(match.group(1))] = match.group(2)
    return found


def drift(pinned: dict) -> list:
    """``name: installed X, pinned Y`` for every pinned package installed at another version."""
    out = []
    for name, version in sorted(pinned.items()):
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name in REQUIRED:
                out.append(f"{name}: not installed, pinned {version}")
            continue
        if have != version:
            out.append(f"{name}: installed {have}, pinned {version}")
    return out


def test_installed_versions_equal_the_pins():
    pinned = pins()
    assert set(REQUIRED) <= set(pinned), f"constraints.txt lacks pins for {sorted(set(REQUIRED) - set(pinned))}"
    problems = drift(pinned)
    assert not problems, (
        "installed packages differ from constraints.txt (results and tests are made with the pins):\n  "
        + "\n  ".join(problems)
        + "\nreinstall with: python -m pip install -c constraints.txt -e '.[dev]'"
        + "\nor move the pins on purpose with: python scripts/update_pins.py"
    )


def test_drift_is_reported(monkeypatch):
    """The check above can fail: a pin that differs from what is installed is named."""
    pinned = pins()
    pinned["onnxruntime"] = "0.0.1"
    assert any(line.startswith("onnxruntime: installed") and "pinned 0.0.1" in line for line in drift(pinned))
    del pinned["onnxruntime"]
    monkeypatch.setattr(metadata, "version", lambda name: (_ for _ in ()).throw(metadata.PackageNotFoundError(name)))
    assert "torch: not installed, pinned" in " ".join(drift(pinned))


def test_every_install_command_uses_the_pins():
    """README's two commands, CI and the demo install through constraints.txt; setup.py pins from it too."""
    for script in ("scripts/run_tests.sh", "recipes/LibriSpeech/run_demo.sh", "scripts/pretrained_example.sh"):
        installs = [line for line in (ROOT / script).read_text().splitlines() if "pip install" in line]
        assert installs, script
        assert all("-c constraints.txt" in line for line in installs), (script, installs)
    assert "scripts/run_tests.sh" in (ROOT / ".ci" / "run").read_text()


def test_package_requirements_are_the_pins():
    """setup.py takes every requirement's version from constraints.txt (install_requires and extras)."""
    pinned = pins()
    requires = metadata.requires("speechbrain-tinyconf") or []
    assert requires
    for req in requires:
        spec = req.split(";")[0].strip()
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)$", spec)
        assert match, f"speechbrain-tinyconf requires {spec!r}: not an exact pin"
        assert pinned[norm(match.group(1))] == match.group(2), spec


def test_runtime_imports_no_torch():
    """The package imports lazily: the onnxruntime decoder can be used where torch is not installed."""
    import subprocess
    import sys

    code = ("import sys, speechbrain_tinyconf, speechbrain_tinyconf.deploy.onnx_runtime; "
            "print('torch' in sys.modules); speechbrain_tinyconf.SharedConformerEncoder; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.split() == ["False", "True"]
