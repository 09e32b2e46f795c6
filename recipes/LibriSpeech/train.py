#!/usr/bin/env python3
"""Train a weight-shared Conformer-transducer on LibriSpeech (or a corpus in its layout).

    python recipes/LibriSpeech/train.py hparams/shared_lowrank_5M.yaml --data_folder /data/LibriSpeech

Pipeline, top to bottom: data preparation (``librispeech_prepare.py``) ->
sentencepiece unigram tokenizer on the training transcripts -> SpeechBrain
``Brain`` training (speed perturbation, SpecAugment-style masking and warping,
dynamic chunk training) -> checkpoint averaging of the best epochs -> greedy
(or beam) transducer decoding of every test split, WER written to
``wer_<split>.txt``. Multi-GPU: ``torchrun --nproc_per_node=N train.py <yaml>``.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import speechbrain as sb
import torch
import yaml
from speechbrain.tokenizers.SentencePiece import SentencePiece
from speechbrain.utils.distributed import if_main_process, run_on_main

from speechbrain_tinyconf.checkpoints import quarantine_incomplete_checkpoints
from speechbrain_tinyconf.cpu_training import cpu_precision, use_fast_dropout
from speechbrain_tinyconf.hparams import (
    OverrideError, check_overrides, load_recipe_hparams, parse_overrides, recipe_yaml, resolve_text,
)
from speechbrain_tinyconf.lowrank import svd_init_skipped
from speechbrain_tinyconf.progress import AudioSeen
from speechbrain_tinyconf.runs import (
    InitSource, OutputFolderInUse, init_source, lock_output_folder, matching_weights, model_checkpoints,
    output_folder_holder, output_folder_problem, resume_problem,
)
from speechbrain_tinyconf.size import size_report

sys.path.insert(0, str(Path(__file__).resolve().parent))
from librispeech_prepare import merge_csvs, prepare_librispeech  # noqa: E402

logger = logging.getLogger(__name__)


class TransducerASR(sb.Brain):
    """Conformer-transducer with an auxiliary CTC head; everything else is SpeechBrain's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.audio_seen = AudioSeen()  # hours of training audio, logged with each validation
        if self.checkpointer is not None:  # optional: runs saved before it existed still resume
            self.checkpointer.add_recoverable("audio_seen", self.audio_seen, optional_load=True)

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig  # (batch, samples), relative lengths
        tokens_bos, _ = batch.tokens_bos  # (batch, U+1), blank-prefixed
        if stage == sb.Stage.TRAIN and hasattr(self.hparams, "wav_augment"):
            wavs, wav_lens = self.hparams.wav_augment(wavs, wav_lens)
            tokens_bos = self.hparams.wav_augment.replicate_labels(tokens_bos)
        if stage == sb.Stage.TRAIN and getattr(self.hparams, "robust_augment_prob", 0) > 0:
            wavs, wav_lens = self.hparams.robust_augment(wavs, wav_lens)  # same length, no label change

        feats = self.hparams.compute_features(wavs)  # (batch, frames, n_mels)
        if stage == sb.Stage.TRAIN and hasattr(self.hparams, "fea_augment"):
            feats, _ = self.hparams.fea_augment(feats, wav_lens)
            tokens_bos = self.hparams.fea_augment.replicate_labels(tokens_bos)
        feats = self.modules.normalize(feats, wav_lens, epoch=self.hparams.epoch_counter.current)

        chunking = self.hparams.dynchunktrain_config_sampler(stage) if self.hparams.streaming else None
        src = self.modules.CNN(feats)  # (batch, frames/4, n_mels/4, channels)
        enc = self.modules.enc(src, wav_lens, pad_idx=self.hparams.pad_index, dynchunktrain_config=chunking)
        enc = self.modules.proj_enc(enc)  # (batch, T, joint_dim)

        train = stage == sb.Stage.TRAIN
        pred = torch.nn.functional.dropout(self.modules.emb(tokens_bos), self.hparams.dec_emb_dropout, training=train)
        pred = self.modules.dec(pred)
        pred = pred[0] if isinstance(pred, tuple) else pred  # a GRU returns (output, state)
        pred = torch.nn.functional.dropout(pred, self.hparams.dec_dropout, training=train)
        pred = self.modules.proj_dec(pred)  # (batch, U+1, joint_dim)

        joint = self.modules.Tjoint(enc.unsqueeze(2), pred.unsqueeze(1))  # (batch, T, U+1, joint_dim)
        logits = self.modules.transducer_lin(joint)  # (batch, T, U+1, vocab)

        outputs = {"logits": logits, "wav_lens": wav_lens}
        if train and self._ctc_active():
            outputs["p_ctc"] = self.hparams.log_softmax(self.modules.proj_ctc(enc).float())  # fp32 under bf16
        if stage == sb.Stage.TEST:
            outputs["hyps"] = self.hparams.Testsearcher(enc)[0]
        elif stage == sb.Stage.VALID and self._decode_valid():
            outputs["hyps"] = self.hparams.Greedysearcher(enc)[0]
        return outputs

    def _ctc_active(self) -> bool:
        return self.hparams.ctc_weight > 0 and self.hparams.epoch_counter.current <= self.hparams.number_of_ctc_epochs

    def _decode_valid(self) -> bool:
        epoch = self.hparams.epoch_counter.current
        return epoch % self.hparams.valid_search_interval == 0 or epoch >= self.hparams.number_of_epochs

    def compute_objectives(self, predictions, batch, stage):
        tokens, token_lens = batch.tokens
        if stage == sb.Stage.TRAIN:
            for augment in ("wav_augment", "fea_augment"):
                if hasattr(self.hparams, augment):
                    tokens, token_lens = getattr(self.hparams, augment).replicate_multiple_labels(tokens, token_lens)
        wav_lens = predictions["wav_lens"]
        loss = self.hparams.transducer_cost(predictions["logits"], tokens, wav_lens, token_lens)
        if "p_ctc" in predictions:
            ctc = self.hparams.ctc_cost(predictions["p_ctc"], tokens, wav_lens, token_lens)
            loss = self.hparams.ctc_weight * ctc + (1 - self.hparams.ctc_weight) * loss
        if "hyps" in predictions:
            words = [self.tokenizer.decode_ids(h).split() for h in predictions["hyps"]]
            self.wer_metric.append(batch.id, words, [w.split() for w in batch.wrd])
            self.cer_metric.append(batch.id, words, [w.split() for w in batch.wrd])
        return loss

    def fit_batch(self, batch):
        """Brain's training step; a failure names the batch's utterances (e.g. one too short for the model)."""
        try:
            return super().fit_batch(batch)
        except RuntimeError as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            ids = ", ".join(map(str, batch.id))
            raise RuntimeError(f"training step failed on the batch of utterance(s) {ids}: {first}") from err

    def on_fit_start(self):
        super().on_fit_start()  # recovers the checkpoint: optimizer_step is the run's count so far
        self.fit_started, self.fit_start_step = time.monotonic(), self.optimizer_step

    @property
    def _optimizer_step_limit_exceeded(self) -> bool:
        """SpeechBrain's step limit, or the ``train_time_budget_minutes`` of this launch spent.

        Brain ends the epoch there (validation and a checkpoint follow), stops fitting, and the
        recipe goes on to evaluate. Each launch makes at least one update (the normaliser needs
        statistics); a re-run resumes from that checkpoint with a fresh budget.
        """
        budget = getattr(self.hparams, "train_time_budget_minutes", None)
        spent = (budget is not None and self.optimizer_step > getattr(self, "fit_start_step", self.optimizer_step)
                 and time.monotonic() - self.fit_started > 60 * budget)
        if spent and not getattr(self, "budget_logged", False):
            logger.info("train_time_budget_minutes=%s spent after %d updates: stopping training", budget,
                        self.optimizer_step)
            self.budget_logged = True
        return super()._optimizer_step_limit_exceeded or spent

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        self.batches_this_run = getattr(self, "batches_this_run", 0) + 1
        wavs, wav_lens = batch.sig
        self.audio_seen.add((wav_lens * wavs.shape[1]).sum(), self.hparams.sample_rate)
        if should_step:
            self.hparams.noam_annealing(self.optimizer)

    def init_optimizers(self):
        """Also sets aside checkpoints a killed run left half-written, before fit() recovers one.

        Runs here because every recoverable (incl. optimizer and train dataloader) is
        registered by now, and on_fit_start recovers right after this.
        """
        super().init_optimizers()
        if self.checkpointer is not None:
            run_on_main(
                quarantine_incomplete_checkpoints,
                args=[self.checkpointer.checkpoints_dir,
                      [n for n in self.checkpointer.recoverables if not self.checkpointer.optional_recoverables.get(n)]],
            )

    def on_stage_start(self, stage, epoch=None):
        if stage != sb.Stage.TRAIN:
            self.wer_metric = self.hparams.error_rate_computer()
            self.cer_metric = self.hparams.cer_computer()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        stats = {"loss": stage_loss}
        if stage != sb.Stage.TRAIN and len(self.wer_metric.scores):
            stats["WER"] = self.wer_metric.summarize("error_rate")
            stats["CER"] = self.cer_metric.summarize("error_rate")
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            logger.info(
                "epoch %s: %d batches computed by this process, epoch step %d",
                epoch, getattr(self, "batches_this_run", 0), self.step,
            )
        elif stage == sb.Stage.VALID:
            meta = {"epoch": epoch, "lr": self.hparams.noam_annealing.current_lr, "steps": self.optimizer_step,
                    "audio_hours": round(self.audio_seen.hours, 3)}
            self.hparams.train_logger.log_stats(stats_meta=meta, train_stats=self.train_stats, valid_stats=stats)
            if "WER" in stats and hasattr(self.hparams.epoch_counter, "update_metric"):
                self.hparams.epoch_counter.update_metric(stats["WER"])  # early_stop_patience
            self.checkpointer.save_and_keep_only(
                meta={"loss": stage_loss, "epoch": epoch, **({"WER": stats["WER"]} if "WER" in stats else {})},
                min_keys=["loss"],
                num_to_keep=self.hparams.avg_checkpoints,
            )
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"split": getattr(self.hparams, "test_split", "test"),
                            "epochs trained": self.hparams.epoch_counter.current},
                test_stats=stats,
            )
            if if_main_process():
                with open(self.hparams.test_wer_file, "w", encoding="utf-8") as out:
                    self.wer_metric.write_stats(out)

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Evaluates the average of the best checkpoints (by validation loss)."""
        super().on_evaluate_start()
        checkpoints = self.checkpointer.find_checkpoints(min_key=min_key, max_key=max_key)
        if not checkpoints:
            raise RuntimeError(f"no checkpoint to evaluate in {self.checkpointer.checkpoints_dir}")
        averaged = sb.utils.checkpoints.average_checkpoints(checkpoints[: self.hparams.avg_checkpoints], "model")
        self.hparams.model.load_state_dict(averaged, strict=True)
        self.hparams.model.eval()
        logger.info("evaluating the average of %d checkpoint(s)", min(len(checkpoints), self.hparams.avg_checkpoints))


# ---------------------------------------------------------------------------
# Data


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


def train_tokenizer(hparams: Dict, train_csv: Path):
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


def dataio_prepare(hparams: Dict, csvs: Dict[str, Path], tokenizer):
    """SpeechBrain datasets with audio and token pipelines."""

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


# ---------------------------------------------------------------------------


def with_defaults(overrides: str, defaults: Optional[Dict]) -> Dict:
    """Command-line overrides (``key: value`` lines) on top of a recipe's ``defaults``, as one mapping."""
    try:
        return {**(defaults or {}), **parse_overrides(overrides)}
    except OverrideError as err:
        fail(str(err))


