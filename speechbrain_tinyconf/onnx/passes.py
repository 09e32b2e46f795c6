"""Graph passes on traced ONNX models, and int8 dynamic quantisation.

Run in this order on every exported graph (:func:`speechbrain_tinyconf.onnx.export.export_graph`):
:func:`bypass_identities` (tied weights read their initializer directly), :func:`reassociate_lowrank`
(``x (V U)^T`` -> ``(x U^T) V^T``), :func:`dedupe_initializers` (equal tensors stored once),
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


def _initializer_map(model) -> Dict[str, Any]:
    return {init.name: init for init in model.graph.initializer}


def _resolve_identity(name: str, producers: Dict[str, Any], inits: Dict[str, Any]) -> str:
    node = producers.get(name)
    while node is not None and node.op_type == "Identity" and name not in inits:
        name = node.input[0]
        node = producers.get(name)
    return name


def reassociate_lowrank(model) -> int:
    """Rewrites ``MatMul(x, Transpose(MatMul(V, U)))`` as ``MatMul(MatMul(x, U^T), V^T)`` in place.

    That is how a ``LowRankWeight``-parametrised weight (e.g. the packed QKV
    projection) is traced. After the pass the factors are constant MatMul
    weights (stored once, quantisable) and the dense ``V @ U`` is never formed.
    Returns the number of rewritten MatMuls.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = _initializer_map(model)
    producers = {out: node for node in graph.node for out in node.output}
    consumers: Dict[str, List[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    transposed: Dict[str, str] = {}

    def transposed_init(name: str) -> str:
        if name not in transposed:
            array = numpy_helper.to_array(inits[name])
            new = numpy_helper.from_array(np.ascontiguousarray(array.T), name=f"{name}__T")
            graph.initializer.append(new)
            inits[new.name] = new
            transposed[name] = new.name
        return transposed[name]

    rewritten, dead = 0, set()
    new_nodes: Dict[int, List[Any]] = {}
    for product in list(graph.node):
        if product.op_type != "MatMul":
            continue
        v_name, u_name = (_resolve_identity(n, producers, inits) for n in product.input)
        if v_name not in inits or u_name not in inits:
            continue
        if len(inits[v_name].dims) != 2 or len(inits[u_name].dims) != 2:
            continue
        users = consumers.get(product.output[0], [])
        plan = []
        for t in users:
            perm = next((list(a.ints) for a in t.attribute if a.name == "perm"), None)
            if t.op_type != "Transpose" or perm != [1, 0]:
                plan = None
                break
            mms = consumers.get(t.output[0], [])
            if not mms or any(m.op_type != "MatMul" or m.input[1] != t.output[0] or m.input[0] == t.output[0]
                              for m in mms):
                plan = None
                break
            plan.append((t, mms))
        if not plan:
            continue
        ut, vt = transposed_init(u_name), transposed_init(v_name)
        for t, mms in plan:
            for mm in mms:
                mid = f"{mm.output[0]}__lowrank"
                first = helper.make_node("MatMul", [mm.input[0], ut], [mid], name=f"{mm.name}__U")
                second = helper.make_node("MatMul", [mid, vt], list(mm.output), name=f"{mm.name}__V")
                new_nodes[id(mm)] = [first, second]
                rewritten += 1
            dead.add(id(t))
        dead.add(id(product))
    if rewritten:
        nodes = []
        for node in graph.node:
            if id(node) in dead:
                continue
            nodes.extend(new_nodes.get(id(node), [node]))
        del graph.node[:]
        graph.node.extend(nodes)
        remove_unused_initializers(model)
    return rewritten


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


def quantize_int8(fp32_path: PathLike, int8_path: PathLike) -> Path:
    """onnxruntime dynamic quantisation of ``fp32_path`` into ``int8_path``.

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
            op_types_to_quantize=["MatMul", "Gemm", "Conv", "Gather"], nodes_to_exclude=keep_fp32,
            extra_options={"MatMulConstBOnly": True},
        )
    model = onnx.load(str(int8_path))
    shorten_names(model)
    onnx.save(model, str(int8_path))
    return Path(int8_path)


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
    try:
        yield
    finally:
        root.removeFilter(keep)
        if stand_in is not None:
            root.removeHandler(stand_in)
