"""Deployment: ONNX export of a transducer and inference without torch (``tinyconf-onnx-export``).

* :mod:`.onnx_export` -- the command line;
* :mod:`.load` -- the PyTorch modules of a model folder, a recipe run or a variant YAML;
* :mod:`.graphs` -- the modules traced to ONNX (full-utterance encoder, streaming step, predictor, joint);
* :mod:`.passes` -- graph passes on the traced files, int8 dynamic and int4 block-wise quantisation;
* :mod:`.export` -- traces every graph and writes the folder that :mod:`.onnx_runtime` reads;
* :mod:`.sherpa`, :mod:`.sherpa_streaming` -- the same graphs in sherpa-onnx's transducer convention;
* :mod:`.kws` -- keyword spotting with the streaming sherpa-onnx export (``tinyconf-kws``);
* :mod:`.onnx_runtime` -- greedy decoding with numpy and onnxruntime alone (imports no torch, nor
  anything of this package: it can be copied to a device as is).

Importing this package imports nothing: ``speechbrain_tinyconf.deploy.onnx_runtime`` stays torch-free.
"""
