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
from pathlib import Path
from typing import Iterator, Optional, Union

import torch

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


def latest_model_checkpoint(run_dir: PathLike) -> Optional[Path]:
    """``save/CKPT+*/model.ckpt`` of the newest checkpoint of a run, if any (by folder name: a timestamp)."""
    found = sorted(Path(run_dir, "save").glob("CKPT+*/model.ckpt"))
    return found[-1] if found else None


def resume_problem(run_dir: PathLike, model: torch.nn.Module) -> Optional[str]:
    """Why ``model`` cannot continue the run in ``run_dir`` (its newest checkpoint does not load), else None.

    train.py asks this before writing anything into an existing run folder, so a
    re-run with another architecture or sharing plan leaves the run as it was.
    """
    path = latest_model_checkpoint(run_dir)
    if path is None:
        return None
    try:
        state = torch.load(path, map_location="cpu")
    except Exception as err:  # a torn file: the recipe's own guard deals with it later
        return None if path.stat().st_size == 0 else f"{path}: unreadable ({type(err).__name__}: {err})"
    probe = copy.deepcopy(model)
    try:
        probe.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), str(err))
        return f"{path} was made by another model (architecture or sharing plan differ): {first}"
    return None
