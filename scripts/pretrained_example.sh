#!/usr/bin/env bash
# Installs the package (pinned), then transcribes the real recording shipped with the pretrained
# model, once through SpeechBrain's EncoderDecoderASR and once through the command line.
# No training and no network: everything is in pretrained/<model>/.
#
#   bash scripts/pretrained_example.sh                         # the shipped model and its example
#   MODEL=pretrained/<model> AUDIO=my.wav bash scripts/pretrained_example.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-pretrained/tinyconf-so762-5M}
AUDIO=${AUDIO:-$MODEL/example.opus}
python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
export HF_HUB_OFFLINE=1
python - "$MODEL" "$AUDIO" <<'PY'
import sys

from speechbrain.inference.ASR import EncoderDecoderASR

model, audio = sys.argv[1:]
asr = EncoderDecoderASR.from_hparams(source=model, savedir=None)
print(f"EncoderDecoderASR: {asr.transcribe_file(audio)}")
PY
tinyconf-transcribe "$MODEL" "$AUDIO"