def load_or_exit(hparams_file: str, overrides) -> Dict:
    """The recipe's hparams; a user error (bad override, invalid sharing plan, a run folder made by
    another model) ends the program with one line on stderr and exit status 2, before anything is written."""
    try:
        check_overrides(hparams_file, overrides)
        output_folder = check_folders(hparams_file, overrides)
        # A resumed run's checkpoint replaces every weight: no SVD of the random ones (lowrank.svd_init_skipped).
        resuming = output_folder is not None and bool(model_checkpoints(output_folder))
        with svd_init_skipped() if resuming else contextlib.nullcontext():
            hparams = load_recipe_hparams(hparams_file, overrides)
    except (OverrideError, FileNotFoundError) as err:
        fail(str(err))
    except (ValueError, TypeError, KeyError) as err:  # raised while building the modules
        cause = err.args[-1] if isinstance(err, TypeError) and err.args else err
        given = overrides if isinstance(overrides, str) else "\n".join(f"{k}: {v}" for k, v in overrides.items())
        fail(f"{hparams_file} with overrides {{{given.replace(chr(10), ', ')}}}: {cause}")
    problem = resume_problem(hparams["output_folder"], hparams["model"])
    if problem:
        fail(f"output_folder {hparams['output_folder']} holds another run: {problem}. "
             "Use a new --output_folder (nothing was written).")
    return hparams


