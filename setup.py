"""speechbrain-tinyconf: tiny Conformer-transducer ASR for SpeechBrain via weight sharing."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="speechbrain-tinyconf",
    version="0.1.0",
    description="SpeechBrain lobes and recipes for ~5M-parameter Conformer ASR through weight sharing and shared low-rank factors",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["speechbrain_tinyconf", "speechbrain_tinyconf.*"]),
    python_requires=">=3.9",
    install_requires=[
        # torchaudio's C extension must match torch exactly: an unpinned install pulls a
        # newer torch whose torchaudio fails to import.
        "torch==2.11.0",
        "torchaudio==2.11.0",
        "speechbrain>=1.1.0,<1.2",
        "hyperpyyaml>=1.2",
        "sentencepiece>=0.1.99",
        "soundfile>=0.12",
        "tqdm",
    ],
    extras_require={
        "dev": ["pytest>=7", "matplotlib>=3.7", "onnx>=1.23,<2", "onnxruntime>=1.31,<2"],
        # bench/ablation.py plots WER against parameters
        "bench": ["matplotlib>=3.7"],
        # speechbrain_tinyconf.onnx_export / onnx_runtime, bench/benchmark.py (TorchScript exporter: no onnxscript)
        "export": ["onnx>=1.23,<2", "onnxruntime>=1.31,<2"],
    },
    license="Apache-2.0",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
