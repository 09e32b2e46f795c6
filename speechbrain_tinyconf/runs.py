"""Recipe run folders: what marks one, and what train.py may do in an existing one.

A *run folder* is what ``recipes/LibriSpeech/train.py`` writes to ``output_folder``:
``hyperparams.yaml`` (the recipe with its overrides), ``command.txt``, ``log.txt``,
``train_log.txt``, ``save/CKPT+*`` and ``tokenizer/``. An *exported model folder*
(:mod:`speechbrain_tinyconf.export`) is marked by :data:`EXPORT_MARKER`, a file only
export writes.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Iterator, List, Optional, Union

import torch

from .checkpoints import load_state

PathLike = Union[str, Path]
EXPORT_MARKER = "tinyconf-export.json"
RUN_FILES = ("command.txt", "train_log.txt", "log.txt")


def is_run_folder(path: PathLike) -> bool:
    """True for a train.py output folder (its ``hyperparams.yaml`` plus checkpoints or logs)."""
    path = Path(path)
    if not (path / "hyperparams.yaml").is_file() or (path / EXPORT_MARKER).is_file():
        return False
    return (path / "save").is_dir() or any((path / name).is_file() for name in RUN_FILES)


def run_folders_in(path: PathLike, depth: int = 3) -> Iterator[Path]:
    """``path`` itself and its sub-folders down to ``depth`` levels that are run folders."""
    path = Path(path)
    if not path.is_dir():
        return
    if is_run_folder(path):
        yield path
    if depth > 0:
        for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink()):
            yield from run_folders_in(child, depth - 1)


def model_checkpoints(run_dir: PathLike) -> List[Path]:
    """``save/CKPT+*/model.ckpt`` of a run, newest first (folder names are timestamps)."""
    return sorted(Path(run_dir, "save").glob("CKPT+*/model.ckpt"), reverse=True)


def resume_problem(run_dir: PathLike, model: torch.nn.Module) -> Optional[str]:
    """Why ``model`` cannot continue the run in ``run_dir`` (its newest readable checkpoint does not load), else None.

    train.py asks this before writing anything into an existing run folder, so a
    re-run with another architecture or sharing plan leaves the run as it was.
    Unreadable (torn) checkpoints are passed over: the recipe sets them aside itself.
    """
    for path in model_checkpoints(run_dir):
        try:
            state = load_state(path)
        except ValueError:
            continue
        probe = copy.deepcopy(model)
        try:
            probe.load_state_dict(state, strict=True)
        except RuntimeError as err:
            return f"{path} was made by another model (architecture or sharing plan differ): {_summary(str(err))}"
        return None
    return None


def _summary(message: str) -> str:
    """One short line of a ``load_state_dict`` error: each kind of problem, how many keys, the first one."""
    parts, mismatched = [], []
    for line in message.splitlines()[1:]:
        line = line.strip()
        keys = re.findall(r'"([^"]+)"', line)
        if line.startswith(("Missing key", "Unexpected key")) and keys:
            kind = line.split(" in state_dict")[0]
            parts.append(f"{kind}: {len(keys)} (first {keys[0]})")
        elif line.startswith("size mismatch for "):
            mismatched.append(line[len("size mismatch for "):].split(":")[0])
        elif line:
            parts.append(line)
    if mismatched:
        parts.append(f"size mismatch: {len(mismatched)} (first {mismatched[0]})")
    return "; ".join(parts) or message.strip().splitlines()[0]
