"""speechbrain-tinyconf: tiny Conformer-transducer ASR for SpeechBrain via weight sharing.

Versions live in one place, ``constraints.txt``: every requirement below is installed at the
exact version pinned there (transitive dependencies too, through ``pip install -c
constraints.txt``). ``python scripts/update_pins.py`` re-resolves the ranges below in a fresh
virtualenv and rewrites that file (see README, "Pinned versions").
"""

import os
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent

# What the package needs, with the range a re-resolution may pick from.
REQUIRES = {
    # torchaudio's C extension must match torch exactly; torch > 2.11 breaks torchaudio 2.11's extension.
    "torch": "==2.11.0",
    "torchaudio": "==2.11.0",
    "speechbrain": ">=1.1.0,<1.2",
    "hyperpyyaml": ">=1.2",
    "sentencepiece": ">=0.1.99",
    "soundfile": ">=0.12",
    "numpy": ">=1.24",
    "tqdm": "",
}
EXTRAS = {
    # bench/ablation.py plots WER against parameters; bench/pocketsphinx_reference.py is the
    # reference recognizer of the real-speech results (its wheel ships an English model)
    "bench": {"matplotlib": ">=3.7", "pocketsphinx": ">=5"},
    # tinyconf-onnx-export, speechbrain_tinyconf.deploy.onnx_runtime, bench/benchmark.py (TorchScript exporter: no onnxscript);
    # onnx-ir: onnxruntime's block-wise int4 quantiser (MatMulNBits, --int4) imports it
    "export": {"onnx": ">=1.23,<2", "onnxruntime": ">=1.31,<2", "onnx-ir": ">=1.1,<2"},
    # running exported models where people deploy them (tinyconf-onnx-export --format sherpa-onnx)
    "sherpa": {"sherpa-onnx": ">=1.12"},
}
# kaldi-native-fbank: the feature code sherpa-onnx runs, to check the `frontend: kaldi` option against
EXTRAS["dev"] = {"pytest": ">=7", "pytest-xdist": ">=3.5", "kaldi-native-fbank": ">=1.20", **EXTRAS["bench"], **EXTRAS["export"],
                 **EXTRAS["sherpa"]}
# The command lines (each also runs as python -m <module>; the old paths python -m speechbrain_tinyconf.export,
# .transcribe and .onnx_export still work for one release).
CONSOLE_SCRIPTS = {
    "tinyconf-export": "speechbrain_tinyconf.pretrained.export:main",
    "tinyconf-transcribe": "speechbrain_tinyconf.pretrained.transcribe:main",
    "tinyconf-onnx-export": "speechbrain_tinyconf.deploy.onnx_export:main",
    # keyword spotting with a streaming sherpa-onnx export (needs the sherpa extra)
    "tinyconf-kws": "speechbrain_tinyconf.deploy.kws:main",
}


def _pins() -> dict:
    path = HERE / "constraints.txt"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: it pins every dependency (python scripts/update_pins.py writes it)")
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def _requirements(spec: dict) -> list:
    if os.environ.get("TINYCONF_RESOLVE_PINS") == "1":  # scripts/update_pins.py: use the ranges
        return [name + rng for name, rng in spec.items()]
    pins = _pins()
    missing = [name for name in spec if name.lower() not in pins]
    if missing:
        raise SystemExit(f"constraints.txt has no pin for {', '.join(missing)}: run python scripts/update_pins.py")
    return [f"{name}=={pins[name.lower()]}" for name in spec]


setup(
    name="speechbrain-tinyconf",
    version="0.1.0",
    description="SpeechBrain lobes and recipes for ~5M-parameter Conformer ASR through weight sharing and shared low-rank factors",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["speechbrain_tinyconf", "speechbrain_tinyconf.*"]),
    # the model card and inference-YAML templates of speechbrain_tinyconf.pretrained (export, model_folder)
    package_data={"speechbrain_tinyconf.pretrained": ["templates/*.md", "templates/*.yaml"]},
    entry_points={"console_scripts": [f"{name} = {target}" for name, target in CONSOLE_SCRIPTS.items()]},
    python_requires=">=3.9",
    install_requires=_requirements(REQUIRES),
    extras_require={name: _requirements(spec) for name, spec in EXTRAS.items()},
    license="Apache-2.0",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
