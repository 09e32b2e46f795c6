"""The pretrained model folder: what a trained run is shipped as, and how it is used.

* :mod:`.model_folder` -- the one module that knows a model folder: its files and marker, the
  inference YAML, how it is written (whole or not at all), read and checked (one error per broken file);
* :mod:`.export` -- a recipe run into a model folder (``tinyconf-export``);
* :mod:`.model_card` -- the folder's ``README.md``;
* :mod:`.transcribe` -- transcribing audio files with a folder (``tinyconf-transcribe``).
"""
