"""The model (SpeechBrain lobes): what a tiny weight-shared Conformer transducer is made of.

* :mod:`.sharing` -- sharing plans (which parameters are stored once, per layer, low-rank);
* :mod:`.lowrank`, :mod:`.attention` -- low-rank linear layers and low-rank relative-position attention;
* :mod:`.scales` -- learnt branch and output scales;
* :mod:`.depth` -- elastic depth: the run-time depth of a repeated-block encoder, and its training option;
* :mod:`.encoder`, :mod:`.asr` -- the shared Conformer encoder and the ``TransformerASR`` around it;
* :mod:`.predictor`, :mod:`.frontend`, :mod:`.losses`, :mod:`.augment` -- predictor, feature
  front-end, transducer loss, augmentation;
* :mod:`.size` -- unique and virtual parameter counts, MACs.

Nothing here knows about recipes, run folders or exported models.
"""
