"""FP16 emulation on CPU: how far a model's outputs move when TensorRT runs it in FP16.

TensorRT in FP16 stores weights and activations as IEEE half floats. Without a GPU, the effect
of that rounding can still be measured: :func:`emulate_fp16` returns a copy of an ONNX model
whose float32 weights are rounded to the nearest half float and whose every float32 tensor
(graph inputs and each node's outputs) goes through a ``Cast`` to FLOAT16 and back. ONNX
Runtime's CPU provider then computes in float32 between the roundings, as TensorRT's FP16
kernels accumulate in float32 on tensor cores. The differences between the original and the
emulated model on the same inputs estimate the FP16 error (``benchmarks/gpu_check.py
--emulate-fp16`` uses them to check the FP16 tolerances).

It is an estimate, not TensorRT: TensorRT may keep some layers in float32 (fewer roundings
than here), fuse layers (fewer intermediate tensors rounded), or pick kernels that accumulate
in half precision (more error). Control flow subgraphs (If/Loop/Scan bodies) are left as
they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference, TensorProto

FP16_MAX = float(np.finfo(np.float16).max)
SUFFIX = '__fp16emu'


def round_to_fp16(array: np.ndarray) -> np.ndarray:
    """Return float32 ``array`` rounded to the nearest half float (saturating at +-65504)."""
    clipped = np.clip(np.asarray(array, np.float32), -FP16_MAX, FP16_MAX)
    return clipped.astype(np.float16).astype(np.float32)


def _rounded_tensor(tensor: onnx.TensorProto) -> onnx.TensorProto:
    rounded = numpy_helper.from_array(round_to_fp16(numpy_helper.to_array(tensor)),
                                      tensor.name)
    return rounded


def _float_tensor_names(model: onnx.ModelProto) -> set[str]:
    """Return the names of the float32 tensors of the main graph (inputs, node outputs)."""
    inferred = shape_inference.infer_shapes(model)
    graph = inferred.graph
    names = set()
    for info in list(graph.input) + list(graph.value_info) + list(graph.output):
        if info.type.tensor_type.elem_type == TensorProto.FLOAT:
            names.add(info.name)
    return names


def emulate_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy of ``model`` that rounds weights and every float tensor to half floats.

    Inputs and outputs keep their names and float32 type, so the copy is a drop-in
    replacement for the original (same sidecars, same session code).
    """
    emulated = onnx.ModelProto()
    emulated.CopyFrom(model)
    graph = emulated.graph
    floats = _float_tensor_names(model)
    initializer_names = {init.name for init in graph.initializer}
    for index, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT:
            graph.initializer[index].CopyFrom(_rounded_tensor(init))

    def round_trip(source: str, target: str) -> list[onnx.NodeProto]:
        half = f'{target}{SUFFIX}_half'
        return [helper.make_node('Cast', [source], [half], to=TensorProto.FLOAT16,
                                 name=f'{half}_cast'),
                helper.make_node('Cast', [half], [target], to=TensorProto.FLOAT,
                                 name=f'{target}{SUFFIX}_back')]

    nodes: list[onnx.NodeProto] = []
    renamed_inputs = {}
    for graph_input in graph.input:
        if graph_input.name in floats and graph_input.name not in initializer_names:
            rounded = f'{graph_input.name}{SUFFIX}_in'
            renamed_inputs[graph_input.name] = rounded
            nodes.extend(round_trip(graph_input.name, rounded))
    for node in graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        for position, name in enumerate(copy.input):
            if name in renamed_inputs:
                copy.input[position] = renamed_inputs[name]
        if copy.op_type == 'Constant':
            for attribute in copy.attribute:
                if attribute.name == 'value' and attribute.t.data_type == TensorProto.FLOAT:
                    attribute.t.CopyFrom(_rounded_tensor(attribute.t))
            nodes.append(copy)
            continue
        after = []
        for position, name in enumerate(copy.output):
            if name and name in floats:
                raw = f'{name}{SUFFIX}_raw'
                copy.output[position] = raw
                after.extend(round_trip(raw, name))
        nodes.append(copy)
        nodes.extend(after)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(emulated)
    return emulated


def write_emulated_fp16(source: str | Path, target: str | Path) -> Path:
    """Write the FP16-emulating copy of the ONNX model ``source`` to ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(emulate_fp16(onnx.load(str(source))), str(target))
    return target
