#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole test suite (this is what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
if [ -f scripts/install_tts.sh ]; then bash scripts/install_tts.sh; fi
# -n auto: one single-threaded pytest-xdist worker per core; the workers share the trained runs (tests/conftest.py)
python -m pytest tests speechbrain_tinyconf --doctest-modules -q -p no:cacheprovider -n auto "$@"
