"""Recipe support: what ``recipes/LibriSpeech/train.py`` and the tools around it use.

* :mod:`.hparams` -- hparams files (variants, overrides, reading a YAML as data without running it);
* :mod:`.runs` -- run folders: the recipe's module names, reading a run, choosing its checkpoint,
  resuming, ``--init_from``, the output-folder lock;
* :mod:`.checkpoints` -- reading checkpoints, setting half-written ones aside;
* :mod:`.cpu_training`, :mod:`.progress` -- CPU precision and dropout, progress lines.
"""
