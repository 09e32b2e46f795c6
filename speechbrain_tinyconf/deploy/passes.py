"""Graph passes on traced ONNX models, and int8 dynamic quantisation.

Run in this order on every exported graph (:func:`speechbrain_tinyconf.deploy.export.export_graph`):
:func:`bypass_identities` (tied weights read their initializer directly), :func:`dedupe_initializers`
(equal tensors stored once),
:func:`remove_unused_initializers`, :func:`shorten_names`. :func:`quantize_int8` writes the int8 twin.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple, Union

import numpy as np

PathLike = Union[str, Path]


def bypass_identities(model) -> int:
    """Makes nodes read an initializer directly instead of through ``Identity`` aliases. Returns how many.

    The TorchScript exporter gives a tied weight's later uses an ``Identity``
    of the first one; onnxruntime's quantiser only quantises a MatMul whose
    weight *is* an initializer, so the aliases would keep those uses (and the
    fp32 copy) unquantised.
    """
    graph = model.graph
    inits = {init.name for init in graph.initializer}
    outputs = {o.name for o in graph.output}
    alias: Dict[str, str] = {}
    for node in graph.node:
        if node.op_type == "Identity" and node.output[0] not in outputs:
            source = alias.get(node.input[0], node.input[0])
            if source in inits:
                alias[node.output[0]] = source
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in alias:
                node.input[i] = alias[name]
    remove_unused_initializers(model)
    return len(alias)


def remove_unused_initializers(model) -> int:
    """Drops initializers no node reads (and Identity nodes whose output nobody reads). Returns how many."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    changed = True
    while changed:  # Identity chains left by tied parameters
        used = {name for node in graph.node for name in node.input} | outputs
        keep = [n for n in graph.node if n.op_type != "Identity" or n.output[0] in used]
        changed = len(keep) != len(graph.node)
        if changed:
            del graph.node[:]
            graph.node.extend(keep)
    used = {name for node in graph.node for name in node.input} | outputs
    dropped = [init for init in graph.initializer if init.name not in used]
    for init in dropped:
        graph.initializer.remove(init)
    return len(dropped)


def dedupe_initializers(model) -> int:
    """Merges initializers with the same dtype, shape and bytes (one stored copy). Returns how many went."""
    from onnx import numpy_helper

    graph = model.graph
    first: Dict[Tuple, str] = {}
    rename: Dict[str, str] = {}
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        key = (init.data_type, tuple(init.dims), hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest())
        keep = first.setdefault(key, init.name)
        if keep != init.name:
            rename[init.name] = keep
    if not rename:
        return 0
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    return remove_unused_initializers(model)


def shorten_names(model) -> int:
    """Renames intermediate tensors ``t<i>`` and nodes ``n<i>``; returns the bytes saved.

    The traced names (``/transformer/encoder/layers.15/mha_layer/...``) take
    ~0.5 MB per 16-layer graph (more after quantisation), a tenth of the int8
    model; graph inputs, outputs and initializer names are kept.
    """
    graph = model.graph
    before = model.ByteSize()
    keep = {v.name for v in graph.input} | {v.name for v in graph.output} | {i.name for i in graph.initializer}
    rename: Dict[str, str] = {}
    for index, node in enumerate(graph.node):
        node.name = f"n{index}"  # unique names: the quantiser selects and excludes nodes by name
        node.doc_string = ""
        for i, name in enumerate(node.output):
            if name and name not in keep:
                node.output[i] = rename.setdefault(name, f"t{len(rename)}")
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    del graph.value_info[:]
    return before - model.ByteSize()


INT8_OPS = ("MatMul", "Gemm", "Conv", "Gather")


