"""The layer table of any ONNX model: output shapes, parameters, MACs and activation memory.

Shapes come from ONNX shape inference on the graph with every dynamic input dimension fixed
(1 unless given), so no weights are read and no inference runs: a 500 MB model with external
weights that are not even present is analysed from its graph alone. The arithmetic per layer is
that of :mod:`av_perception.control.layer_table` (the LeNet/VGG conventions):

* **parameters**: the elements of the weight tensors a layer reads (initializers and Constant
  nodes, counted once, also when reached through weight-only nodes such as the Slice/Concat an
  exporter puts in front of an LSTM, which ONNX Runtime folds at load). Integer tensors of 32/64
  bits are shapes and indices, not weights; batch-norm running mean and variance are buffers.
* **MACs**: multiply-accumulates of Conv (groups and depthwise included), ConvTranspose, Gemm,
  MatMul, LSTM/GRU/RNN and their quantised forms, for the batch the input shapes say (1 by
  default). Element-wise work, pooling, resizing and normalisation count 0, as in the classic
  tables; ops that do heavy work this module does not count are listed in ``uncounted_ops``.
* **activation memory**: bytes of each layer's outputs, by their element type. Three totals:
  ``activation_bytes_all`` sums every tensor the graph produces (nothing in place, nothing
  freed); ``activation_bytes_layers`` is the count of the cs231n VGG table: the input plus the
  output of every layer except activations a framework runs in place (ReLU, sigmoid, ...) and
  views (reshape, flatten, ...); ``peak_live_bytes`` is the largest sum of tensors alive at once
  when the nodes run in graph order and a tensor is freed after its last reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import onnx
from onnx import helper, shape_inference, TensorProto

from av_perception.control.layer_table import conv_macs, linear_row, recurrent_counts

IN_PLACE_OPS = frozenset((
    'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Clip', 'Elu',
    'Selu', 'Celu', 'Softplus', 'Softsign', 'Mish', 'Gelu', 'ThresholdedRelu'))
VIEW_OPS = frozenset(('Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout'))
# Ops with substantial arithmetic that this module does not count (listed, never silently 0).
UNCOUNTED_OPS = frozenset((
    'Einsum', 'Attention', 'MultiHeadAttention', 'FusedConv', 'FusedMatMul', 'FusedGemm',
    'DeformConv', 'Loop', 'Scan', 'If', 'ConvInteger', 'QGemm', 'DynamicQuantizeLSTM'))
# Weights are floating point or 8/4-bit integers; wider integers are shapes and indices.
_INDEX_TYPES = frozenset((TensorProto.INT32, TensorProto.INT64, TensorProto.UINT32,
                          TensorProto.UINT64, TensorProto.BOOL, TensorProto.STRING,
                          TensorProto.INT16, TensorProto.UINT16))
# Inputs that hold statistics, not learned parameters (batch norm: running mean and variance).
_BUFFER_INPUTS = {'BatchNormalization': (3, 4)}
_RECURRENT_GATES = {'LSTM': 4, 'GRU': 3, 'RNN': 1}


class ModelInfoError(ValueError):
    """The model cannot be analysed; the message names the file and the reason."""


@dataclass(frozen=True)
class OnnxLayer:
    """One node of the graph: op, output shapes (batch included), parameters, MACs, bytes.

    ``output_bytes`` is 0 for outputs whose shape stayed unknown (see
    :attr:`OnnxTable.unknown_shapes`); ``materialised`` is False for in-place activations and
    views (not in the cs231n-style total).
    """

    name: str
    op_type: str
    output_shapes: tuple[tuple[int | None, ...], ...]
    output_values: int
    output_bytes: int
    params: int
    macs: int
    detail: str = ''
    materialised: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of the row."""
        return {'name': self.name, 'op_type': self.op_type,
                'output_shapes': [list(s) for s in self.output_shapes],
                'output_values': self.output_values, 'output_bytes': self.output_bytes,
                'params': self.params, 'macs': self.macs, 'detail': self.detail,
                'materialised': self.materialised}


