#!/usr/bin/env bash
# The real-speech campaign on CPU, stage by stage; re-run it and each stage resumes where it
# stopped. Stages: 0 synthetic corpus (files already written are kept), 1 pretraining on it (skipped
# once it has evaluated: <OUT>/pretrain/wer_dev.txt), 2 fine-tuning on real speech from stage 1
# (resumes from its checkpoints; early stopping ends it). Logs: <OUT>/<stage>.out.
#
#   bash recipes/SpeechOcean762/run_campaign.sh            # all stages
#   STAGES="2" bash recipes/SpeechOcean762/run_campaign.sh # only fine-tuning
#   EXTRA="--streaming True" STAGES=2 bash ...             # extra recipe options for the stages run
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/real-speech/speechocean762}
OUT=${OUT:-results/campaign}
TTS=${TTS:-data/so762_pretrain}
STAGES=${STAGES:-"0 1 2"}
HERE=recipes/SpeechOcean762
read -r -a extra <<< "${EXTRA:-}"
mkdir -p "$OUT"
train() {  # stage name, defaults file, recipe options...
    local name=$1 defaults=$2; shift 2
    python "$HERE/train.py" hparams/shared_lowrank_5M.yaml --defaults "$HERE/campaign/model.yaml" \
        --defaults "$defaults" --data_folder "$DATA" --output_folder "$OUT/$name" --device cpu "$@" \
        "${extra[@]}" 2>&1 | tee -a "$OUT/$name.out"
}
for stage in $STAGES; do
    case $stage in
        0) python "$HERE/make_tts_kaldi.py" "$DATA/train/text" "$TTS" --voices-per-sentence 2 \
               --digit-strings 2000 --grammar-sentences 8000 --speakers 120 --jobs "$(nproc)" ;;
        1) if [ -f "$OUT/pretrain/wer_dev.txt" ]; then echo "stage 1: $OUT/pretrain is done, skipped"; continue; fi
           train pretrain "$HERE/campaign/pretrain.yaml" --train_splits "[$(realpath "$TTS")/tts_train]" ;;
        2) train finetune "$HERE/campaign/finetune.yaml" --init_from "$OUT/pretrain" ;;
        *) echo "error: unknown stage $stage (expected 0, 1 or 2)" >&2; exit 2 ;;
    esac
done
