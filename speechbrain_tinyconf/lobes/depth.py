"""Elastic depth: one set of weights, the number of virtual layers chosen at run time.

A repeated-block encoder (sharing level i) of ``num_layers`` virtual layers can run any
``K <= num_layers`` of them: the memory is the same, the compute scales with ``K``. Which layers a
depth keeps is the sharing plan's rule (:meth:`~speechbrain_tinyconf.lobes.sharing.SharingPlan.layers_at_depth`);
the encoder runs them (:class:`~speechbrain_tinyconf.lobes.encoder.SharedConformerEncoder`,
``depth=`` / ``set_depth``). This module holds the two knobs around it:

* :func:`set_depth` -- the run-time depth of every shared encoder inside a model, a SpeechBrain
  ``EncoderDecoderASR``/``StreamingASR`` included (an exported folder also takes the hparam
  ``encoder_depth``: ``EncoderDecoderASR.from_hparams(source, overrides={"encoder_depth": 8})``);
* :class:`ElasticDepth` -- the training option ``elastic_depth: {min: 8, prob: 0.5}``: for each
  training batch, with probability ``prob``, the encoder runs a depth drawn uniformly from
  ``min .. num_layers - 1`` (else all layers), so that the reduced depths are trained with the
  weights they share with the full one (Dynamic Encoder Transducer, Shi et al. 2021, trained
  separate depth branches; here every depth shares every weight).

SpeechBrain's ``layerdrop_prob`` skips each layer independently at random: it trains random
subsets, not the structured subsets a run-time depth keeps, so the elastic option is its own knob
in the same place (the encoder's forward in training mode; nothing changes in evaluation).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, List, Mapping, Optional, Union

import torch
import torch.nn as nn


@dataclass(frozen=True)
class ElasticDepth:
    """Training option: sample a reduced encoder depth per batch.

    Arguments
    ---------
    min : int
        The smallest depth drawn (virtual layers), at least 1 and below ``num_layers``.
    prob : float
        Probability that a batch runs at a reduced depth, in (0, 1].

    Example
    -------
    >>> elastic = ElasticDepth.from_config({"min": 8, "prob": 0.5})
    >>> _ = torch.manual_seed(0)
    >>> depths = [elastic.sample(16) for _ in range(1000)]
    >>> min(depths), max(depths), 0.4 < sum(d < 16 for d in depths) / 1000 < 0.6
    (8, 16, True)
    """

    min: int
    prob: float = 0.5

    @classmethod
    def from_config(cls, config: Union[None, "ElasticDepth", Mapping[str, Any]]) -> Optional["ElasticDepth"]:
        """``None`` or ``{}`` (off), an :class:`ElasticDepth`, or a YAML mapping ``{min, prob}``; bad fields raise."""
        if config is None or isinstance(config, ElasticDepth):
            return config
        if isinstance(config, Mapping) and not config:
            return None
        if not isinstance(config, Mapping):
            raise ValueError(f"elastic_depth: expected a mapping {{min, prob}} ({{}} for off), got {config!r}")
        unknown = sorted(set(config) - {"min", "prob"})
        if unknown:
            raise ValueError(f"elastic_depth: unknown field {unknown[0]!r}; expected min, prob")
        if "min" not in config:
            raise ValueError("elastic_depth: 'min' (the smallest depth drawn) is required")
        return cls(**config)

    def validate(self, num_layers: int) -> None:
        """Raises ``ValueError`` naming the field for values that cannot be sampled."""
        if isinstance(self.min, bool) or not isinstance(self.min, int) or not 1 <= self.min < num_layers:
            raise ValueError(f"elastic_depth.min={self.min!r}: expected an integer from 1 to {num_layers - 1} "
                             f"(below num_layers={num_layers})")
        if isinstance(self.prob, bool) or not isinstance(self.prob, (int, float)) or not 0.0 < self.prob <= 1.0:
            raise ValueError(f"elastic_depth.prob={self.prob!r}: expected a probability in (0, 1]")

    def sample(self, num_layers: int) -> int:
        """One training batch's depth (torch's random stream, so a seeded run repeats it)."""
        if torch.rand(()).item() >= self.prob:
            return num_layers
        return int(torch.randint(self.min, num_layers, ()).item())


def shared_encoders(model: Any) -> List[nn.Module]:
    """Every :class:`SharedConformerEncoder` in ``model`` (a module, or an object with ``.mods``)."""
    from .encoder import SharedConformerEncoder

    root = getattr(model, "mods", model)
    if not isinstance(root, nn.Module):
        raise TypeError(f"expected a torch module or a SpeechBrain Pretrained object, got {type(model).__name__}")
    return [m for m in root.modules() if isinstance(m, SharedConformerEncoder)]


def layers_run(encoder: nn.Module) -> List[nn.Module]:
    """The layer modules ``encoder`` runs, in order: the current depth's for a shared encoder, else all
    (for code that walks the layers itself, such as the ONNX streaming graphs)."""
    if hasattr(encoder, "active_layers"):
        return encoder.active_layers()
    return list(encoder.layers)


def set_depth(model: Any, depth: Optional[int]) -> int:
    """Runs every shared encoder in ``model`` at ``depth`` virtual layers (``None``: all); returns the depth.

    ``model``: a module (the recipe's ``model``, ``TransformerASR``...) or a SpeechBrain
    ``EncoderDecoderASR``/``StreamingASR``. A streaming context made before the change must be
    made again (the encoder refuses one of another depth).

    Example
    -------
    >>> from speechbrain_tinyconf import SharedTransformerASR
    >>> asr = SharedTransformerASR(input_size=40, tgt_vocab=10, d_model=32, nhead=4, num_encoder_layers=8,
    ...     num_decoder_layers=0, d_ffn=64, attention_type="RelPosMHAXL", positional_encoding=None,
    ...     normalize_before=True, sharing={"unique_blocks": 4, "order": "consecutive"})
    >>> set_depth(asr, 4)
    4
    >>> asr.encoder.active_layer_indices()
    [0, 2, 4, 6]
    """
    encoders = shared_encoders(model)
    if not encoders:
        raise ValueError("set_depth: the model has no SharedConformerEncoder")
    for encoder in encoders:
        encoder.set_depth(depth)
    return encoders[0].depth


@contextlib.contextmanager
def at_depth(model: Any, depth: Optional[int]) -> Iterator[Any]:
    """:func:`set_depth` for the ``with`` block, the earlier depths restored after it (``None``: no change)."""
    if depth is None:
        yield model
        return
    encoders = shared_encoders(model)
    before = [encoder.depth for encoder in encoders]
    set_depth(model, depth)
    try:
        yield model
    finally:
        for encoder, earlier in zip(encoders, before):
            encoder.set_depth(earlier)
