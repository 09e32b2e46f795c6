#!/usr/bin/env python3
"""Rehearse ``train_on_device.sh train`` here, placed as the device would run it, before a device minute is spent.

1. A copy of what travels: the files git lists (tracked, and untracked that are not ignored),
   and a carry folder made by ``prepare`` (a handful of utterances, and the wheels for *this*
   Python: the device's 3.12 wheels do not install on another version).
2. A Python that has only what the device image has: a fresh virtual environment that sees, of
   this environment's packages, those whose names are in :data:`DEVICE_PACKAGES` (the device
   tool's KINDS.md, read 2026-11-17). speechbrain, HyperPyYAML, ruamel.yaml, soundfile, cffi,
   pycparser and this project are not among them: they must come from the carried wheels
   and the tree.
3. ``train --no-install`` there must fail at once, naming what is missing; ``train`` (the wheels
   installed with the device README's line into a fresh ``--target``) must train a few CPU steps
   and pack; ``collect`` (here) must make a run folder that ``--init_from`` accepts.

    python scripts/simulate_device_run.py [--workdir DIR] [--keep]

What it cannot check: the GPU (the run is on the CPU), Python 3.12 and the 3.12 wheels
themselves (it installs the same versions built for this Python), the device's speed.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Set

ROOT = Path(__file__).resolve().parents[1]
# The device image's Python packages (device tool, KINDS.md, "Python packages already there").
DEVICE_PACKAGES = """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax
fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2
joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown
markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch
mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti
nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver
nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13
nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix
orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache
protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest
pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex
requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio
torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions
typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
""".split()


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def device_like_site(site_packages: Path, dest: Path) -> Set[str]:
    """Links into ``dest`` the top-level files and folders of the distributions installed in
    ``site_packages`` that the device image also has; returns the names of those left out."""
    allowed = {normalise(n) for n in DEVICE_PACKAGES}
    dest.mkdir(parents=True)
    kept: Set[str] = set()
    left_out: Set[str] = set()
    for info in sorted(site_packages.glob("*.dist-info")):
        name = normalise(info.name[: -len(".dist-info")].rsplit("-", 1)[0])
        if name not in allowed:
            left_out.add(name)
            continue
        entries = {info.name}
        record = info / "RECORD"
        if record.is_file():
            for line in record.read_text(encoding="utf-8").splitlines():
                first = line.split(",", 1)[0].split("/", 1)[0]
                if first and not first.startswith("..") and (site_packages / first).exists():
                    entries.add(first)
        for entry in entries - kept:
            os.symlink(site_packages / entry, dest / entry)
        kept |= entries
    return left_out


def sh(cmd: List[str], env: Dict[str, str], cwd: Path, expect: int = 0, timeout: int = 1200) -> str:
    print(f"$ {' '.join(map(str, cmd))}", flush=True)
    proc = subprocess.run(list(map(str, cmd)), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    if proc.returncode != expect:
        print(output[-6000:])
        raise SystemExit(f"exit {proc.returncode}, expected {expect}: {' '.join(map(str, cmd))}")
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=None, help="default: a new temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "real-speech" / "speechocean762"))
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="device_sim_")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    base_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    base_env.pop("PYTHONPATH", None)

    # 1. the tree as it travels, and a small carry folder (wheels for this Python)
    tree = work / "tree"
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if (ROOT / rel).is_file():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, tree / rel)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    sh([sys.executable, ROOT / "scripts" / "device_run.py", "prepare", "--data", args.data, "--dest",
        tree / ".device_carry", "--train-utts", 6, "--dev-utts", 2, "--python-version", py], base_env, ROOT)
    wheels = sorted(p.name for p in (tree / ".device_carry" / "whl").glob("*.whl"))
    print(f"carried wheels ({py}): {', '.join(wheels)}")

    # 2. a Python with the device image's packages only
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site_packages = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    left_out = device_like_site(site_packages, work / "devsite")
    venv_site = next((venv / "lib").glob("python*/site-packages"))
    (venv_site / "device_image.pth").write_text(f"import site; site.addsitedir({str(work / 'devsite')!r})\n")
    print(f"left out of the device-like Python (not in the device image): {', '.join(sorted(left_out))}")
    env = {**base_env, "PATH": f"{venv / 'bin'}{os.pathsep}{base_env['PATH']}", "PYTHON": "python3",
           "SITE": str(work / "site"), "HF_HUB_OFFLINE": "1"}
    probe = sh(["python3", "-c", "import importlib.util as u; print([m for m in ('speechbrain', 'hyperpyyaml', "
                "'soundfile', 'ruamel', 'speechbrain_tinyconf', 'torch') if u.find_spec(m)])"], env, work)
    print(f"importable before the wheels: {probe.strip()}")

    # 3. the failure without wheels, the run with them, collect here
    failed = sh(["bash", "scripts/train_on_device.sh", "train", "--no-install", "--device", "cpu", "--out",
                 work / "OUT_nowheels"], env, tree, expect=3)
    print("without wheels: " + next(line for line in failed.splitlines() if line.startswith("error:")))
    out = sh(["bash", "scripts/train_on_device.sh", "train", "--device", "cpu", "--minutes", 8, "--out", work / "OUT",
              "--run-dir", work / "run", "--workers", 2, "--batch-seconds", 10, "--", "--number_of_epochs", 1],
             env, tree)
    print("\n".join(line for line in out.splitlines() if line.startswith("[device_run")))
    for path in sorted((work / "OUT").iterdir()):
        print(f"  $OUT/{path.name}: {path.stat().st_size:,} B")
    collected = sh([sys.executable, ROOT / "scripts" / "device_run.py", "collect", work / "OUT", "--dest",
                    work / "collected"], base_env, ROOT)
    print(collected)
    print(f"simulation passed in {time.monotonic() - started:.0f} s ({work})")
    if not args.keep:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
