#!/usr/bin/env bash
# Refreshes the shipped candidate from a campaign run folder (issue: "whenever dev WER has improved,
# refresh the candidate under pretrained/"), with the cores to itself (~25 min on 2 cores):
#  1. the recipe's own evaluation of the run's averaged checkpoints on dev and test (a relaunch at
#     the last trained epoch only evaluates): wer_dev.txt, wer_test.txt;
#  2. the export to MODEL, then its sherpa-onnx WER on test (fp32, int8; and streaming, 320 ms);
#  3. docs/real_speech regenerated, chained from the earlier report (run folders of earlier
#     sessions are gone), and the model card's real-speech section; 4. the export again with it.
#
#   bash recipes/SpeechOcean762/ship_candidate.sh results/campaign/finetune_2026-12-05 --streaming True
#   MODEL=pretrained/other EXAMPLE_UTT=001200015 POCKETSPHINX=results/pocketsphinx bash recipes/SpeechOcean762/ship_candidate.sh RUN
#   EVALUATE=0 WEIGHTS=int4 bash recipes/SpeechOcean762/ship_candidate.sh RUN   # the run's evaluation is done
# WEIGHTS: how model.ckpt stores them, int4 (default: 2.8 MiB for the 5M model, small enough for git)
# or fp32. With int4 an fp32 export is also written to results/<model name>-fp32 (not in git), the
# reference of `python bench/weight_storage.py results/<model name>-fp32 DATA --split test --out OUT`.
# Options after RUN are the run's own recipe options (e.g. --streaming True): the evaluation relaunch
# rewrites the run's hyperparams.yaml, from which the report reads them.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${1:?usage: ship_candidate.sh RUN_FOLDER [recipe options of the run]}
shift
DATA=${DATA:-../shared/real-speech/speechocean762}
MODEL=${MODEL:-pretrained/tinyconf-so762-5M}
EXAMPLE_UTT=${EXAMPLE_UTT:-001200015}  # the first utterance of the first adult test speaker
EARLIER=${EARLIER:-docs/real_speech/real_speech.json}
POCKETSPHINX=${POCKETSPHINX:-}  # an output folder of bench/pocketsphinx_reference.py: its row, per group
WEIGHTS=${WEIGHTS:-int4}
EVALUATE=${EVALUATE:-1}  # 0: the run's wer_dev.txt / wer_test.txt are already those of its last epoch
case "$WEIGHTS" in fp32|int4) ;; *) echo "error: WEIGHTS=$WEIGHTS: expected fp32 or int4" >&2; exit 2;; esac
case "$EVALUATE" in 0|1) ;; *) echo "error: EVALUATE=$EVALUATE: expected 0 or 1" >&2; exit 2;; esac
if [ "$EVALUATE" = 0 ] && [ $# -gt 0 ]; then echo "error: EVALUATE=0 takes no recipe options (they serve the evaluation)" >&2; exit 2; fi
HERE=recipes/SpeechOcean762
SHERPA=results/sherpa_onnx/$(basename "$MODEL")
if [ ! -f "$RUN/train_log.txt" ]; then echo "error: $RUN: no train_log.txt (not a run folder)" >&2; exit 2; fi
example=$(awk -v u="$EXAMPLE_UTT" '$1 == u {print $2}' "$DATA/test/wav.scp")
if [ -z "$example" ]; then echo "error: EXAMPLE_UTT=$EXAMPLE_UTT is not in $DATA/test/wav.scp" >&2; exit 2; fi
# 1. evaluation (the run's model settings; nothing is trained at its last epoch)
if [ "$EVALUATE" = 1 ]; then
    epochs=$(grep -o "^epoch: [0-9]*" "$RUN/train_log.txt" | tail -1 | cut -d' ' -f2 || true)
    if [ -z "$epochs" ]; then echo "error: $RUN/train_log.txt: no epoch line (nothing trained yet)" >&2; exit 2; fi
    python "$HERE/train.py" hparams/shared_lowrank_5M.yaml --defaults "$HERE/campaign/model.yaml" \
        --defaults "$HERE/campaign/finetune.yaml" --data_folder "$DATA" --output_folder "$RUN" --device cpu \
        --number_of_epochs "$epochs" --number_of_ctc_epochs "$epochs" "$@" 2>&1 | tail -n 3
fi
# 2. export and sherpa-onnx WER
python -m speechbrain_tinyconf.pretrained.export "$RUN" "$MODEL" --overwrite --example "$DATA/$example" --weights "$WEIGHTS"
python bench/sherpa_onnx_wer.py "$MODEL" "$DATA" --split test --precisions fp32,int8 --out "$SHERPA"
python bench/sherpa_onnx_wer.py "$MODEL" "$DATA" --split test --precisions "" --streaming-chunk-frames 8 \
    --out "$SHERPA-streaming"
# 3. report (chained) and model card section
[ "$EARLIER" -ef "$RUN/earlier_report.json" ] || cp "$EARLIER" "$RUN/earlier_report.json"  # the report overwrites $EARLIER
python bench/real_speech_report.py "$RUN" --earlier "$RUN/earlier_report.json" --corpus "$DATA" \
    --sherpa "$SHERPA" --sherpa "$SHERPA-streaming" ${POCKETSPHINX:+--pocketsphinx "$POCKETSPHINX"} --progress --card "$RUN/card.md" --example-utt "$EXAMPLE_UTT" \
    --out docs/real_speech
# 4. the export with its card (and, for int4, the fp32 reference beside it, outside git)
python -m speechbrain_tinyconf.pretrained.export "$RUN" "$MODEL" --overwrite --example "$DATA/$example" --notes "$RUN/card.md" \
    --weights "$WEIGHTS"
if [ "$WEIGHTS" = int4 ]; then
    python -m speechbrain_tinyconf.pretrained.export "$RUN" "results/$(basename "$MODEL")-fp32" --overwrite \
        --example "$DATA/$example" --notes "$RUN/card.md" --weights fp32
fi
echo "refreshed $MODEL from $RUN: see docs/real_speech/real_speech.md and $MODEL/README.md"