def check_folders(hparams_file: str, overrides) -> Optional[str]:
    """Before anything is built or written (building the recipe creates save/): an output folder that is an
    exported model (or ONNX) folder or that another train.py is using, or a missing data folder, ends the
    program with one line. Returns the output folder (None if the recipe cannot be read here)."""
    try:
        values = resolve_text(recipe_yaml(hparams_file, overrides))  # runs nothing of the YAML
    except Exception:  # load_recipe_hparams reports it
        return None
    problem = output_folder_problem(values.get("output_folder"))
    if problem:
        fail(problem)
    if if_main_process() and values.get("output_folder") is not None:  # other DDP ranks: rank 0's lock
        holder = output_folder_holder(values["output_folder"])
        if holder is not None:
            fail(OutputFolderInUse.message(values["output_folder"], holder))
    data = values.get("data_folder")
    if data is not None and not values.get("skip_prep") and not Path(str(data)).is_dir():
        fail(f"--data_folder {data}: folder not found (nothing was written)")
    return None if values.get("output_folder") is None else str(values["output_folder"])


_LOCK = None  # the output folder's lock file, open while this process runs


def hold_output_folder(folder: str) -> None:
    """Takes the output folder's lock (runs.lock_output_folder) for the life of this process; a folder another
    train.py took since check_folders ends this one with one line naming its PID."""
    global _LOCK
    try:
        _LOCK, previous = lock_output_folder(folder)
    except OutputFolderInUse as err:
        fail(str(err))
    if previous is not None:
        logger.info("output_folder %s: took over the lock of PID %d, which has ended", folder, previous)


