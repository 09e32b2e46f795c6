"""Package a recipe run as a self-contained pretrained model folder.

    tinyconf-export RUN_DIR MODEL_DIR [--ckpt average|best] [--num-avg N] [--overwrite] [--example AUDIO] [--notes MD]
                    [--weights fp32|int4]

(or ``python -m speechbrain_tinyconf.pretrained.export``). ``RUN_DIR`` is a recipe output folder
(``hyperparams.yaml`` written by ``recipes/LibriSpeech/train.py``, ``save/CKPT+*``,
``tokenizer/*.model``, ``wer_<split>.txt``). ``MODEL_DIR`` receives:

* ``hyperparams.yaml`` -- inference only: the run's plain values (dims, sharing plan,
  vocabulary size) followed by ``templates/inference.yaml``, the recipe's module definitions
  plus what ``EncoderDecoderASR`` and ``StreamingASR`` need. No tag of the run's YAML is
  copied or run; its definitions must be the recipe's;
* ``model.ckpt`` (the recipe's ``model`` ModuleList, shared tensors stored
  once; in fp32, or in 4-bit groups with ``--weights int4``:
  :mod:`speechbrain_tinyconf.pretrained.weight_storage`), ``normalizer.ckpt``, ``tokenizer.ckpt``
  (sentencepiece model);
* ``README.md`` -- a Hugging Face model card generated from the run's files
  (:mod:`speechbrain_tinyconf.pretrained.model_card`);
* ``tinyconf-export.json`` -- the marker of an exported folder, with the size and sha256 of
  ``model.ckpt``, ``normalizer.ckpt`` and ``tokenizer.ckpt`` (checked when the folder is loaded
  by this package). Export refuses to write into a run folder, or into a non-empty folder without
  the marker; an earlier export is replaced only with ``--overwrite``, whole and atomically (the
  new folder is written next to it, then swapped in);
* ``example.<ext>`` with ``--example AUDIO`` -- a recording, transcribed in the model card.

What the folder is -- its files, the inference YAML, the marker, the checks, the staged writing --
is :mod:`speechbrain_tinyconf.pretrained.model_folder`; this module puts a run's files there and
writes the model card.

The pretrainer has no ``paths``: every file is fetched from the ``source``
given to ``from_hparams`` (the folder itself, or a Hub repository holding it),
so the folder can be moved or uploaded as is.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import torch

from ..lobes.size import SizeReport, size_report
from ..recipe.runs import MODEL_ORDER, read_run
from .model_card import example_section, model_card, training_data_section
from .model_folder import (
    MODEL_FILES, contents_from_run, instantiate, output_error_line, staged_folder, write_marker, write_model_files,
)
from .model_folder import check_output_folder as _check_output_folder
from .weight_storage import STORAGES
# Names that lived here before model_folder.py took the folder over: folders exported then name
# speechbrain_tinyconf.export.load_model_strict in their hyperparams.yaml, and code may import the others.
from .model_folder import (  # noqa: F401
    HEADER, inference_hparams_text, inference_template, load_model_strict, template_values,
)

PathLike = Union[str, Path]


def model_size(hparams: Dict[str, Any]) -> SizeReport:
    """:func:`size_report` of the recipe's ``model`` with its parts named (``CNN``, ``enc``...)."""
    named = torch.nn.ModuleDict(dict(zip(MODEL_ORDER, hparams["model"])))
    return size_report(named)


def export(run_dir: PathLike, model_dir: PathLike, ckpt: str = "average", num_avg: Optional[int] = None,
           overwrite: bool = False, example: Optional[PathLike] = None, notes: Optional[PathLike] = None,
           weights: str = "fp32") -> Path:
    """Builds ``model_dir`` from a recipe run (see the module docstring); returns it.

    Everything is checked before anything is written, and the folder is written next to
    ``model_dir`` and swapped in when complete: a failure leaves an earlier export as it was.
    ``example``: an audio file copied into the folder and transcribed in the model card.
    ``notes``: a Markdown file added to the card after its results (e.g. the real-speech section of
    ``bench/real_speech_report.py --card``). ``weights``: ``fp32`` or ``int4``, how ``model.ckpt`` stores
    them (:mod:`~speechbrain_tinyconf.pretrained.weight_storage`).
    """
    if weights not in STORAGES:
        raise ValueError(f"--weights {weights}: expected one of {', '.join(STORAGES)}")
    run = read_run(run_dir)
    model_dir = Path(model_dir)
    check_output_folder(model_dir, overwrite, [run.run_dir])
    if example is not None:
        check_example(Path(example))
    notes_text = ""
    if notes is not None:
        if not Path(notes).is_file():
            raise FileNotFoundError(f"--notes {notes}: file not found")
        notes_text = Path(notes).read_text(encoding="utf-8")
    contents = contents_from_run(run, ckpt, num_avg)
    with staged_folder(model_dir, "model", overwrite, [run.run_dir]) as stage:
        write_model_files(stage, contents, weights)
        # Load it back as a user would (strict): checks the folder and gives the sizes of the real model.
        report = model_size(instantiate(stage))
        files = {name: (stage / name).stat().st_size for name in MODEL_FILES}
        name = f"speechbrain-tinyconf-{run.recipe.get('variant', 'model')}"
        card = model_card(run, contents.choice, report, files, name, notes_text, weights) + training_data_section(run)
        if example is not None:
            card += example_section(stage, Path(example))
        (stage / "README.md").write_text(card, encoding="utf-8")
        write_marker(stage, contents, weights=weights)
    return model_dir


def check_example(example: Path) -> None:
    """``--example`` must be an audio file soundfile decodes (checked before anything is written)."""
    import soundfile

    from ..recipe.checkpoints import first_line

    if not example.is_file():
        raise FileNotFoundError(f"--example {example}: file not found")
    try:
        soundfile.info(str(example))
    except Exception as err:  # soundfile.LibsndfileError (a RuntimeError), TypeError
        raise ValueError(f"--example {example}: not an audio file soundfile can read ({first_line(err)})") from None


def check_output_folder(model_dir: PathLike, overwrite: bool, sources: Sequence[PathLike] = ()) -> None:
    """Refuses an output folder that holds a run, one of ``sources``, or anything but an earlier export
    (``--overwrite``)."""
    _check_output_folder(model_dir, "model", overwrite, sources)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="tinyconf-export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="recipe output folder (hyperparams.yaml, save/, tokenizer/)")
    parser.add_argument("model_dir", help="folder to write the pretrained model to")
    parser.add_argument("--ckpt", choices=["average", "best"], default="average",
                        help="average of the best --num-avg checkpoints by valid loss (default) or the best one")
    parser.add_argument("--num-avg", type=int, default=None, help="checkpoints to average (default: the recipe's avg_checkpoints)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier export in MODEL_DIR (the whole folder, atomically)")
    parser.add_argument("--example", default=None, help="audio file to ship in the folder, transcribed in the model card")
    parser.add_argument("--notes", default=None, help="Markdown file added to the model card after its results")
    parser.add_argument("--weights", choices=STORAGES, default="fp32",
                        help="how model.ckpt stores the weights: fp32 (default) or int4 (4-bit groups, ~1/6 of the "
                             "size; loaded back as fp32; measure its WER cost with bench/weight_storage.py)")
    args = parser.parse_args(argv)
    try:
        out = export(args.run_dir, args.model_dir, args.ckpt, args.num_avg, args.overwrite, args.example, args.notes,
                     args.weights)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as err:  # incl. OutputFolderError
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only or full disk: one line, nothing left behind (staged_folder)
        print(f"error: {output_error_line(err, args.model_dir)}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
