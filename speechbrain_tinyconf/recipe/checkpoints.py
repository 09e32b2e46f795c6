"""Guard against checkpoints left half-written by a killed run.

SpeechBrain's ``Checkpointer`` writes ``CKPT.yaml`` first and the recoverables
after it, so a process killed while saving leaves a folder that looks valid and
fails to load on restart. Such folders are renamed out of the way (kept, not
deleted) so the run resumes from the last complete checkpoint.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Dict, Iterable, List, Tuple, Union

logger = logging.getLogger(__name__)


def first_line(err: BaseException) -> str:
    """``Type: first line`` of an exception (torch's load errors run over several lines)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def load_state(path: Union[str, Path]) -> Dict:
    """``torch.load`` of a checkpoint file on CPU; a ``ValueError`` naming the file if it is missing or cannot be read."""
    import torch

    if not Path(path).exists():
        raise ValueError(f"{path}: missing")
    if not Path(path).is_file():
        raise ValueError(f"{path}: not a file")
    try:
        return torch.load(path, map_location="cpu")
    except Exception as err:
        raise ValueError(f"{path}: corrupt or not a PyTorch checkpoint ({first_line(err)})") from err


def checkpoint_problem(folder: Path, required: Iterable[str]) -> str:
    """Why ``folder`` is not a complete checkpoint ('' when it is)."""
    missing = [name for name in required if not (folder / f"{name}.ckpt").is_file()]
    if missing:
        return f"missing {', '.join(sorted(missing))}"
    for path in sorted(folder.glob("*.ckpt")):
        if path.stat().st_size == 0:  # created, never written (every recoverable writes something)
            return f"{path.name} is empty"
        with open(path, "rb") as f:
            torch_zip = f.read(4) == b"PK\x03\x04"
        if torch_zip:
            try:
                with zipfile.ZipFile(path) as archive:
                    archive.infolist()  # the central directory is written last
            except zipfile.BadZipFile:
                return f"{path.name} is truncated"
    return ""


def quarantine_incomplete_checkpoints(checkpoints_dir: Path, required: Iterable[str]) -> List[Tuple[Path, str]]:
    """Renames incomplete ``CKPT+*`` folders to ``INCOMPLETE+*``; returns what was moved and why."""
    required = list(required)
    moved = []
    for folder in sorted(Path(checkpoints_dir).glob("CKPT+*")):
        problem = checkpoint_problem(folder, required)
        if problem:
            target = folder.with_name("INCOMPLETE+" + folder.name[len("CKPT+"):])
            folder.rename(target)
            logger.warning("checkpoint %s is incomplete (%s): moved to %s", folder, problem, target.name)
            moved.append((target, problem))
    return moved
