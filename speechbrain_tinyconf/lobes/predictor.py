"""Prediction networks selectable from the recipe YAML (``predictor: gru | stateless``).

``stateless`` is the prediction network of icefall's transducers with ``context_size=1``
(Ghodsi et al., 2020): the embedding of the last emitted token through a ReLU, no recurrence.
It is what sherpa-onnx's ``decoder.onnx`` convention expects (``decoder(y (N, 1)) -> (N, J)``)
and frees the GRU's parameters (~0.3 M at the headline size) for the encoder. SpeechBrain's
transducer searchers call a module that is not an RNN on the last token alone, with no state,
which is exactly this network; but SpeechBrain 1.1's batched greedy search then indexes the
(absent) state and fails, so the recipe uses :class:`TransducerSearcher`: SpeechBrain's
``TransducerBeamSearcher`` with that one step accepting "no state" (greedy, beam search and
``StreamingASR`` otherwise unchanged). A wider context (``context_size > 1``) would need the
previous tokens, which those searchers do not pass.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import torch
from speechbrain.decoders.transducer import TransducerBeamSearcher

PREDICTORS = ("gru", "stateless")


class TransducerSearcher(TransducerBeamSearcher):
    """SpeechBrain's ``TransducerBeamSearcher``; its greedy search also runs a prediction network without state.

    Example
    -------
    >>> emb, proj = torch.nn.Embedding(5, 4), torch.nn.Linear(4, 4)
    >>> from speechbrain.nnet.transducer.transducer_joint import Transducer_joint
    >>> searcher = TransducerSearcher([emb, StatelessPredictor(), proj], Transducer_joint(joint="sum"),
    ...                               [torch.nn.Linear(4, 5)], blank_id=0, beam_size=1)
    >>> hyps = searcher(torch.randn(2, 6, 4))[0]     # batched greedy search, no state
    >>> len(hyps)
    2
    """

    def _get_sentence_to_update(self, selected_sentences, output_PN, hidden):
        if hidden is None:
            return output_PN[selected_sentences, :], None
        return super()._get_sentence_to_update(selected_sentences, output_PN, hidden)

    def _update_hiddens(self, selected_sentences, updated_hidden, hidden):
        if hidden is None:
            return None
        return super()._update_hiddens(selected_sentences, updated_hidden, hidden)


class StatelessPredictor(torch.nn.Module):
    """ReLU over the embedding of the last token: the stateless prediction network (context 1).

    Example
    -------
    >>> emb = torch.randn(2, 5, 8)                        # (batch, tokens, emb_dim)
    >>> torch.equal(StatelessPredictor()(emb), torch.relu(emb))
    True
    """

    context_size = 1

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return torch.relu(emb)


def make_predictor(kind: str = "gru", input_size: int = 128, hidden_size: int = 256) -> torch.nn.Module:
    """The recipe's ``dec``: SpeechBrain's one-layer GRU, or :class:`StatelessPredictor`.

    The stateless one has no weights: its output is the embedding, so ``emb_dim`` must equal
    ``dec_dim`` (the width ``proj_dec`` takes).

    Example
    -------
    >>> type(make_predictor("gru", 16, 32)).__name__, type(make_predictor("stateless", 32, 32)).__name__
    ('GRU', 'StatelessPredictor')
    >>> make_predictor("stateless", 16, 32)
    Traceback (most recent call last):
    ...
    ValueError: predictor='stateless' outputs its embedding: emb_dim (16) must equal dec_dim (32)
    """
    if kind == "gru":
        from speechbrain.nnet.RNN import GRU

        return GRU(input_shape=[None, None, input_size], hidden_size=hidden_size, num_layers=1, re_init=True)
    if kind == "stateless":
        if input_size != hidden_size:
            raise ValueError(f"predictor='stateless' outputs its embedding: emb_dim ({input_size}) "
                             f"must equal dec_dim ({hidden_size})")
        return StatelessPredictor()
    raise ValueError(f"predictor={kind!r}: expected one of {', '.join(PREDICTORS)}")