def load_init_source(hparams: Dict) -> Optional[InitSource]:
    """``--init_from``'s weights and tokenizer, checked against this run before anything is written:
    the tokenizer must have ``vocab_size`` pieces and some weights must fit the model."""
    if not hparams.get("init_from"):
        return None
    try:
        source = init_source(hparams["init_from"])
    except (FileNotFoundError, ValueError) as err:
        fail(f"--init_from {hparams['init_from']}: {err}")
    import sentencepiece

    pieces = sentencepiece.SentencePieceProcessor(model_file=str(source.tokenizer)).get_piece_size()
    if pieces != hparams["vocab_size"]:
        fail(f"--init_from {source.path}: its tokenizer {source.tokenizer.name} has {pieces} pieces but "
             f"vocab_size is {hparams['vocab_size']}: pass --vocab_size {pieces} (the run keeps that tokenizer)")
    loadable, _ = matching_weights(hparams["model"], source.state_dict)
    if not loadable:
        fail(f"--init_from {source.path}: none of its weights fits this model (another architecture)")
    return source


def start_from(source: InitSource, hparams: Dict) -> None:
    """A fresh run takes ``source``'s matching weights and its tokenizer (copied to where
    ``train_tokenizer`` finds it, so it is not retrained). The source is read, never made a
    checkpoint of this run; the normaliser starts afresh on this run's data. A run that already
    has checkpoints resumes from them instead."""
    out = Path(hparams["output_folder"])
    if model_checkpoints(out):
        logger.info("init_from %s: the run has checkpoints, resuming from them instead", source.path)
        return
    tokenizer = out / "tokenizer" / f"{hparams['vocab_size']}_{hparams['token_type']}.model"
    tokenizer.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source.tokenizer, tokenizer)
    loadable, skipped = matching_weights(hparams["model"], source.state_dict)
    hparams["model"].load_state_dict(loadable, strict=False)
    note = f"init_from {source.description}: {len(loadable)} tensors loaded"
    if skipped:
        note += f", {len(skipped)} of this model's left as initialised (first: {skipped[0]})"
    logger.info(note)
    (out / "init_from.txt").write_text(note + "\n", encoding="utf-8")


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def take_defaults_file(argv: List[str]) -> Tuple[List[str], Dict]:
    """``argv`` without its ``--defaults FILE`` options, and the files' overrides (plain YAML, e.g.
    ``cpu_demo.yaml``), merged in the order given: a later file wins, the command line wins over all."""
    rest, files = [], []
    args = iter(argv)
    for arg in args:
        if arg == "--defaults":
            files.append(next(args, ""))
        elif arg.startswith("--defaults="):
            files.append(arg[len("--defaults="):])
        else:
            rest.append(arg)
    merged: Dict = {}
    for name in files:
        path = Path(name)
        if not path.is_file():
            fail(f"--defaults {name}: file not found")
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(values, dict):
            fail(f"--defaults {path}: expected a mapping of overrides")
        merged.update(values)
    return rest, merged


