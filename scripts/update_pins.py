#!/usr/bin/env python3
"""Re-resolve every dependency on purpose and rewrite ``constraints.txt``.

    python scripts/update_pins.py            # fresh virtualenv, newest versions setup.py's ranges allow
    python scripts/update_pins.py --dry-run  # print the new pins and what changed, write nothing

Installs the package with all its extras in a temporary virtualenv, letting pip pick from
the ranges in ``setup.py`` (``TINYCONF_RESOLVE_PINS=1``) instead of the current pins, then
writes ``pip freeze`` of that environment as the new ``constraints.txt``. Run the whole
suite afterwards (``bash scripts/run_tests.sh``) before committing the file: the pins are
what CI and new users install.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "constraints.txt"
PIN_LINE = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)")


def read_pins(text: str) -> dict:
    return {m.group(1).lower(): m.group(2) for m in map(PIN_LINE.match, text.splitlines()) if m}


def resolve() -> str:
    """``pip freeze`` of a fresh virtualenv holding the package and every extra, resolved from ranges."""
    with tempfile.TemporaryDirectory(prefix="tinyconf_pins_") as tmp:
        venv.create(tmp, with_pip=True)
        python = str(Path(tmp) / "bin" / "python")
        env = {**os.environ, "TINYCONF_RESOLVE_PINS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        env.pop("PIP_CONSTRAINT", None)
        subprocess.run([python, "-m", "pip", "install", "--quiet", f"{ROOT}[dev,bench,export]"], check=True, env=env)
        freeze = subprocess.run([python, "-m", "pip", "freeze", "--exclude-editable"], check=True, env=env,
                                capture_output=True, text=True).stdout
    lines = [line for line in freeze.splitlines() if PIN_LINE.match(line) and not line.lower().startswith("speechbrain-tinyconf")]
    return "\n".join(sorted(lines, key=str.lower)) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the new pins and the changes, write nothing")
    args = parser.parse_args(argv)
    frozen = resolve()
    header = (
        "# Exact versions of every package the README's two commands install (direct and transitive).\n"
        "# One place for all of them: setup.py reads its requirements' versions from here, and\n"
        "# scripts/run_tests.sh, run_demo.sh and CI install with `pip install -c constraints.txt`.\n"
        f"# Written by `python scripts/update_pins.py` on {datetime.date.today()} "
        f"(Python {platform.python_version()}, {platform.machine()}); do not edit by hand.\n"
    )
    old = read_pins(PINS.read_text(encoding="utf-8")) if PINS.is_file() else {}
    new = read_pins(frozen)
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            print(f"{name}: {old.get(name, '-')} -> {new.get(name, '-')}")
    if args.dry_run:
        print(frozen, end="")
        return 0
    PINS.write_text(header + frozen, encoding="utf-8")
    print(f"wrote {PINS} ({len(new)} pins); now run: bash scripts/run_tests.sh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