@dataclass(frozen=True)
class OnnxTable:
    """The layer table of one model at fixed input shapes, with its totals."""

    model: str
    inputs: Mapping[str, tuple[int, ...]]
    layers: tuple[OnnxLayer, ...]
    input_values: int
    input_bytes: int
    param_count: int
    param_bytes: int
    folded_nodes: int = 0
    peak_live_bytes: int = 0
    uncounted_ops: Mapping[str, int] = field(default_factory=dict)
    unknown_shapes: tuple[str, ...] = ()

    @property
    def macs(self) -> int:
        """Total multiply-accumulates of one run of the graph."""
        return sum(layer.macs for layer in self.layers)

    @property
    def flops(self) -> int:
        """Floating-point operations, two per MAC (how peak TFLOPS/TOPS are quoted)."""
        return 2 * self.macs

    @property
    def activation_bytes_all(self) -> int:
        """Bytes of every tensor the graph produces (no in-place reuse, nothing freed)."""
        return sum(layer.output_bytes for layer in self.layers)

    @property
    def activation_values_layers(self) -> int:
        """Values of the input and of every materialised layer output (the cs231n count)."""
        return self.input_values + sum(layer.output_values for layer in self.layers
                                       if layer.materialised)

    @property
    def activation_bytes_layers(self) -> int:
        """Bytes of :attr:`activation_values_layers`, by element type."""
        return self.input_bytes + sum(layer.output_bytes for layer in self.layers
                                      if layer.materialised)

    def totals(self) -> dict[str, Any]:
        """Return the totals as a JSON-ready dict."""
        return {'params': self.param_count, 'param_bytes': self.param_bytes,
                'macs': self.macs, 'flops': self.flops, 'input_values': self.input_values,
                'input_bytes': self.input_bytes,
                'activation_bytes_all': self.activation_bytes_all,
                'activation_values_layers': self.activation_values_layers,
                'activation_bytes_layers': self.activation_bytes_layers,
                'peak_live_bytes': self.peak_live_bytes, 'layers': len(self.layers),
                'folded_nodes': self.folded_nodes}

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of the table."""
        return {'model': self.model,
                'inputs': {name: list(shape) for name, shape in self.inputs.items()},
                'totals': self.totals(), 'uncounted_ops': dict(self.uncounted_ops),
                'unknown_shapes': list(self.unknown_shapes),
                'layers': [layer.to_dict() for layer in self.layers]}


def _itemsize(elem_type: int) -> int:
    if elem_type in (TensorProto.UNDEFINED, TensorProto.STRING):
        return 0
    if elem_type in (getattr(TensorProto, 'INT4', -1), getattr(TensorProto, 'UINT4', -1)):
        return 1  # packed two per byte; rounded up per value here
    return int(helper.tensor_dtype_to_np_dtype(elem_type).itemsize)


def _value_shape(value: onnx.ValueInfoProto) -> tuple[int | None, ...] | None:
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField('shape'):
        return None
    return tuple(d.dim_value if d.HasField('dim_value') and d.dim_value >= 0 else None
                 for d in tensor_type.shape.dim)


def fix_input_shapes(model: onnx.ModelProto, dims: Mapping[str, int] | None = None,
                     shapes: Mapping[str, Sequence[int]] | None = None) -> dict[str, tuple]:
    """Give every graph input a static shape, in place; return the shapes used.

    ``shapes`` sets a whole input (``{'images': (1, 3, 640, 640)}``); ``dims`` sets named
    dynamic dimensions (``{'batch': 2}``); any other dynamic dimension becomes 1.
    """
    dims, shapes = dict(dims or {}), dict(shapes or {})
    initializers = {init.name for init in model.graph.initializer}
    graph_inputs = [value for value in model.graph.input if value.name not in initializers]
    unknown = sorted(set(shapes) - {value.name for value in graph_inputs})
    if unknown:
        raise ModelInfoError(f'--shape names input(s) {unknown} that the model does not have '
                             f'(inputs: {[value.name for value in graph_inputs]})')
    used = {}
    for value in graph_inputs:
        tensor_shape = value.type.tensor_type.shape
        wanted = shapes.get(value.name)
        if wanted is not None and len(wanted) != len(tensor_shape.dim):
            raise ModelInfoError(f'input {value.name!r} has {len(tensor_shape.dim)} dimensions; '
                                 f'--shape gave {list(wanted)}')
        for index, dim in enumerate(tensor_shape.dim):
            if wanted is not None:
                size = int(wanted[index])
            elif dim.HasField('dim_value') and dim.dim_value > 0:
                size = dim.dim_value
            else:
                size = int(dims.get(dim.dim_param, 1))
            if size < 1:
                raise ModelInfoError(f'input {value.name!r}: dimension {index} = {size} must be '
                                     '>= 1')
            dim.Clear()
            dim.dim_value = size
        used[value.name] = tuple(d.dim_value for d in tensor_shape.dim)
    return used


def load_model(path: str | Path) -> onnx.ModelProto:
    """Read the graph of an ONNX file without its external weight files."""
    path = Path(path)
    if not path.is_file():
        raise ModelInfoError(f'{path}: model file not found')
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as err:  # noqa: B902 - protobuf raises its own DecodeError types
        raise ModelInfoError(f'{path}: not an ONNX model: {err}') from err


def _attribute(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


class _Graph:
    """Tensor shapes/types of an inferred graph and the weights behind every constant."""

    def __init__(self, model: onnx.ModelProto) -> None:
        graph = model.graph
        self.types: dict[str, int] = {}
        self.shapes: dict[str, tuple[int | None, ...] | None] = {}
        for value in list(graph.input) + list(graph.value_info) + list(graph.output):
            self.types[value.name] = value.type.tensor_type.elem_type
            self.shapes[value.name] = _value_shape(value)
        # constant tensor -> the weight tensors (name, values, bytes, is_weight) it comes from
        self.sources: dict[str, frozenset[tuple[str, int, int, bool]]] = {}
        for init in graph.initializer:
            self._add_weight(init.name, init)

    def _add_weight(self, name: str, tensor: onnx.TensorProto) -> None:
        values = math.prod(tensor.dims)
        self.types[name] = tensor.data_type
        self.shapes[name] = tuple(tensor.dims)
        is_weight = tensor.data_type not in _INDEX_TYPES
        self.sources[name] = frozenset(
            {(name, values, values * _itemsize(tensor.data_type), is_weight)})

    def is_constant(self, name: str) -> bool:
        return name == '' or name in self.sources

    def fold(self, node: onnx.NodeProto) -> bool:
        """Record ``node`` as weight preprocessing if every input is constant."""
        if node.op_type == 'Constant':
            value = _attribute(node, 'value')
            if isinstance(value, onnx.TensorProto):
                self._add_weight(node.output[0], value)
            else:  # value_float(s)/value_int(s): scalars and small lists, not weights
                self.sources[node.output[0]] = frozenset()
            return True
        if node.op_type in ('RandomNormal', 'RandomUniform', 'RandomNormalLike',
                            'RandomUniformLike', 'Multinomial', 'Bernoulli'):
            return False
        if not node.input or not all(self.is_constant(name) for name in node.input):
            return False
        merged = frozenset().union(*(self.sources.get(name, frozenset()) for name in node.input))
        for name in node.output:
            self.sources[name] = merged
        return True

    def shape(self, name: str) -> tuple[int | None, ...] | None:
        return self.shapes.get(name)


def _known(shape: tuple[int | None, ...] | None) -> bool:
    return shape is not None and all(d is not None for d in shape)


def _macs(node: onnx.NodeProto, graph: _Graph) -> tuple[int, str]:
    """Return (MACs, detail) of one node; (0, '') for ops without counted arithmetic."""
    op = node.op_type
    out = graph.shape(node.output[0]) if node.output else None
    if op in ('Conv', 'QLinearConv', 'ConvInteger'):
        weight = graph.shape(node.input[3 if op == 'QLinearConv' else 1])
        if not (_known(out) and _known(weight)):
            return 0, 'shape unknown'
        groups = int(_attribute(node, 'group', 1))
        kernel = weight[2:]
        macs = out[0] * conv_macs(weight[1] * groups, out[1], kernel, out[2:], groups)
        strides = _attribute(node, 'strides') or [1] * len(kernel)
        detail = 'x'.join(str(k) for k in kernel) + f' s{strides[0]}'
        if groups != 1:
            detail += ' depthwise' if weight[1] == 1 else f' g{groups}'
        return macs, detail
    if op == 'ConvTranspose':
        data, weight = graph.shape(node.input[0]), graph.shape(node.input[1])
        if not (_known(data) and _known(weight)):
            return 0, 'shape unknown'
        groups = int(_attribute(node, 'group', 1))
        kernel = weight[2:]
        # every input value is scattered through a kernel into C_out / groups channels
        macs = data[0] * conv_macs(weight[1] * groups, data[1], kernel, data[2:], groups)
        return macs, 'x'.join(str(k) for k in kernel) + ' transposed'
    if op in ('Gemm', 'MatMul', 'QLinearMatMul', 'MatMulInteger'):
        left = graph.shape(node.input[0])
        if not (_known(out) and _known(left)) or not left:
            return 0, 'shape unknown'
        inner = left[0] if op == 'Gemm' and _attribute(node, 'transA', 0) else left[-1]
        outer = math.prod(out[:-1]) if len(out) > 1 else 1
        columns = out[-1] if out else 1
        # each output value is one dot product of length `inner` (broadcast batches included)
        return outer * linear_row(node.name, inner, columns, bias=False).macs, \
            f'{inner}->{columns}'
    if op in _RECURRENT_GATES:
        data = graph.shape(node.input[0])
        hidden = _attribute(node, 'hidden_size')
        if not _known(data) or not hidden:
            return 0, 'shape unknown'
        steps, batch = (data[1], data[0]) if _attribute(node, 'layout', 0) else data[:2]
        direction = _attribute(node, 'direction', b'forward')
        directions = 2 if direction in (b'bidirectional', 'bidirectional') else 1
        _, macs = recurrent_counts(data[2], int(hidden), _RECURRENT_GATES[op], steps * batch)
        return directions * macs, f'{data[2]}->{hidden} x{steps} steps' + (
            ' bidirectional' if directions == 2 else '')
    return 0, ''


def layer_table(model: onnx.ModelProto | str | Path, dims: Mapping[str, int] | None = None,
                shapes: Mapping[str, Sequence[int]] | None = None,
                name: str = '') -> OnnxTable:
    """Return the layer table of ``model`` (a path or a loaded ModelProto, left unchanged)."""
    if not isinstance(model, onnx.ModelProto):
        name = name or str(model)
        model = load_model(model)
    else:
        copied = onnx.ModelProto()
        copied.CopyFrom(model)
        model = copied
    used = fix_input_shapes(model, dims, shapes)
    try:
        inferred = shape_inference.infer_shapes(model, check_type=False, strict_mode=False,
                                                data_prop=True)
    except Exception as err:  # noqa: B902 - onnx raises InferenceError and plain errors
        raise ModelInfoError(f'{name or "model"}: ONNX shape inference failed: {err}') from err
    graph = _Graph(inferred)
    missing = [out for node in inferred.graph.node for out in node.output
               if out and not _known(graph.shape(out))]
    if missing:
        graph.shapes.update(_run_for_shapes(model, used, missing, graph.types))
    input_values = sum(math.prod(shape) for shape in used.values())
    input_bytes = sum(math.prod(shape) * _itemsize(graph.types.get(n, 0))
                      for n, shape in used.items())
    counted: set[str] = set()
    rows: list[OnnxLayer] = []
    uncounted: dict[str, int] = {}
    unknown: list[str] = []
    folded = 0
    for index, node in enumerate(inferred.graph.node):
        if graph.fold(node):
            folded += 1
            continue
        params = 0
        buffers = _BUFFER_INPUTS.get(node.op_type, ())
        for position, input_name in enumerate(node.input):
            if position in buffers:
                continue
            for source, values, _, is_weight in graph.sources.get(input_name, ()):
                if is_weight and source not in counted:
                    counted.add(source)
                    params += values
        macs, detail = _macs(node, graph)
        if node.op_type in UNCOUNTED_OPS:
            uncounted[node.op_type] = uncounted.get(node.op_type, 0) + 1
        shapes_out, values_out, bytes_out = [], 0, 0
        for output in node.output:
            if not output:
                continue
            shape = graph.shape(output)
            shapes_out.append(shape if shape is not None else ())
            if not _known(shape):
                unknown.append(output)
                continue
            values = math.prod(shape)
            values_out += values
            bytes_out += values * _itemsize(graph.types.get(output, 0))
        rows.append(OnnxLayer(
            node.name or f'{node.op_type}_{index}', node.op_type, tuple(shapes_out),
            values_out, bytes_out, params, macs, detail,
            node.op_type not in IN_PLACE_OPS | VIEW_OPS))
    weight_sources = {s for sources in graph.sources.values() for s in sources if s[3]}
    param_bytes = sum(nbytes for name, _, nbytes, _ in weight_sources if name in counted)
    return OnnxTable(
        name or inferred.graph.name, used, tuple(rows), input_values, input_bytes,
        sum(row.params for row in rows), param_bytes, folded,
        _peak_live_bytes(inferred, graph, used), uncounted, tuple(unknown))


def _run_for_shapes(model: onnx.ModelProto, inputs: Mapping[str, tuple[int, ...]],
                    names: Sequence[str], types: Mapping[str, int]
                    ) -> dict[str, tuple[int, ...]]:
    """Shapes that inference left open, from one ONNX Runtime run on zero inputs.

    Exporters compute some shapes at run time (Shape -> Slice -> Reshape) where ONNX's data
    propagation stops. Only for models whose weights are in the file; {} when it cannot run.
    """
    if any(init.data_location == TensorProto.EXTERNAL for init in model.graph.initializer):
        return {}
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        return {}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    existing = {value.name for value in probe.graph.output}
    for name in names:
        if name not in existing:
            probe.graph.output.append(helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(probe.SerializeToString(), options,
                                       providers=['CPUExecutionProvider'])
        feeds = {name: np.zeros(shape, helper.tensor_dtype_to_np_dtype(types.get(name, 1)))
                 for name, shape in inputs.items()}
        values = session.run(list(names), feeds)
    except Exception:  # noqa: B902 - a model that cannot run keeps its unknown shapes
        return {}
    return {name: tuple(int(d) for d in np.shape(value)) for name, value in zip(names, values)}


def _peak_live_bytes(model: onnx.ModelProto, graph: _Graph,
                     inputs: Mapping[str, tuple[int, ...]]) -> int:
    """Largest sum of live activations with nodes in graph order, each freed after use."""
    def size(name: str) -> int:
        shape = graph.shape(name)
        if not _known(shape):
            return 0
        return math.prod(shape) * _itemsize(graph.types.get(name, 0))

    last_use: dict[str, int] = {}
    nodes = [n for n in model.graph.node if not all(graph.is_constant(o) for o in n.output)]
    for index, node in enumerate(nodes):
        for name in node.input:
            last_use[name] = index
    keep = {value.name for value in model.graph.output}
    live = {name: size(name) for name in inputs}
    peak = current = sum(live.values())
    for index, node in enumerate(nodes):
        for name in node.output:
            if name and name not in live:
                live[name] = size(name)
                current += live[name]
        peak = max(peak, current)
        for name in set(node.input) | set(node.output):
            if name in live and name not in keep and last_use.get(name, -1) <= index:
                current -= live.pop(name)
    return peak


def op_summary(table: OnnxTable) -> list[tuple[str, int, int, int, int]]:
    """Return ``(op_type, count, params, MACs, output bytes)`` per op type, most MACs first."""
    summary: dict[str, list[int]] = {}
    for layer in table.layers:
        entry = summary.setdefault(layer.op_type, [0, 0, 0, 0])
        entry[0] += 1
        entry[1] += layer.params
        entry[2] += layer.macs
        entry[3] += layer.output_bytes
    return sorted(((op, *values) for op, values in summary.items()),
                  key=lambda row: (-row[3], -row[2], row[0]))


def _shape_text(shapes: Iterable[Sequence[int | None]]) -> str:
    return ', '.join('x'.join('?' if d is None else str(d) for d in shape) or 'scalar'
                     for shape in shapes)


def format_bytes(value: float) -> str:
    """Return a byte count with a binary-free decimal unit (1 MB = 10^6 bytes)."""
    for unit, scale in (('GB', 1e9), ('MB', 1e6), ('kB', 1e3)):
        if abs(value) >= scale:
            return f'{value / scale:.2f} {unit}'
    return f'{int(value)} B'


def format_table(table: OnnxTable, layers: bool = True) -> str:
    """Return the layer table (or only the per-op summary) and the totals as text."""
    lines = [f'model: {table.model}',
             'inputs: ' + ', '.join(f'{n} {_shape_text([s])}' for n, s in table.inputs.items())]
    if layers:
        header = ('layer', 'op', 'detail', 'output', 'bytes', 'params', 'MACs')
        body = [(row.name, row.op_type + ('' if row.materialised else '*'), row.detail,
                 _shape_text(row.output_shapes), f'{row.output_bytes:,}', f'{row.params:,}',
                 f'{row.macs:,}') for row in table.layers]
    else:
        header = ('op', 'count', 'params', 'MACs', 'output bytes')
        body = [(op, f'{count:,}', f'{params:,}', f'{macs:,}', f'{nbytes:,}')
                for op, count, params, macs, nbytes in op_summary(table)]
    widths = [max(len(str(row[i])) for row in [header] + body) for i in range(len(header))]
    numeric = set(range(len(header) - 3, len(header))) if layers else {1, 2, 3, 4}

    def render(row: Sequence[str]) -> str:
        return '  '.join(str(cell).rjust(w) if i in numeric else str(cell).ljust(w)
                         for i, (cell, w) in enumerate(zip(row, widths))).rstrip()

    rule = '-' * len(render(header))
    lines += [render(header), rule] + [render(row) for row in body] + [rule]
    if layers:
        lines.append('* in-place activation or view: not in the per-layer activation total')
    lines += [
        f'parameters:            {table.param_count:,} ({format_bytes(table.param_bytes)})',
        f'MACs:                  {table.macs:,} ({table.flops / 1e9:.3f} GFLOPs at 2 per MAC)',
        f'activations, layers:   {table.activation_values_layers:,} values, '
        f'{format_bytes(table.activation_bytes_layers)} (input + materialised layer outputs)',
        f'activations, all:      {format_bytes(table.activation_bytes_all)} '
        '(every tensor the graph produces)',
        f'peak live activations: {format_bytes(table.peak_live_bytes)} '
        '(graph order, each tensor freed after its last reader)']
    if table.folded_nodes:
        lines.append(f'{table.folded_nodes} weight-only node(s) folded into their consumers')
    if table.uncounted_ops:
        lines.append(f'MACs NOT counted for: {dict(table.uncounted_ops)}')
    if table.unknown_shapes:
        lines.append(f'{len(table.unknown_shapes)} output shape(s) unknown after shape '
                     f'inference (bytes and MACs of those layers missing): '
                     f'{list(table.unknown_shapes[:5])}')
    return '\n'.join(lines)
