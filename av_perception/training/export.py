"""Export of the two ONNX graphs (PyTorch's dynamo exporter) and their check against PyTorch."""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch.export import Dim

from av_perception.control.errors import ControllerError
from av_perception.training.model import ControllerNet

ENCODER_FILE = 'encoder.onnx'
TEMPORAL_FILE = 'temporal.onnx'
TOLERANCE = 1e-4


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's progress prints and warnings about optional packages."""
    loggers = [logging.getLogger(name) for name in ('torch.onnx', 'torch._dynamo',
                                                    'torch.export', 'onnxscript')]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter('ignore')
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _set_shape(value: onnx.ValueInfoProto, dims: list) -> None:
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for dim in dims:
        entry = shape.dim.add()
        if isinstance(dim, int):
            entry.dim_value = dim
        else:
            entry.dim_param = dim


def strip_trace_metadata(path: Path) -> None:
    """Drop the exporter's per-node source traces (local file paths and line numbers).

    They make the files depend on where and from which source revision they were built.
    """
    model = onnx.load(str(path))
    for node in model.graph.node:
        node.doc_string = ''
        del node.metadata_props[:]
    onnx.save(model, str(path))


def _fix_temporal_shapes(path: Path, layers: int, hidden: int) -> None:
    """Write the true symbolic output shapes.

    The exporter records the example's sequence length in the LSTM output shapes although the
    graph computes any length; ONNX Runtime then warns on every call with another length.
    """
    model = onnx.load(str(path))
    del model.graph.value_info[:]
    shapes = {'command': ['batch', 'time', 2], 'h_out': [layers, 'batch', hidden],
              'c_out': [layers, 'batch', hidden]}
    for output in model.graph.output:
        _set_shape(output, shapes[output.name])
    inputs = {'features': ['batch', 'time', None], 'h': [layers, 'batch', hidden],
              'c': [layers, 'batch', hidden]}
    for value in model.graph.input:
        dims = inputs[value.name]
        if dims[-1] is None:
            dims[-1] = value.type.tensor_type.shape.dim[-1].dim_value
        _set_shape(value, dims)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_onnx(net: ControllerNet, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``encoder.onnx`` and ``temporal.onnx`` to ``out_dir`` and verify them.

    Both graphs are compared with PyTorch on inputs of another batch size and sequence length
    than the export examples (raise ControllerError when they differ by more than 1e-4).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = net.config
    net = net.eval()
    encoder_path, temporal_path = out_dir / ENCODER_FILE, out_dir / TEMPORAL_FILE
    frames = torch.randn(3, 3, config.input_height, config.input_width)
    features = torch.randn(2, 7, config.feature_size)
    h, c = net.temporal.zero_state(2)
    batch, time_steps = Dim('batch', min=1, max=65536), Dim('time', min=1, max=65536)
    for stale in (encoder_path, temporal_path):
        stale.with_name(stale.name + '.data').unlink(missing_ok=True)
    with _quiet():
        torch.onnx.export(net.encoder, (frames,), str(encoder_path), input_names=['frames'],
                          output_names=['features'], dynamo=True,
                          dynamic_shapes={'frames': {0: batch}}, verbose=False,
                          external_data=False)
        torch.onnx.export(net.temporal, (features, h, c), str(temporal_path),
                          input_names=['features', 'h', 'c'],
                          output_names=['command', 'h_out', 'c_out'], dynamo=True,
                          dynamic_shapes={'features': {0: batch, 1: time_steps},
                                          'h': {1: batch}, 'c': {1: batch}}, verbose=False,
                          external_data=False)
    _fix_temporal_shapes(temporal_path, config.lstm_layers, config.hidden_size)
    for path in (encoder_path, temporal_path):
        strip_trace_metadata(path)
    verify_export(net, encoder_path, temporal_path)
    return encoder_path, temporal_path


def verify_export(net: ControllerNet, encoder_path: Path, temporal_path: Path) -> float:
    """Return the largest difference between ONNX Runtime and PyTorch on fresh inputs."""
    config = net.config
    generator = torch.Generator().manual_seed(1234)
    frames = torch.randn(5, 3, config.input_height, config.input_width, generator=generator)
    features = torch.randn(3, 11, config.feature_size, generator=generator)
    h = torch.randn(config.lstm_layers, 3, config.hidden_size, generator=generator)
    c = torch.randn(config.lstm_layers, 3, config.hidden_size, generator=generator)
    with torch.no_grad():
        expected = [net.encoder(frames)] + list(net.temporal(features, h, c))
    encoder = ort.InferenceSession(str(encoder_path), providers=['CPUExecutionProvider'])
    temporal = ort.InferenceSession(str(temporal_path), providers=['CPUExecutionProvider'])
    got = encoder.run(None, {'frames': frames.numpy()}) + temporal.run(
        None, {'features': features.numpy(), 'h': h.numpy(), 'c': c.numpy()})
    worst = max(float(np.max(np.abs(a - b.numpy()))) for a, b in zip(got, expected))
    if not worst <= TOLERANCE:
        raise ControllerError(f'exported graphs differ from PyTorch by {worst:.3g} '
                              f'(> {TOLERANCE})')
    return worst
