"""The recipe's data: prepared CSVs, the sentencepiece tokenizer, and SpeechBrain datasets with their pipelines.

A corpus's ``prepare(hparams, splits)`` writes one CSV per split (here LibriSpeech's,
:func:`prepare_librispeech_splits`; ``recipes/SpeechOcean762/train.py`` passes its Kaldi one);
:func:`prepare_csvs` merges the training and validation splits; :func:`train_tokenizer` learns
the tokenizer on the training transcripts; :func:`dataio_prepare` builds the datasets (audio,
or a segment of a recording, and tokens) and the dynamic batch samplers.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import speechbrain as sb
import torch
from speechbrain.tokenizers.SentencePiece import SentencePiece
from speechbrain.utils.distributed import run_on_main

from librispeech_prepare import prepare_librispeech
from prepare_io import merge_csvs

Dataset = sb.dataio.dataset.DynamicItemDataset


def prepare_librispeech_splits(hparams: Dict, splits: List[str]) -> None:
    """The LibriSpeech layout: ``<data_folder>/<split>/<spk>/<chapter>/...`` -> ``<csv_folder>/<split>.csv``."""
    prepare_librispeech(data_folder=hparams["data_folder"], save_folder=hparams["csv_folder"], splits=splits,
                        skip_prep=hparams["skip_prep"], validate_audio=hparams["validate_audio"])


def prepare_csvs(hparams: Dict, prepare: Callable[[Dict, List[str]], None] = prepare_librispeech_splits
                 ) -> Dict[str, Path]:
    """Runs data preparation (``prepare(hparams, splits)`` writes one CSV per split, here into
    ``<csv_folder>/splits/<split>.csv``) and merges the training and validation splits into
    ``train_csv`` / ``valid_csv``; returns ``{"train": csv, "valid": csv, <test split>: csv}``.

    The per-split CSVs have their own folder so that a split called ``train`` (Kaldi data dirs) is
    never the merged ``train.csv``: a relaunch would otherwise merge the merged file again.
    """
    folder = Path(hparams["csv_folder"]) / "splits"
    splits = list(dict.fromkeys([*hparams["train_splits"], *hparams["dev_splits"], *hparams["test_splits"]]))
    run_on_main(prepare, args=[{**hparams, "csv_folder": str(folder)}, splits])

    def csv_of(split: str) -> Path:  # a split may be a path (a Kaldi data dir elsewhere): named by its folder
        return folder / f"{Path(split).name}.csv"

    run_on_main(merge_csvs, args=[[csv_of(s) for s in hparams["train_splits"]], Path(hparams["train_csv"])])
    run_on_main(merge_csvs, args=[[csv_of(s) for s in hparams["dev_splits"]], Path(hparams["valid_csv"])])
    csvs = {"train": Path(hparams["train_csv"]), "valid": Path(hparams["valid_csv"])}
    csvs.update({Path(split).name: csv_of(split) for split in hparams["test_splits"]})
    return csvs


def train_tokenizer(hparams: Dict, train_csv: Path) -> Any:  # a sentencepiece.SentencePieceProcessor
    """Sentencepiece model on the training transcripts (trained once, then reused)."""
    model_dir = Path(hparams["save_folder"]).parent / "tokenizer"
    # created once up front: SentencePiece's own makedirs races between DDP ranks
    run_on_main(model_dir.mkdir, kwargs={"parents": True, "exist_ok": True})
    spm = SentencePiece(
        model_dir=str(model_dir),
        vocab_size=hparams["vocab_size"],
        annotation_train=str(train_csv),
        annotation_read="wrd",
        model_type=hparams["token_type"],
        character_coverage=hparams["character_coverage"],
    )
    return spm.sp


def dataio_prepare(hparams: Dict, csvs: Dict[str, Path], tokenizer: Any) -> Tuple[Dataset, Dataset, Dict[str, Dataset], Dict]:
    """SpeechBrain datasets with audio and token pipelines: train, valid, ``{test split: dataset}``, and
    ``{"train": sampler, "valid": sampler}`` with ``dynamic_batching`` (else empty)."""

    def load(path: Path):
        return sb.dataio.dataset.DynamicItemDataset.from_csv(csv_path=str(path)).filtered_sorted(sort_key="duration")

    train = sb.dataio.dataset.DynamicItemDataset.from_csv(csv_path=str(csvs["train"]))
    train = train.filtered_sorted(
        key_max_value={"duration": hparams["avoid_if_longer_than"]},
        sort_key="duration" if hparams["sorting"] != "random" else None,
        reverse=hparams["sorting"] == "descending",
    )
    if hparams["sorting"] != "random":
        hparams["train_dataloader_opts"]["shuffle"] = False
    valid = load(csvs["valid"])
    tests = {name: load(path) for name, path in csvs.items() if name not in ("train", "valid")}
    datasets = [train, valid, *tests.values()]

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return sb.dataio.dataio.read_audio(wav)

    rate = hparams["sample_rate"]

    @sb.utils.data_pipeline.takes("wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def segment_pipeline(wav, start, stop):  # Kaldi data dirs (kaldi_prepare.py): a segment of a recording
        return sb.dataio.dataio.read_audio({"file": wav, "start": round(float(start) * rate),
                                            "stop": round(float(stop) * rate)})

    @sb.utils.data_pipeline.takes("wrd")
    @sb.utils.data_pipeline.provides("wrd", "tokens_bos", "tokens")
    def text_pipeline(wrd):
        yield wrd
        ids = tokenizer.encode_as_ids(wrd)
        yield torch.LongTensor([hparams["bos_index"]] + ids)
        yield torch.LongTensor(ids)

    for data, path in zip(datasets, [csvs["train"], csvs["valid"], *(csvs[name] for name in tests)]):
        with open(path, encoding="utf-8") as handle:
            columns = handle.readline().strip().split(",")
        sb.dataio.dataset.add_dynamic_item([data], segment_pipeline if "start" in columns else audio_pipeline)
    sb.dataio.dataset.add_dynamic_item(datasets, text_pipeline)
    sb.dataio.dataset.set_output_keys(datasets, ["id", "sig", "wrd", "tokens_bos", "tokens"])

    samplers = {}
    if hparams["dynamic_batching"]:
        from speechbrain.dataio.sampler import DynamicBatchSampler

        opts = hparams["dynamic_batch_sampler"]
        for name, data, limit in (("train", train, opts["max_batch_len"]), ("valid", valid, opts["max_batch_len_val"])):
            samplers[name] = DynamicBatchSampler(
                data,
                limit,
                num_buckets=opts["num_buckets"],
                length_func=lambda x: x["duration"],
                shuffle=opts["shuffle_ex"] and name == "train",
                batch_ordering=opts["batch_ordering"] if name == "train" else "ascending",
                max_batch_ex=opts["max_batch_ex"],
            )
    return train, valid, tests, samplers