def main(argv: List[str], prepare: Callable[[Dict, List[str]], None] = prepare_librispeech_splits) -> None:
    """The whole recipe. Other corpora reuse it with their own ``prepare`` and a ``--defaults`` file
    (``recipes/SpeechOcean762/train.py``); run_demo.sh passes ``--defaults cpu_demo.yaml``."""
    sb_argv, defaults = take_defaults_file(argv)
    hparams_file, run_opts, overrides = sb.parse_arguments(sb_argv)
    if isinstance(run_opts.get("optimizer_step_limit"), str):  # SpeechBrain 1.1.2 leaves this flag a string
        run_opts = dataclasses.replace(run_opts, optimizer_step_limit=int(run_opts.optimizer_step_limit))
    sb.utils.distributed.ddp_init_group(run_opts)
    if defaults:
        overrides = with_defaults(overrides, defaults)
    hparams = load_or_exit(hparams_file, overrides)
    source = load_init_source(hparams)
    if if_main_process():
        hold_output_folder(hparams["output_folder"])
    sb.create_experiment_directory(experiment_directory=hparams["output_folder"], overrides=overrides)
    if if_main_process():
        Path(hparams["output_folder"], "command.txt").write_text(
            " ".join(["python", *(shlex.quote(a) for a in [sys.argv[0], *argv])]) + "\n"
        )
        # The effective recipe (base + variant + command line, references kept), for export and reproduction.
        Path(hparams["output_folder"], "hyperparams.yaml").write_text(recipe_yaml(hparams_file, overrides))

    precision = run_opts["precision"] if "precision" in run_opts.overridden_args else hparams.get("precision", "fp32")
    if cpu_precision(precision, run_opts["device"] or hparams.get("device") or "cpu") != precision:
        hparams["precision"] = "fp32"
        run_opts = dataclasses.replace(run_opts, precision="fp32")
    if hparams.get("fast_dropout"):
        use_fast_dropout(hparams["model"])

    report = size_report(hparams["model"])
    logger.info(
        "%s: %s unique / %s virtual parameters, %d virtual Conformer layers",
        hparams["variant"], f"{report.unique_params:,}", f"{report.virtual_params:,}", hparams["num_encoder_layers"],
    )

    if source is not None and if_main_process():
        start_from(source, hparams)
    try:
        csvs = prepare_csvs(hparams, prepare)
    except (FileNotFoundError, ValueError) as err:  # bad data (kaldi/librispeech_prepare name the file)
        fail(f"data preparation: {err}")
    tokenizer = train_tokenizer(hparams, csvs["train"])
    train, valid, tests, samplers = dataio_prepare(hparams, csvs, tokenizer)

    asr = TransducerASR(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    asr.tokenizer = tokenizer
    train_opts, valid_opts = dict(hparams["train_dataloader_opts"]), dict(hparams["valid_dataloader_opts"])
    if "train" in samplers:
        train_opts = {"batch_sampler": samplers["train"], "num_workers": hparams["num_workers"]}
        valid_opts = {"batch_sampler": samplers["valid"], "num_workers": hparams["num_workers"]}
    asr.fit(asr.hparams.epoch_counter, train, valid, train_loader_kwargs=train_opts, valid_loader_kwargs=valid_opts)

    for name, data in tests.items():
        asr.hparams.test_split = name
        asr.hparams.test_wer_file = f"{hparams['wer_file_prefix']}{name}.txt"
        asr.evaluate(data, min_key="loss", test_loader_kwargs=hparams["test_dataloader_opts"])
        if if_main_process():
            logger.info("%s WER written to %s", name, asr.hparams.test_wer_file)


def release_process_group(finished: bool = True) -> None:
    """A process group left to the interpreter's exit can abort a gloo rank ("terminate called
    without an active exception", seen twice in the DDP test under load, also after an explicit
    destroy): after a finished run every rank waits for the others first, so none tears down while
    another still talks (not after an error: a rank stuck in a collective would never arrive)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if finished:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BaseException:
        release_process_group(finished=False)
        raise
    release_process_group()