def quantize_int8(fp32_path: PathLike, int8_path: PathLike, op_types: Tuple[str, ...] = INT8_OPS) -> Path:
    """onnxruntime dynamic quantisation of ``fp32_path`` into ``int8_path`` (nodes of ``op_types``).

    int8 weights (per tensor) for every MatMul with a constant
    weight, every pointwise (1x1, ungrouped) convolution and the embedding
    table; activations are quantised on the fly. Depthwise and front-end
    convolutions, norms, biases and scales stay fp32 (small, and sensitive).
    Per-channel weights were tried: larger and, on a trained model, less
    accurate. The written graph has no ``value_info`` (see :func:`shorten_names`);
    with it, onnxruntime's extended fusions of the quantised MatMuls doubled
    the error of the trained demo model's encoder (max 9.5 % vs 5.7 %).
    """
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(fp32_path))
    inits = {init.name: init for init in model.graph.initializer}
    keep_fp32 = []
    for node in model.graph.node:
        if node.op_type == "Conv":
            weight = inits.get(node.input[1])
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if weight is None or group != 1 or any(d != 1 for d in numpy_helper.to_array(weight).shape[2:]):
                keep_fp32.append(node.name)
    with _quiet_quantizer(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(
            str(fp32_path), str(int8_path), weight_type=QuantType.QInt8,
            op_types_to_quantize=list(op_types), nodes_to_exclude=keep_fp32,
            extra_options={"MatMulConstBOnly": True},
        )
    model = onnx.load(str(int8_path))
    shorten_names(model)
    onnx.save(model, str(int8_path))
    return Path(int8_path)


INT4_BLOCK = 32  # weights per scale along the input dimension (onnxruntime's default is 128)


def gemms_to_matmuls(model) -> int:
    """Rewrites each ``Gemm`` with a constant weight (alpha = beta = 1, A not transposed) as
    ``MatMul`` (+ ``Add`` of its bias), so that MatMul quantisers take it. Returns how many."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    nodes, rewritten = [], 0
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type != "Gemm" or node.input[1] not in inits or attrs.get("transA", 0)
                or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0):
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        name = f"{node.input[1]}_kn"  # (in, out): MatMul's layout
        graph.initializer.append(numpy_helper.from_array(weight.T.copy() if attrs.get("transB", 0) else weight, name))
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}_mm" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=f"{node.name}_mm"))
        if has_bias:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_add"))
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    remove_unused_initializers(model)
    return rewritten


def quantize_int4(fp32_path: PathLike, int4_path: PathLike, block_size: int = INT4_BLOCK) -> Path:
    """4-bit weights for every MatMul, with onnxruntime's block-wise quantiser; the rest as int8.

    Every MatMul with a constant weight becomes a ``MatMulNBits`` node: symmetric int4, one fp32
    scale per ``block_size`` input rows, activations fp32 (weight-only); Gemms are rewritten as
    MatMuls first. A weight tied across layers stays one initializer. The weights MatMulNBits
    does not cover (pointwise convolutions, the embedding table) then get :func:`quantize_int8`'s
    treatment; depthwise and front-end convolutions, norms, biases and scales stay fp32.
    """
    import onnx

    model = onnx.load(str(fp32_path))
    gemms_to_matmuls(model)  # e.g. the GRU cell's gates: 4-bit like every other weight
    with _quiet_quantizer():
        # imported here: on first import this module calls logging.basicConfig(level=INFO), which the
        # stand-in handler of _quiet_quantizer turns into a no-op
        from onnxruntime.quantization import QuantFormat
        from onnxruntime.quantization.matmul_nbits_quantizer import (DefaultWeightOnlyQuantConfig,
                                                                      MatMulNBitsQuantizer)

        config = DefaultWeightOnlyQuantConfig(block_size=block_size, is_symmetric=True, bits=4,
                                              quant_format=QuantFormat.QOperator, op_types_to_quantize=("MatMul",))
        quantizer = MatMulNBitsQuantizer(model, algo_config=config)
        quantizer.process()
    model = quantizer.model.model
    dedupe_initializers(model)  # a tied weight reached through several MatMuls: one stored copy
    remove_unused_initializers(model)
    onnx.save(model, str(int4_path))
    return quantize_int8(int4_path, int4_path, op_types=tuple(op for op in INT8_OPS if op != "MatMul"))


def quantized_twins(fp32_files: Dict[str, Path], int8: bool = False, int4: bool = False) -> Dict[str, Path]:
    """The quantised copies asked for, beside each fp32 file: ``{"<name>.int8": <stem>.int8.onnx, ...}``."""
    twins: Dict[str, Path] = {}
    for precision, quantize, wanted in (("int8", quantize_int8, int8), ("int4", quantize_int4, int4)):
        if wanted:
            for name, path in fp32_files.items():
                twins[f"{name}.{precision}"] = quantize(path, Path(path).with_suffix(f".{precision}.onnx"))
    return twins


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Drops onnxruntime's quantiser messages below ERROR; every logger keeps its level and handlers.

    The quantiser logs with ``logging.warning(...)``, on the root logger (a pre-processing
    suggestion, twice per call). A filter on the root logger drops the records made in its own
    source files. ``logging.warning`` also installs a stderr handler when the root logger has none
    (``basicConfig``): a ``NullHandler`` stands in meanwhile. Both are removed afterwards.
    """
    import onnxruntime.quantization as quantization

    source = os.path.dirname(quantization.__file__) + os.sep

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not record.pathname.startswith(source)

    root = logging.getLogger()
    stand_in = None if root.handlers else logging.NullHandler()
    root.addFilter(keep)
    if stand_in is not None:
        root.addHandler(stand_in)
    # the int4 quantiser logs every node at INFO on its own logger
    own = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    own_level = own.level
    own.setLevel(logging.ERROR)
    try:
        yield
    finally:
        own.setLevel(own_level)
        root.removeFilter(keep)
        if stand_in is not None:
            root.removeHandler(stand_in)
