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

:func:`reset_word_starts` (recipe option ``predictor_reset_prob``) trains the stateless predictor for
sherpa-onnx's keyword spotter. That decoder puts a hypothesis back to blank whenever a token leaves the
keyword graph and after each detection (``transducer-keyword-decoder.cc``: "forget the decoder history"),
so a keyword's first piece is always predicted after blank, while training only ever shows blank before
an utterance's first word. So a keyword that never begins a training sentence (MORNING, WHITE in
the demo grammar) is given almost no probability there: measured on the demo model, the whole-word
piece ``▁MORNING`` at its emission frame has p = 0.78 after the previous word and 0.008 after blank.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from typing import Any

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


def word_start_table(tokenizer: Any) -> torch.Tensor:
    """``(vocab,)`` bool: which sentencepiece ids begin a word (their piece starts with ``▁``).

    Example
    -------
    >>> class Pieces:  # a stand-in for a SentencePieceProcessor
    ...     def get_piece_size(self): return 4
    ...     def id_to_piece(self, i): return ["<unk>", "\u2581THE", "S", "\u2581"][i]
    >>> word_start_table(Pieces()).tolist()
    [False, True, False, True]
    """
    return torch.tensor([tokenizer.id_to_piece(i).startswith("\u2581") for i in range(tokenizer.get_piece_size())])


def reset_word_starts(tokens_bos: torch.Tensor, word_start: torch.Tensor, prob: float,
                      blank: int = 0) -> torch.Tensor:
    """Predictor inputs where, with probability ``prob``, the token before each word-initial target is blank.

    ``tokens_bos`` is ``(batch, U + 1)``, blank-prefixed: position ``j`` is the context of target
    ``tokens_bos[:, j + 1]``. With the stateless predictor (context 1) a blank there is exactly the
    state sherpa-onnx's keyword spotter starts each keyword from. Padding (id ``blank``) is never a
    word start, so it is left alone.

    Example
    -------
    >>> word_start = torch.tensor([False, True, False, True])
    >>> reset_word_starts(torch.tensor([[0, 1, 2, 3, 2, 1]]), word_start, prob=1.0).tolist()
    [[0, 1, 0, 3, 0, 1]]
    >>> reset_word_starts(torch.tensor([[0, 1, 2, 3]]), word_start, prob=0.0).tolist()
    [[0, 1, 2, 3]]
    """
    if prob <= 0:
        return tokens_bos
    targets = tokens_bos[:, 1:]
    reset = word_start.to(tokens_bos.device)[targets] & (torch.rand(targets.shape, device=tokens_bos.device) < prob)
    out = tokens_bos.clone()
    out[:, :-1] = torch.where(reset, torch.full_like(targets, blank), tokens_bos[:, :-1])
    return out


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
