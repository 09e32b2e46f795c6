#!/usr/bin/env bash
# Install the TTS engines used by recipes/LibriSpeech/make_mini_corpus.py
# (espeak-ng, flite) and sox, on Debian/Ubuntu.
#
# Idempotent: does nothing when all binaries are already on PATH.  Works as
# root (no sudo needed) or as a user with sudo.
set -euo pipefail

missing=()
for bin in espeak-ng flite sox; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install_tts.sh: espeak-ng, flite and sox are already installed."
    exit 0
fi

echo "install_tts.sh: missing: ${missing[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_tts.sh: apt-get not found; please install espeak-ng, flite and sox" \
         "with your system package manager." >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install_tts.sh: need root (or sudo) to run apt-get." >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# The Debian package names equal the binary names.
$SUDO apt-get install -y espeak-ng flite sox

for bin in espeak-ng flite sox; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        echo "install_tts.sh: $bin still not found after installation." >&2
        exit 1
    fi
done
echo "install_tts.sh: done ($(espeak-ng --version | sed -n 1p); $(flite --version 2>&1 | sed -n 1p))"
