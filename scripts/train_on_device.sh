#!/usr/bin/env bash
# The campaign model trained for a few minutes on the lent GPU machine (issue 20, section 4).
#
#   bash scripts/train_on_device.sh prepare [options]   # HERE, once: the carry folder, the run call
#   bash scripts/train_on_device.sh train [options]     # THERE, as the device tool's command
#   bash scripts/train_on_device.sh collect FILES_AT    # HERE, afterwards: a run folder for --init_from
#
# prepare: copies the speechocean762 train split (all 2,500 utterances, the original Opus files,
#   not re-encoded) and 60 dev utterances as Kaldi data dirs with relative paths into
#   .device_carry/ (ignored by git), downloads the wheels the device image lacks for Python 3.12
#   (speechbrain, HyperPyYAML, ruamel.yaml, soundfile with its libsndfile, cffi, pycparser: the
#   versions of constraints.txt), prints what would travel (64 MiB at most) and the call:
#       run(command="bash scripts/train_on_device.sh train", carry=[".device_carry"], timeout_s=600)
#   Run it in the checkout that travels: the one the session was started in. Options:
#   --dev-utts N, --train-utts N, --reencode-kbps K (if the tree ever outgrows 64 MiB; opus-tools),
#   --no-wheels, --python-version V (scripts/device_run.py prepare --help).
# train: installs the wheels to /tmp/site (the device README's line), then scripts/device_run.py
#   train: the campaign configuration + scripts/device_finetune.yaml on cuda:0 in bf16 from
#   pretrained/tinyconf-so762-5M, 300 s batches, lr 0.002, 12 loader workers, validation loss on
#   the dev subset after every epoch, no decoding; ends by itself 8.5 min after this script
#   started (--minutes), the best checkpoint packed into $OUT: log.txt, train_log.txt,
#   manifest.json, run.part0, run.part1 (<= 8 files of <= 16 MiB). Options: --minutes M,
#   --batch-seconds S, --lr X, --warmup N, --workers N, --streaming, --init-from PATH,
#   --device D, --out DIR, --no-install (skip the wheels), -- RECIPE OPTIONS.
# collect: checks every sha256 of the pack, writes results/campaign/device_<stamp>/ (a run folder:
#   save/CKPT+*/ with model.ckpt, normalizer.ckpt and CKPT.yaml's validation loss, tokenizer/,
#   hyperparams.yaml, train_log.txt), checks that --init_from accepts it, prints the CPU command
#   that continues from it. Option: --dest DIR.
# Docs: docs/device_training.md. Tests: tests/test_device_pack.py, tests/test_train_on_device.py.
set -euo pipefail
T0=$(date +%s.%N)  # the deadline of `train` counts from here, wheel installation included
cd "$(dirname "$0")/.."
sub=${1:-}
[ $# -gt 0 ] && shift
case $sub in
    prepare|collect)
        exec "${PYTHON:-python}" scripts/device_run.py "$sub" "$@" ;;
    train)
        PY=${PYTHON:-python3}
        install=1; args=()
        for arg in "$@"; do
            if [ "$arg" = --no-install ]; then install=0; else args+=("$arg"); fi
        done
        wheels=${WHEELS:-.device_carry/whl}
        site=${SITE:-/tmp/site}
        if [ "$install" = 1 ]; then
            if ! ls "$wheels"/*.whl >/dev/null 2>&1; then
                echo "error: no wheels in $wheels: was .device_carry carried (carry: [\".device_carry\"])?" \
                     "(--no-install where speechbrain is installed)" >&2
                exit 3
            fi
            "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
                "$wheels"/*.whl || { echo "error: installing the wheels of $wheels failed" >&2; exit 3; }
            export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
        fi
        export DEVICE_T0=$T0 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
        exec "$PY" scripts/device_run.py train ${args[@]+"${args[@]}"} ;;
    *)
        echo "usage: bash scripts/train_on_device.sh prepare|train|collect [options] (see its header)" >&2
        exit 2 ;;
esac
