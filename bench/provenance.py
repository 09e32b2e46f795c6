"""Where a generated table comes from: the commit, marked ``+dirty`` when tracked files differ from it.

Every bench script states ``on <date> (commit <commit>)`` above its table (``scripts/make_results.py``
carries it into RESULTS.md); this is the one place that asks git.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def commit() -> str:
    """Short hash of HEAD, with ``+dirty`` when a tracked file has uncommitted changes (``unknown`` outside git)."""
    head = _git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown"
    return head + ("+dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")
