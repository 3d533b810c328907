"""Tiny ONNX detector models built in code, for tests and demos without real weights.

Two kinds: *constant* models whose output is a fixed array (so decoding can be checked exactly
end to end through ONNX Runtime), and *random* models (convolutions with random weights that
produce the right output shape for each format, a proof of life). Needs the ``onnx`` package,
imported only when a model is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from av_perception.detection.decode import DEFAULT_STRIDES, yolox_grid_count

OPSET = 13
IR_VERSION = 8  # readable by the ONNX Runtime releases shipped for Humble/JetPack too


def _save(graph, path: str | Path, metadata: Mapping[str, str] | None) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)],
                              producer_name='av_perception.synthetic')
    model.ir_version = IR_VERSION
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


def make_constant_model(path: str | Path, output: np.ndarray,
                        input_size: tuple[int, int] = (64, 64),
                        metadata: Mapping[str, str] | None = None,
                        input_name: str = 'images', output_name: str = 'output',
                        dynamic_input: bool = False) -> Path:
    """Write a model whose output is always ``output`` (any float32 array).

    The output still depends on the input (``+ 0 * mean(input)``) so ONNX Runtime runs it like
    a real network. ``dynamic_input`` declares the input height/width as symbolic.
    """
    from onnx import helper, numpy_helper, TensorProto

    output = np.asarray(output, np.float32)
    width, height = input_size
    dims = [1, 3, 'height', 'width'] if dynamic_input else [1, 3, height, width]
    graph = helper.make_graph(
        [helper.make_node('ReduceMean', ['input_image'], ['mean'], axes=[1, 2, 3],
                          keepdims=0),
         helper.make_node('Mul', ['mean', 'zero'], ['nothing']),
         helper.make_node('Add', ['constant', 'nothing'], ['result'])],
        'constant_detector',
        [helper.make_tensor_value_info('input_image', TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info('result', TensorProto.FLOAT, list(output.shape))],
        initializer=[numpy_helper.from_array(output, 'constant'),
                     numpy_helper.from_array(np.zeros(1, np.float32), 'zero')])
    # Rename the public input/output (helper names are internal).
    graph.input[0].name = input_name
    graph.node[0].input[0] = input_name
    graph.output[0].name = output_name
    graph.node[2].output[0] = output_name
    return _save(graph, path, metadata)


def make_random_model(path: str | Path, fmt: str, input_size: tuple[int, int] = (96, 96),
                      num_classes: int = 80, seed: int = 0,
                      metadata: Mapping[str, str] | None = None,
                      strides: Sequence[int] = DEFAULT_STRIDES) -> Path:
    """Write a random-weight conv model with the output layout of ``fmt``.

    yolox: [1, cells, 5 + classes]; yolov5: [1, 3 * cells, 5 + classes] (3 anchors);
    yolov8: [1, 4 + classes, cells]. Box values come out in input pixels, scores in 0..1.
    """
    from onnx import helper, numpy_helper, TensorProto

    rng = np.random.default_rng(seed)
    width, height = input_size
    anchors = 3 if fmt == 'yolov5' else 1
    channels = (4 if fmt == 'yolov8' else 5) + num_classes
    nodes, inits, branches = [], [], []
    for stride in strides:
        # Scaled so 0..255 inputs give logits of order 1 (not saturated sigmoids).
        spread = 2.0 / (np.sqrt(3.0 * stride * stride) * 128.0)
        weight = rng.normal(0, spread, (channels * anchors, 3, stride, stride)).astype(np.float32)
        inits.append(numpy_helper.from_array(weight, f'w{stride}'))
        nodes.append(helper.make_node('Conv', ['images', f'w{stride}'], [f'c{stride}'],
                                      strides=[stride, stride]))
        shape = np.array([1, channels, -1], np.int64)
        inits.append(numpy_helper.from_array(shape, f's{stride}'))
        nodes.append(helper.make_node('Reshape', [f'c{stride}', f's{stride}'], [f'r{stride}']))
        branches.append(f'r{stride}')
    nodes.append(helper.make_node('Concat', branches, ['cat'], axis=2))  # [1, C, N]
    nodes.append(helper.make_node('Sigmoid', ['cat'], ['prob']))
    scale = np.ones((1, channels, 1), np.float32)
    if fmt != 'yolox':
        # Decoded layouts hold pixels: sigmoid * input size keeps boxes on the image. Raw YOLOX
        # rows are cell offsets and log sizes, which 0..1 values already are.
        scale[0, 0:4, 0] = [width, height, width / 2, height / 2]
    inits.append(numpy_helper.from_array(scale, 'scale'))
    nodes.append(helper.make_node('Mul', ['prob', 'scale'], ['scaled']))
    cells = anchors * yolox_grid_count(width, height, strides)
    if fmt == 'yolov8':
        nodes.append(helper.make_node('Identity', ['scaled'], ['output']))
        output_shape = [1, channels, cells]
    else:
        nodes.append(helper.make_node('Transpose', ['scaled'], ['output'], perm=[0, 2, 1]))
        output_shape = [1, cells, channels]
    graph = helper.make_graph(
        nodes, f'random_{fmt}',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info('output', TensorProto.FLOAT, output_shape)],
        initializer=inits)
    return _save(graph, path, metadata)


def yolox_output_for_boxes(boxes_xyxy: Sequence[Sequence[float]], class_ids: Sequence[int],
                           scores: Sequence[float], input_size: tuple[int, int],
                           num_classes: int = 80, strides: Sequence[int] = DEFAULT_STRIDES,
                           objectness: float = 0.9) -> np.ndarray:
    """Return a raw YOLOX output [1, cells, 5 + classes] that decodes to the given boxes.

    Boxes are in network input pixels; box k is placed on a cell of stride ``strides[k % 3]``
    near its centre, with class probability ``score / objectness``.
    """
    width, height = input_size
    offsets, rows = [], 0
    for stride in strides:
        offsets.append(rows)
        rows += (height // stride) * (width // stride)
    output = np.zeros((1, rows, 5 + num_classes), np.float32)
    for k, (box, class_id, score) in enumerate(zip(boxes_xyxy, class_ids, scores)):
        level = k % len(strides)
        stride = strides[level]
        cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
        cell_x, cell_y = int(cx // stride), int(cy // stride)
        row = offsets[level] + cell_y * (width // stride) + cell_x
        output[0, row, 0] = cx / stride - cell_x
        output[0, row, 1] = cy / stride - cell_y
        output[0, row, 2] = np.log((box[2] - box[0]) / stride)
        output[0, row, 3] = np.log((box[3] - box[1]) / stride)
        output[0, row, 4] = objectness
        output[0, row, 5 + class_id] = score / objectness
    return output


def yolov5_output_for_boxes(boxes_xyxy: Sequence[Sequence[float]], class_ids: Sequence[int],
                            scores: Sequence[float], rows: int = 100, num_classes: int = 80,
                            objectness: float = 0.9) -> np.ndarray:
    """Return a YOLOv5 output [1, rows, 5 + classes] holding the given boxes in its first rows."""
    output = np.zeros((1, rows, 5 + num_classes), np.float32)
    for k, (box, class_id, score) in enumerate(zip(boxes_xyxy, class_ids, scores)):
        output[0, k, 0:4] = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2,
                             box[2] - box[0], box[3] - box[1]]
        output[0, k, 4] = objectness
        output[0, k, 5 + class_id] = score / objectness
    return output


def yolov8_output_for_boxes(boxes_xyxy: Sequence[Sequence[float]], class_ids: Sequence[int],
                            scores: Sequence[float], columns: int = 100,
                            num_classes: int = 80) -> np.ndarray:
    """Return a YOLOv8 output [1, 4 + classes, columns] holding the given boxes first."""
    output = np.zeros((1, 4 + num_classes, columns), np.float32)
    for k, (box, class_id, score) in enumerate(zip(boxes_xyxy, class_ids, scores)):
        output[0, 0:4, k] = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2,
                             box[2] - box[0], box[3] - box[1]]
        output[0, 4 + class_id, k] = score
    return output
