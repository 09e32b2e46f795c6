"""The PyTorch side of an export: a transducer's inference modules, from a model folder, a run or a YAML.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch

from ..recipe.runs import TRANSDUCER_MODULES, is_run_folder

PathLike = Union[str, Path]


@dataclass
class TransducerModules:
    """The inference modules of a recipe model (:data:`speechbrain_tinyconf.recipe.runs.TRANSDUCER_MODULES`)."""

    compute_features: Any
    normalize: Any
    CNN: Any
    Transformer: Any
    enc: Any
    proj_enc: Any
    emb: Any
    dec: Any
    proj_dec: Any
    Tjoint: Any
    transducer_lin: Any
    blank_index: int = 0
    model: Any = None  # the recipe's `model` ModuleList (what size reports count)
    tokenizer_path: Optional[Path] = None
    source: str = ""
    random_weights: bool = False

    @classmethod
    def from_hparams(cls, hp: Dict[str, Any], **extra: Any) -> "TransducerModules":
        """Picks the modules out of an instantiated recipe or inference hparams dict."""
        missing = [n for n in TRANSDUCER_MODULES if n not in hp]
        if missing:
            raise ValueError(f"not a transducer recipe: missing {', '.join(missing)}")
        mods = cls(**{n: hp[n] for n in TRANSDUCER_MODULES}, blank_index=int(hp.get("blank_index", 0)),
                   model=hp.get("model"), **extra)
        mods.eval()
        return mods

    def eval(self) -> "TransducerModules":
        """Puts every module in eval mode (dropout off, frozen normalisation statistics)."""
        for name in TRANSDUCER_MODULES:
            getattr(self, name).eval()
        return self

    @property
    def depth(self) -> int:
        """Virtual layers the encoder runs (its run-time depth; all of them unless set)."""
        from ..lobes.depth import layers_run

        return len(layers_run(self.encoder))

    @property
    def encoder(self):
        """The (Shared)ConformerEncoder."""
        return self.Transformer.encoder

    def greedy_searcher(self):
        """SpeechBrain's greedy transducer search over these modules (beam 1, as the recipe's)."""
        from ..lobes.predictor import TransducerSearcher

        return TransducerSearcher(
            decode_network_lst=[self.emb, self.dec, self.proj_dec],
            tjoint=self.Tjoint,
            classifier_network=[self.transducer_lin],
            blank_id=self.blank_index,
            beam_size=1,
            nbest=1,
        )

    def encode(self, wav, lens=None, chunking=None):
        """PyTorch reference: waveform ``(B, samples)`` -> joint-space encoder output, as train.py computes it;
        ``chunking`` (SpeechBrain's ``DynChunkTrainConfig``): chunked attention over the whole utterance,
        what the streaming encoder computes chunk by chunk."""
        lens = torch.ones(wav.shape[0]) if lens is None else lens
        with torch.no_grad():
            feats = self.normalize(self.compute_features(wav), lens)
            return self.proj_enc(self.enc(self.CNN(feats), lens, pad_idx=0, dynchunktrain_config=chunking))

    def transcribe(self, wav, chunking=None) -> List[int]:
        """PyTorch reference greedy decoding of one waveform ``(samples,)``: token ids (``chunking``: as
        :meth:`encode`)."""
        with torch.no_grad():
            return self.greedy_searcher()(self.encode(wav[None], chunking=chunking))[0][0]


def ensure_normalizer_stats(normalize, n_mels: int) -> None:
    """Gives an untrained ``InputNormalization`` identity statistics (mean 0, std 1).

    A freshly built normaliser has empty statistics and cannot run in eval mode.
    """
    if getattr(normalize, "glob_mean", None) is None or normalize.glob_mean.numel() == 0:
        normalize.glob_mean = torch.zeros(n_mels)
        normalize.glob_std = torch.ones(n_mels)
        normalize.count = 1


def load_transducer(source: PathLike, overrides: Optional[Dict[str, Any]] = None, seed: Optional[int] = None,
                    ckpt: str = "average", depth: Optional[int] = None) -> TransducerModules:
    """Loads the transducer modules from a model folder, a recipe run folder or a variant YAML.

    A model folder is read, and checked, by :mod:`speechbrain_tinyconf.pretrained.model_folder`
    (:func:`~speechbrain_tinyconf.pretrained.model_folder.instantiate`), and a run folder's model is
    built there as an export of it would hold it
    (:func:`~speechbrain_tinyconf.pretrained.model_folder.instantiate_run`).

    Arguments
    ---------
    source : str or Path
        Folder written by ``tinyconf-export`` (has ``model.ckpt``),
        recipe output folder (``hyperparams.yaml`` + ``save/``), or a hparams YAML (random init).
    overrides : dict, optional
        Extra hparams overrides, for a YAML source only.
    seed : int, optional
        The YAML's ``seed`` (it seeds torch before building the modules): the same seed gives the same
        random weights in any process.
    ckpt : str
        ``average`` or ``best``, for a run folder (as ``tinyconf-export``).
    depth : int, optional
        Encoder depth: the virtual layers run (elastic depth; ``None``: all). A depth the model cannot
        run is a ``ValueError`` naming it.
    """
    from ..pretrained import model_folder

    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"ONNX export source not found: {source}")
    if overrides and not source.is_file():
        raise ValueError(f"overrides apply to a hparams YAML source only, not to the folder {source}")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ValueError(f"--depth={depth!r}: must be a positive integer")
    if model_folder.looks_like_model_folder(source):
        hp = model_folder.instantiate(source)  # checks every file first: one line naming the one at fault
        tokenizer = source / model_folder.FILES["tokenizer"]
        mods = TransducerModules.from_hparams(hp, tokenizer_path=tokenizer, source=str(source))
    elif is_run_folder(source):
        hp, tokenizer = model_folder.instantiate_run(source, ckpt)  # what an export would hold, nothing written
        mods = TransducerModules.from_hparams(hp, tokenizer_path=tokenizer, source=str(source))
    elif source.is_file() and source.suffix in (".yaml", ".yml"):
        from ..recipe.hparams import load_detached

        merged = dict(overrides or {})
        if seed is not None:
            merged["seed"] = seed  # the YAML seeds torch first thing: same seed, same weights
        hp = load_detached(source, merged)
        ensure_normalizer_stats(hp["normalize"], int(hp.get("n_mels", 80)))
        mods = TransducerModules.from_hparams(hp, source=str(source), random_weights=True)
    else:
        raise ValueError(
            f"ONNX export source {source}: expected a model folder (model.ckpt), a recipe run folder "
            "(hyperparams.yaml + save/) or a hparams .yaml file"
        )
    if depth is not None:
        from ..lobes.depth import set_depth

        try:
            set_depth(mods.Transformer, depth)
        except ValueError as err:
            raise ValueError(f"--depth {depth}: {err}") from None
    return mods
