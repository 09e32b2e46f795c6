#!/usr/bin/env python3
"""Train a weight-shared Conformer-transducer on real read speech given as Kaldi data dirs (speechocean762).

    python recipes/SpeechOcean762/train.py hparams/shared_lowrank_5M.yaml \\
        --data_folder ../shared/real-speech/speechocean762 --device cpu

The LibriSpeech recipe (``recipes/LibriSpeech/train.py``: the same ``TransducerASR`` Brain,
tokenizer, data pipeline, evaluation) with two differences: data preparation reads Kaldi data
dirs (``kaldi_prepare.py``: ``<data_folder>/<split>/{wav.scp,text,utt2spk[,segments]}``), and
``cpu_schedule.yaml`` beside this file (splits, a schedule for 2 CPU cores, augmentation) is
passed as the first ``--defaults`` file, under any other ``--defaults`` and the command line. Any model file of ``hparams/`` works unchanged.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
SCHEDULE = HERE / "cpu_schedule.yaml"
sys.path.insert(0, str(HERE))
from kaldi_prepare import prepare_kaldi  # noqa: E402


def _librispeech_recipe():
    """recipes/LibriSpeech/train.py as a module (it is a script; both are called train.py)."""
    path = HERE.parent / "LibriSpeech" / "train.py"
    spec = importlib.util.spec_from_file_location("librispeech_train", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare_kaldi_splits(hparams: Dict, splits: List[str]) -> None:
    """``<data_folder>/<split>`` Kaldi data dirs -> ``<csv_folder>/<split>.csv``."""
    prepare_kaldi(hparams["data_folder"], hparams["csv_folder"], splits, sample_rate=hparams["sample_rate"],
                  skip_prep=hparams["skip_prep"], validate_audio=hparams["validate_audio"])


def main(argv: List[str]) -> None:
    recipe = _librispeech_recipe()
    try:
        recipe.main(["--defaults", str(SCHEDULE), *argv], prepare=prepare_kaldi_splits)
    except BaseException:
        recipe.release_process_group(finished=False)
        raise
    recipe.release_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
