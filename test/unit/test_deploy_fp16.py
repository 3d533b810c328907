"""FP16 emulation: weights and every float tensor rounded to half floats, names kept."""

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import onnxruntime as ort
import pytest

from av_perception.deploy.fp16 import emulate_fp16, round_to_fp16, write_emulated_fp16


def _model(weight: np.ndarray) -> onnx.ModelProto:
    """Return y = relu(x @ W + b) * c, c a Constant node, with an int64 shape on the side."""
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['x', 'W'], ['xw']),
         helper.make_node('Add', ['xw', 'b'], ['pre']),
         helper.make_node('Relu', ['pre'], ['act']),
         helper.make_node('Constant', [], ['c'], value=numpy_helper.from_array(
             np.array([1.0001], np.float32), 'c')),
         helper.make_node('Mul', ['act', 'c'], ['y']),
         helper.make_node('Shape', ['y'], ['y_shape'])],
        'tiny',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 2]),
         helper.make_tensor_value_info('y_shape', TensorProto.INT64, [2])],
        [numpy_helper.from_array(weight, 'W'),
         numpy_helper.from_array(np.array([0.1, -0.2], np.float32), 'b')])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list:
    session = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
    return session.run(None, {'x': x})


def test_round_to_fp16_rounds_and_saturates():
    values = np.array([1.0, 1.0 + 2 ** -12, 0.1, 1e6, -1e6], np.float32)
    rounded = round_to_fp16(values)
    assert rounded.dtype == np.float32
    assert rounded[0] == rounded[1] == 1.0  # below half precision's step at 1.0
    assert rounded[2] == np.float32(np.float16(0.1)) != np.float32(0.1)
    assert list(rounded[3:]) == [65504.0, -65504.0]


def test_emulated_model_equals_a_numpy_half_float_reference():
    rng = np.random.default_rng(3)
    weight = rng.normal(size=(3, 2)).astype(np.float32)
    x = rng.normal(size=(1, 3)).astype(np.float32)
    emulated = emulate_fp16(_model(weight))
    y, shape = _run(emulated, x)
    # Every stage rounded to half floats, computed in float32 between the roundings.
    h = round_to_fp16
    xw = h(h(x) @ h(weight))
    pre = h(xw + h(np.array([0.1, -0.2], np.float32)))
    expected = h(h(np.maximum(pre, 0)) * h(np.array([1.0001], np.float32)))
    np.testing.assert_array_equal(y, expected)
    assert list(shape) == [1, 2]
    original, _ = _run(_model(weight), x)
    assert not np.array_equal(original, y)
    np.testing.assert_allclose(y, original, rtol=2e-3, atol=2e-3)


def test_inputs_outputs_and_untyped_parts_are_kept(tmp_path):
    weight = np.ones((3, 2), np.float32)
    source = tmp_path / 'tiny.onnx'
    onnx.save(_model(weight), str(source))
    target = write_emulated_fp16(source, tmp_path / 'out' / 'tiny.onnx')
    emulated = onnx.load(str(target))
    assert [i.name for i in emulated.graph.input] == ['x']
    assert [o.name for o in emulated.graph.output] == ['y', 'y_shape']
    casts = [n for n in emulated.graph.node if n.op_type == 'Cast']
    # x, xw, pre, act, y round-trip (2 casts each); the int64 shape and the Constant do not.
    assert len(casts) == 10
    assert not any(n.output[0].startswith('y_shape') for n in casts)


def test_a_non_model_is_refused():
    with pytest.raises(onnx.checker.ValidationError, match='ir_version'):
        emulate_fp16(onnx.ModelProto())
