"""Layer tables: output volume, parameters and multiply-accumulates (MACs) per layer.

The arithmetic of the classic LeNet/VGG tables, one function per layer kind, so that it can be
checked on known layers without a deep-learning framework. The rows of a concrete model are
produced by walking the model itself (``av_perception.training.layers`` uses PyTorch forward
hooks and checks every computed output shape against the real one) and travel with the
exported model in its sidecar, so ``av-perception controller-info`` prints them without PyTorch.

Conventions:

* shapes are per frame, without the batch dimension: ``(C, H, W)`` or ``(features,)``;
* MACs count the multiply-accumulates of convolutions, matrix products and LSTM gate products;
  element-wise work (bias adds, activations, gate non-linearities) is not counted;
* LSTM parameters follow PyTorch (and ONNX ``LSTM``): ``4 * H * (I + H) + 8 * H`` per layer,
  i.e. two bias vectors (input-hidden and hidden-hidden); MACs are ``4 * H * (I + H)`` per
  layer and time step.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any, Iterable, Mapping, Sequence

from av_perception.control.errors import ControllerError


@dataclass(frozen=True)
class LayerRow:
    """One layer of a table: name, kind, per-frame output shape, parameters and MACs."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    detail: str = ''

    @property
    def output_volume(self) -> int:
        """Return the values output per frame (the 'memory' column of VGG tables)."""
        return int(math.prod(self.output_shape))

    def to_dict(self) -> dict[str, Any]:
        """Return the sidecar form of the row."""
        return {'name': self.name, 'kind': self.kind, 'output_shape': list(self.output_shape),
                'params': self.params, 'macs': self.macs, 'detail': self.detail}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> 'LayerRow':
        """Build a row from its sidecar form; raise ControllerError naming a bad entry."""
        try:
            return cls(str(values['name']), str(values['kind']),
                       tuple(int(v) for v in values['output_shape']), int(values['params']),
                       int(values['macs']), str(values.get('detail', '')))
        except (KeyError, TypeError, ValueError) as err:
            raise ControllerError(f'bad layer table row {dict(values)!r}: {err}') from err


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def conv_output_size(size: int, kernel: int, stride: int, padding: int,
                     dilation: int = 1) -> int:
    """Output length of a convolution along one axis (floor mode, as PyTorch and ONNX)."""
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise ControllerError(f'convolution of size {size} with kernel {kernel}, stride '
                              f'{stride}, padding {padding}: output would be empty')
    return out


def conv_params(in_channels: int, out_channels: int, kernel: Sequence[int], groups: int = 1,
                bias: bool = True) -> int:
    """Return the parameters of an N-d convolution.

    ``prod(kernel) * C_in / groups * C_out``, plus ``C_out`` with a bias.
    """
    per_output = math.prod(int(k) for k in kernel) * int(in_channels) // int(groups)
    return per_output * int(out_channels) + (int(out_channels) if bias else 0)


def conv_macs(in_channels: int, out_channels: int, kernel: Sequence[int],
              output_spatial: Sequence[int], groups: int = 1) -> int:
    """Return the MACs of an N-d convolution: a ``prod(kernel) * C_in / groups`` dot per output.

    Depthwise convolutions are ``groups == in_channels``: ``prod(kernel)`` MACs per output.
    """
    per_output = math.prod(int(k) for k in kernel) * int(in_channels) // int(groups)
    return math.prod(int(v) for v in output_spatial) * int(out_channels) * per_output


def recurrent_counts(input_size: int, hidden_size: int, gates: int, steps: int = 1
                     ) -> tuple[int, int]:
    """Return ``(params, MACs)`` of one recurrent layer and direction with ``gates`` gates.

    LSTM 4 gates, GRU 3, plain RNN 1. Parameters follow PyTorch and ONNX (two bias vectors):
    ``gates * H * (I + H) + 2 * gates * H``; MACs ``steps * gates * H * (I + H)``.
    """
    products = gates * hidden_size * (input_size + hidden_size)
    return products + 2 * gates * hidden_size, products * steps


def input_row(shape: Sequence[int], name: str = 'input') -> LayerRow:
    """Describe the input of a network (no parameters, no MACs)."""
    return LayerRow(name, 'input', tuple(int(v) for v in shape), 0, 0)


