"""ONNX export of a speechbrain-tinyconf transducer (command line: :mod:`speechbrain_tinyconf.onnx_export`).

* :mod:`.load` -- the PyTorch modules of a model folder, a recipe run or a variant YAML;
* :mod:`.graphs` -- the modules traced to ONNX (full-utterance encoder, streaming step, predictor, joint);
* :mod:`.passes` -- graph passes on the traced files, int8 dynamic and int4 block-wise quantisation;
* :mod:`.export` -- traces every graph and writes the folder that
  :mod:`speechbrain_tinyconf.onnx_runtime` reads;
* :mod:`.sherpa` -- the same graphs in sherpa-onnx's transducer convention.
"""
