"""How far a training run has got, and when it stops.

:class:`AudioSeen` counts the hours of training audio the run has consumed (a checkpoint
recoverable, so it survives resuming): with updates, the measure of compute that the recipe's
progress line (``train_log.txt``: ``audio_hours``) and the real-speech report give.

:func:`epoch_counter` decides when the run stops: the epoch limit, or early stopping on the dev WER.

The recipe's ``epoch_counter`` is SpeechBrain's :class:`EpochCounter`, or, with
``early_stop_patience: N``, :class:`EarlyStopper` (SpeechBrain's :class:`EpochCounterWithStopper`)
counting in evaluations: training stops once the dev WER (decoded every ``valid_search_interval``
epochs) has not improved for ``N`` evaluations. The counter is a checkpoint recoverable, so a resumed
run remembers its best WER. In SpeechBrain 1.1.2 it did not: ``EpochCounterWithStopper`` defines its
own save and recover but is not registered for them, so the checkpointer used ``EpochCounter``'s,
which keep the epoch alone. Every relaunch forgot the best WER and restarted the patience (a
campaign run went on after two evaluations without improvement, 2026-12-06).

>>> seen = AudioSeen()
>>> seen.add(3600 * 16000, 16000)
>>> seen.hours
1.0
>>> counter = epoch_counter(limit=20, early_stop_patience=2, valid_search_interval=3)
>>> counter.limit_to_stop
6
>>> type(epoch_counter(limit=20)).__name__
'EpochCounter'
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import yaml
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, mark_as_transfer, register_checkpoint_hooks
from speechbrain.utils.epoch_loop import EpochCounter, EpochCounterWithStopper


@register_checkpoint_hooks
class AudioSeen:
    """Seconds of (un-augmented) training audio consumed so far."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def add(self, samples: float, sample_rate: int) -> None:
        self.seconds += float(samples) / sample_rate

    @property
    def hours(self) -> float:
        return self.seconds / 3600

    @mark_as_saver
    def _save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as out:
            out.write(f"{self.seconds!r}\n")

    @mark_as_loader
    def _recover(self, path, end_of_epoch=True) -> None:
        with open(path, encoding="utf-8") as handle:
            self.seconds = float(handle.read())


PathLike = Union[str, Path]


@register_checkpoint_hooks
class EarlyStopper(EpochCounterWithStopper):
    """SpeechBrain's ``EpochCounterWithStopper`` whose checkpoints keep its best score and epoch.

    A checkpoint of a run from before the fix (the epoch alone) restores the epoch, and the
    patience then starts again from the next evaluation, as it did then.

    Example
    -------
    >>> import tempfile, pathlib
    >>> counter = EarlyStopper(limit=10, limit_to_stop=2, limit_warmup=0, direction="min")
    >>> for wer in [50.0, 40.0, 45.0]:
    ...     epoch = next(counter)
    ...     counter.update_metric(wer)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "counter.ckpt"
    >>> counter._save(path)
    >>> resumed = EarlyStopper(limit=10, limit_to_stop=2, limit_warmup=0, direction="min")
    >>> resumed._recover(path)
    >>> resumed.current, resumed.best_limit, resumed.best_score
    (3, 2, 40.0)
    """

    @mark_as_saver
    def _save(self, path: PathLike) -> None:
        super()._save(path)

    @mark_as_transfer
    @mark_as_loader
    def _recover(self, path: PathLike, end_of_epoch: bool = True, device=None) -> None:
        with open(path, encoding="utf-8") as handle:
            saved = yaml.safe_load(handle)
        if isinstance(saved, int):  # saved by EpochCounter's hook (SpeechBrain 1.1.2, before the fix)
            self.current = saved if end_of_epoch else saved - 1
            return
        super()._recover(path, end_of_epoch)


def epoch_counter(limit: int, early_stop_patience: Optional[int] = None,
                  valid_search_interval: int = 1) -> EpochCounter:
    """The run's epoch counter: plain, or stopping after ``early_stop_patience`` evaluations
    (of ``valid_search_interval`` epochs each) without a better dev WER."""
    if early_stop_patience is None:
        return EpochCounter(limit)
    if early_stop_patience < 1:
        raise ValueError(f"early_stop_patience={early_stop_patience}: must be a positive integer or null")
    return EarlyStopper(limit, early_stop_patience * valid_search_interval, 0, "min")