def conv2d_row(name: str, input_shape: Sequence[int], out_channels: int,
               kernel: int | Sequence[int], stride: int | Sequence[int] = 1,
               padding: int | Sequence[int] = 0, groups: int = 1, bias: bool = True,
               dilation: int | Sequence[int] = 1) -> LayerRow:
    """Describe a 2-D convolution on a ``(C, H, W)`` input.

    params = ``kh * kw * C / groups * out_channels (+ out_channels)``;
    MACs = ``H_out * W_out * out_channels * kh * kw * C / groups``.
    """
    channels, height, width = (int(v) for v in input_shape)
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    (ph, pw), (dh, dw) = _pair(padding), _pair(dilation)
    if channels % groups or out_channels % groups:
        raise ControllerError(f'{name}: channels {channels} -> {out_channels} not divisible by '
                              f'groups={groups}')
    out_h = conv_output_size(height, kh, sh, ph, dh)
    out_w = conv_output_size(width, kw, sw, pw, dw)
    params = conv_params(channels, out_channels, (kh, kw), groups, bias)
    macs = conv_macs(channels, out_channels, (kh, kw), (out_h, out_w), groups)
    detail = f'{kh}x{kw} s{sh} p{ph}' + (f' g{groups}' if groups != 1 else '')
    return LayerRow(name, 'conv2d', (out_channels, out_h, out_w), params, macs, detail)


def linear_row(name: str, in_features: int, out_features: int, bias: bool = True) -> LayerRow:
    """Describe a fully connected layer: params ``in * out (+ out)``, MACs ``in * out``."""
    params = in_features * out_features + (out_features if bias else 0)
    return LayerRow(name, 'linear', (out_features,), params, in_features * out_features,
                    f'{in_features}->{out_features}')


def lstm_row(name: str, input_size: int, hidden_size: int, num_layers: int = 1,
             steps: int = 1) -> LayerRow:
    """Describe a (stacked) LSTM run for ``steps`` time steps (one per frame in our tables).

    params (PyTorch/ONNX convention, two bias vectors) = sum over layers of
    ``4 * H * (I_l + H) + 8 * H`` with ``I_0 = input_size`` and ``I_l = H`` above;
    MACs = ``steps *`` sum over layers of ``4 * H * (I_l + H)``.
    """
    params = macs = 0
    for layer in range(num_layers):
        inputs = input_size if layer == 0 else hidden_size
        layer_params, layer_macs = recurrent_counts(inputs, hidden_size, 4, steps)
        params += layer_params
        macs += layer_macs
    detail = f'{input_size}->{hidden_size} x{num_layers} layer(s)'
    return LayerRow(name, 'lstm', (hidden_size,), params, macs, detail)


def batchnorm_row(name: str, shape: Sequence[int]) -> LayerRow:
    """Describe batch normalisation over the channels of a ``(C, ...)`` output.

    params = ``2 * C`` (scale and shift; the running statistics are buffers, not learned);
    no MACs: at inference it folds into the preceding convolution.
    """
    shape = tuple(int(v) for v in shape)
    return LayerRow(name, 'batchnorm', shape, 2 * shape[0], 0, 'folded at inference')


def shape_row(name: str, kind: str, output_shape: Sequence[int], detail: str = '') -> LayerRow:
    """Describe a layer without parameters or counted MACs (activation, flatten)."""
    return LayerRow(name, kind, tuple(int(v) for v in output_shape), 0, 0, detail)


@dataclass(frozen=True)
class TableTotals:
    """Sums over a layer table (the input row excluded from the output volume)."""

    params: int
    macs: int
    activations: int


def table_totals(rows: Iterable[LayerRow]) -> TableTotals:
    """Return total parameters, MACs and output values of the layers (input excluded)."""
    rows = list(rows)
    return TableTotals(sum(r.params for r in rows), sum(r.macs for r in rows),
                       sum(r.output_volume for r in rows if r.kind != 'input'))


def _shape_text(shape: Sequence[int]) -> str:
    return 'x'.join(str(v) for v in shape)


def format_layer_table(rows: Sequence[LayerRow], title: str = '') -> str:
    """Return the table as aligned text with a totals line."""
    header = ('layer', 'kind', 'detail', 'output (CxHxW)', 'volume', 'params', 'MACs')
    lines = [header] + [(r.name, r.kind, r.detail, _shape_text(r.output_shape),
                         f'{r.output_volume:,}', f'{r.params:,}', f'{r.macs:,}') for r in rows]
    totals = table_totals(rows)
    lines.append(('total', '', '', '', f'{totals.activations:,}', f'{totals.params:,}',
                  f'{totals.macs:,}'))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {4, 5, 6}

    def render(line: Sequence[str]) -> str:
        cells = [cell.rjust(w) if i in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(line, widths))]
        return '  '.join(cells).rstrip()

    rule = '-' * len(render(header))
    out = ([title] if title else []) + [render(header), rule]
    out += [render(line) for line in lines[1:-1]] + [rule, render(lines[-1])]
    return '\n'.join(out)
