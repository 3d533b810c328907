"""The layer table of a controller network, read from the network itself with forward hooks.

Every leaf module that runs in a one-frame forward pass becomes a row; each computed output
shape (``av_perception.control.layer_table`` arithmetic) is checked against the tensor the
module really produced, and the parameter total against the module's own parameter count.
"""

from __future__ import annotations

import torch
from torch import nn

from av_perception.control.errors import ControllerError
from av_perception.control.layer_table import (batchnorm_row, conv2d_row, input_row, LayerRow,
                                               linear_row, lstm_row, shape_row)
from av_perception.training.model import ControllerNet


def _per_frame(output, leading: int) -> tuple[int, ...]:
    tensor = output[0] if isinstance(output, tuple) else output
    return tuple(tensor.shape[leading:])


def _row_for(name: str, module: nn.Module, inputs: tuple, output,
             leading: int) -> LayerRow | None:
    first = inputs[0]
    if isinstance(module, nn.Conv2d):
        return conv2d_row(name, tuple(first.shape[1:]), module.out_channels, module.kernel_size,
                          module.stride, module.padding, module.groups, module.bias is not None,
                          module.dilation)
    if isinstance(module, nn.Linear):
        return linear_row(name, module.in_features, module.out_features,
                          module.bias is not None)
    if isinstance(module, nn.LSTM):
        return lstm_row(name, module.input_size, module.hidden_size, module.num_layers, 1)
    if isinstance(module, nn.Dropout):
        return None  # identity at inference
    if isinstance(module, nn.BatchNorm2d):
        return batchnorm_row(name, _per_frame(output, leading))
    kind = {nn.ReLU: 'relu', nn.Flatten: 'flatten'}.get(type(module), type(module).__name__)
    return shape_row(name, kind, _per_frame(output, leading))


def layer_rows(net: ControllerNet) -> list[LayerRow]:
    """Return the rows of one frame through encoder and temporal head (one LSTM step)."""
    config = net.config
    rows: list[LayerRow] = [input_row((3, config.input_height, config.input_width))]
    handles = []

    def hook(name: str, leading: int):
        # encoder tensors are (batch, ...), temporal ones (batch, time, ...)
        def record(module: nn.Module, inputs: tuple, output) -> None:
            row = _row_for(name, module, inputs, output, leading)
            if row is None:
                return
            actual = _per_frame(output, leading)
            if tuple(row.output_shape) != actual:
                raise ControllerError(f'layer table: {name} computed output {row.output_shape} '
                                      f'but the module produced {actual}')
            rows.append(row)
        return record

    for prefix, part, leading in (('encoder', net.encoder, 1), ('temporal', net.temporal, 2)):
        for name, module in part.named_modules():
            if name and not list(module.children()):
                handles.append(module.register_forward_hook(hook(f'{prefix}.{name}', leading)))
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            features = net.encoder(torch.zeros(1, 3, config.input_height, config.input_width))
            h, c = net.temporal.zero_state(1)
            net.temporal(features[:, None, :], h, c)
    finally:
        for handle in handles:
            handle.remove()
        net.train(was_training)
    counted = sum(r.params for r in rows)
    actual = sum(p.numel() for p in net.parameters())
    if counted != actual:
        raise ControllerError(f'layer table: {counted} parameters counted, the network has '
                              f'{actual}')
    return rows
