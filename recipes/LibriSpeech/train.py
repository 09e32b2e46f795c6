#!/usr/bin/env python3
"""Train a weight-shared Conformer-transducer on LibriSpeech (or a corpus in its layout).

    python recipes/LibriSpeech/train.py hparams/shared_lowrank_5M.yaml --data_folder /data/LibriSpeech

Pipeline, top to bottom: data preparation (``librispeech_prepare.py``) ->
sentencepiece unigram tokenizer on the training transcripts -> SpeechBrain
``Brain`` training (speed perturbation, SpecAugment-style masking and warping,
dynamic chunk training) -> checkpoint averaging of the best epochs -> greedy
(or beam) transducer decoding of every test split, WER written to
``wer_<split>.txt``. Multi-GPU: ``torchrun --nproc_per_node=N train.py <yaml>``.

This file holds the ``TransducerASR`` Brain and the pipeline (:func:`main`); beside it,
``run_setup.py`` checks the command line, output folder and ``--init_from`` before anything
is written, and ``data_pipeline.py`` prepares the CSVs, the tokenizer and the datasets.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process, run_on_main

from speechbrain_tinyconf.lobes.predictor import reset_word_starts, word_start_table
from speechbrain_tinyconf.recipe.checkpoints import quarantine_incomplete_checkpoints
from speechbrain_tinyconf.recipe.cpu_training import cpu_precision, use_fast_dropout
from speechbrain_tinyconf.recipe.hparams import as_overrides, recipe_yaml
from speechbrain_tinyconf.recipe.nonfinite import BufferGuard, dump_batch, nonfinite_parameters
from speechbrain_tinyconf.recipe.progress import AudioSeen
from speechbrain_tinyconf.recipe.runs import CHECKPOINT_METRICS
from speechbrain_tinyconf.lobes.size import size_report

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the recipe's modules beside it
from data_pipeline import dataio_prepare, prepare_csvs, prepare_librispeech_splits, train_tokenizer  # noqa: E402
from run_setup import (  # noqa: E402
    fail, hold_output_folder, load_init_source, load_or_exit, release_process_group, start_from, take_defaults_file,
    with_defaults,
)

# The checkpoints kept: the ``avg_checkpoints`` best by dev loss and as many by dev WER (where decoded), whichever
# ``select_checkpoints_by`` has the evaluation and the export average. The two can disagree: on 2026-12-06 a
# real-speech epoch had the best dev WER of its run and its worst dev loss, and keeping by loss alone deleted it.
KEEP_BEST_BY = CHECKPOINT_METRICS

logger = logging.getLogger(__name__)


class _NonFiniteLoss(Exception):
    """Ends a training step whose loss is NaN or inf before its backward pass (caught in fit_batch)."""

    def __init__(self, loss: torch.Tensor):
        super().__init__("non-finite loss")
        self.loss = loss


class TransducerASR(sb.Brain):
    """Conformer-transducer with an auxiliary CTC head; everything else is SpeechBrain's."""

    word_start: Optional[torch.Tensor] = None  # (vocab,) bool of word-initial pieces (predictor_reset_prob > 0)
    decode_this_valid = False  # whether the validation under way decodes dev (on_stage_start decides)

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
        # Outside autocast: under bf16 the running statistics were kept in bf16, whose 8-bit mantissa drops
        # a batch's update once the count is large, so they froze at the first batches' values.
        with torch.autocast(torch.device(self.device).type, enabled=False):
            feats = self.modules.normalize(feats.float(), wav_lens, epoch=self.hparams.epoch_counter.current)

        chunking = self.hparams.dynchunktrain_config_sampler(stage) if self.hparams.streaming else None
        src = self.modules.CNN(feats)  # (batch, frames/4, n_mels/4, channels)
        enc = self.modules.enc(src, wav_lens, pad_idx=self.hparams.pad_index, dynchunktrain_config=chunking)
        enc = self.modules.proj_enc(enc)  # (batch, T, joint_dim)

        train = stage == sb.Stage.TRAIN
        if train and self.word_start is not None:
            tokens_bos = reset_word_starts(tokens_bos, self.word_start, self.hparams.predictor_reset_prob,
                                           self.hparams.blank_index)
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
        elif stage == sb.Stage.VALID and self.decode_this_valid:
            outputs["hyps"] = self.hparams.Greedysearcher(enc)[0]
        return outputs

    def _ctc_active(self) -> bool:
        return self.hparams.ctc_weight > 0 and self.hparams.epoch_counter.current <= self.hparams.number_of_ctc_epochs

    def _decode_valid(self) -> bool:
        """Dev is decoded every ``valid_search_interval`` epochs and at the last one, also when a budget ends
        the training (otherwise ``select_checkpoints_by: WER`` would find no checkpoint to evaluate)."""
        epoch = self.hparams.epoch_counter.current
        return (epoch % self.hparams.valid_search_interval == 0 or epoch >= self.hparams.number_of_epochs
                or self._optimizer_step_limit_exceeded)

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

    batch_ids = ()  # the utterances of the training step under way (fit_batch), for the warnings below

    def check_loss_isfinite(self, loss):
        """SpeechBrain's check, counting non-finite batches *in a row* (a finite one resets the count, so
        a long run survives an isolated bad batch); a non-finite loss names its batch's utterances and
        ends the step before ``backward()`` (see :meth:`fit_batch`). Under DDP every rank must run the
        backward pass (its all-reduce), so there the NaN gradients are dropped instead
        (``skip_nonfinite_grads``)."""
        if torch.isfinite(loss):
            self.nonfinite_count = 0
            return
        logger.warning("non-finite loss on the batch of utterance(s) %s", ", ".join(map(str, self.batch_ids)))
        super().check_loss_isfinite(loss)  # raises once the patience is exhausted
        if not self.distributed_launch:
            raise _NonFiniteLoss(loss)

    def fit_batch(self, batch):
        """Brain's training step. A batch with a non-finite loss makes no update and leaves the statistics
        it changed (normaliser, batch norms) as they were; the first of a run of them is written to
        ``<output_folder>/nonfinite/`` with the weights, to be run again. A failure names the batch.
        Under DDP the ranks agree without a collective of their own: the normaliser all-reduces every rank's
        batch statistics in the forward pass, so one rank's NaN batch makes every rank's loss non-finite in
        the same step, and every rank restores (tested). Once the normaliser stops updating, the bad rank
        alone has a non-finite loss and nothing shared to restore (the recipe's models have no batch norm)."""
        self.batch_ids = tuple(batch.id)
        guard = BufferGuard(self.modules)
        try:
            loss = super().fit_batch(batch)
        except _NonFiniteLoss as skipped:
            if self.step % self.grad_accumulation_factor == 0:  # its window's step is lost: drop the window
                self.zero_grad(set_to_none=True)
            loss = skipped.loss.detach().cpu()
        except RuntimeError as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            ids = ", ".join(map(str, batch.id))
            raise RuntimeError(f"training step failed on the batch of utterance(s) {ids}: {first}") from err
        if not torch.isfinite(loss):
            poisoned = guard.changed_to_nonfinite()
            guard.restore()
            wavs, wav_lens = batch.sig
            where = "-"
            if self.nonfinite_count == 1 and if_main_process():
                name = f"step{self.optimizer_step}-{time.strftime('%Y%m%d-%H%M%S')}.pt"  # a relaunch repeats steps
                where = dump_batch(Path(self.hparams.output_folder, "nonfinite", name),
                                   self.modules, self.batch_ids, self.optimizer_step,
                                   {"statistics": guard.attrs, "sig": wavs.cpu(), "sig_lens": wav_lens.cpu()})
            logger.warning("skipped that batch (no update); input audio finite: %s; statistics it made non-finite, "
                           "restored: %s; non-finite parameters: %s; written to %s",
                           "yes" if bool(torch.isfinite(wavs).all()) else "NO", ", ".join(poisoned) or "none",
                           ", ".join(nonfinite_parameters(self.modules)) or "none", where)
        return loss

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

    # The dynamic batch sampler of the training set (main sets it). SpeechBrain calls ``set_epoch`` only on the
    # samplers it makes or wraps (DDP), not on a ``batch_sampler`` given in the loader options: without the call
    # below every epoch of a single-process run had the batches of epoch 0, in the same order, and a resumed run
    # (whose RNG SpeechBrain seeds again) replayed its first epochs exactly, augmentation and dropout included.
    train_batch_sampler = None

    def on_stage_start(self, stage, epoch=None):
        # (under DDP SpeechBrain's wrapper is self.train_sampler and passes set_epoch through itself)
        if stage == sb.Stage.TRAIN and self.train_batch_sampler is not None and self.train_sampler is None \
                and epoch is not None:
            self.train_batch_sampler.set_epoch(epoch)
        if stage == sb.Stage.VALID:  # decided once: a budget running out mid-validation must not split it
            self.decode_this_valid = self._decode_valid()
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
                min_keys=list(KEEP_BEST_BY),
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
        """Evaluates the average of the best checkpoints (by ``min_key``: the recipe's ``select_checkpoints_by``)."""
        super().on_evaluate_start()
        checkpoints = self.checkpointer.find_checkpoints(min_key=min_key, max_key=max_key)
        if not checkpoints:
            raise RuntimeError(f"no checkpoint with a validation {min_key or max_key} to evaluate in "
                               f"{self.checkpointer.checkpoints_dir}")
        averaged = sb.utils.checkpoints.average_checkpoints(checkpoints[: self.hparams.avg_checkpoints], "model")
        self.hparams.model.load_state_dict(averaged, strict=True)
        self.hparams.model.eval()
        logger.info("evaluating the average of %d checkpoint(s)", min(len(checkpoints), self.hparams.avg_checkpoints))


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
    if hparams.get("select_checkpoints_by", "loss") not in CHECKPOINT_METRICS:
        fail(f"select_checkpoints_by: {hparams['select_checkpoints_by']!r}: "
             f"expected one of {', '.join(CHECKPOINT_METRICS)}")
    reset = hparams.get("predictor_reset_prob", 0)
    if not 0 <= reset <= 1:
        fail(f"predictor_reset_prob: {reset}: a probability, from 0 (off) to 1")
    if reset > 0 and hparams.get("predictor") != "stateless":
        fail(f"predictor_reset_prob: {reset}: needs predictor: stateless "
             f"(a {hparams.get('predictor')!r} predictor keeps the context a blank input would reset)")
    asked = run_opts["precision"] if "precision" in run_opts.overridden_args else hparams.get("precision", "fp32")
    precision = cpu_precision(asked, run_opts["device"] or hparams.get("device") or "cpu")
    hparams["precision"] = precision
    run_opts = dataclasses.replace(run_opts, precision=precision)
    source = load_init_source(hparams)
    if if_main_process():
        hold_output_folder(hparams["output_folder"])
    sb.create_experiment_directory(experiment_directory=hparams["output_folder"], overrides=overrides)
    if if_main_process():
        Path(hparams["output_folder"], "command.txt").write_text(
            " ".join(["python", *(shlex.quote(a) for a in [sys.argv[0], *argv])]) + "\n"
        )
        # The effective recipe (base + variant + command line, references kept), for export and reproduction;
        # its precision is the one the run gets (a --precision run option, or the fp32 fallback, included).
        Path(hparams["output_folder"], "hyperparams.yaml").write_text(
            recipe_yaml(hparams_file, {**as_overrides(overrides), "precision": precision})
        )
    if hparams.get("fast_dropout"):
        use_fast_dropout(hparams["model"])

    report = size_report(hparams["model"])
    logger.info(
        "%s: %s unique / %s virtual parameters, %d virtual Conformer layers",
        hparams["variant"], f"{report.unique_params:,}", f"{report.virtual_params:,}", hparams["num_encoder_layers"],
    )

    if source is not None:
        start_from(source, hparams, main=if_main_process())  # every rank: the normaliser is not broadcast
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
    if hparams.get("predictor_reset_prob", 0) > 0:
        asr.word_start = word_start_table(tokenizer).to(asr.device)
    train_opts, valid_opts = dict(hparams["train_dataloader_opts"]), dict(hparams["valid_dataloader_opts"])
    if "train" in samplers:
        train_opts = {"batch_sampler": samplers["train"], "num_workers": hparams["num_workers"]}
        asr.train_batch_sampler = samplers["train"]
        valid_opts = {"batch_sampler": samplers["valid"], "num_workers": hparams["num_workers"]}
    asr.fit(asr.hparams.epoch_counter, train, valid, train_loader_kwargs=train_opts, valid_loader_kwargs=valid_opts)

    for name, data in tests.items():
        asr.hparams.test_split = name
        asr.hparams.test_wer_file = f"{hparams['wer_file_prefix']}{name}.txt"
        asr.evaluate(data, min_key=hparams.get("select_checkpoints_by", "loss"),
                     test_loader_kwargs=hparams["test_dataloader_opts"])
        if if_main_process():
            logger.info("%s WER written to %s", name, asr.hparams.test_wer_file)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BaseException:
        release_process_group(finished=False)
        raise
    release_process_group()
