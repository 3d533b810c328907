"""Layer-table arithmetic on layers whose numbers are known (LeNet-5, VGG-16, LSTM)."""

import pytest

from av_perception.control.errors import ControllerError
from av_perception.control.layer_table import (batchnorm_row, conv2d_row, format_layer_table,
                                               input_row, LayerRow, linear_row, lstm_row,
                                               shape_row, table_totals)


def test_conv_3x3_same_padding_on_32x32x3():
    row = conv2d_row('conv', (3, 32, 32), 16, 3, 1, 1)
    assert row.output_shape == (16, 32, 32)
    assert row.params == 3 * 3 * 3 * 16 + 16 == 448
    assert row.macs == 32 * 32 * 16 * 27 == 442_368
    assert row.output_volume == 16_384


def test_strided_and_grouped_convolutions():
    row = conv2d_row('c', (12, 64, 160), 24, 5, 2, 2)
    assert row.output_shape == (24, 32, 80)
    assert row.params == 5 * 5 * 12 * 24 + 24
    depthwise = conv2d_row('dw', (8, 10, 10), 8, 3, 1, 1, groups=8, bias=False)
    assert depthwise.params == 72 and depthwise.macs == 10 * 10 * 8 * 9
    assert conv2d_row('k', (1, 7, 9), 1, (3, 5)).output_shape == (1, 5, 5)


def test_lenet5_totals():
    # LeCun et al. 1998 with a fully connected C3: the classic 61,706 parameters
    rows = [input_row((1, 32, 32)),
            conv2d_row('c1', (1, 32, 32), 6, 5),
            shape_row('s2', 'pool', (6, 14, 14)),
            conv2d_row('c3', (6, 14, 14), 16, 5),
            shape_row('s4', 'pool', (16, 5, 5)),
            linear_row('c5', 400, 120), linear_row('f6', 120, 84), linear_row('out', 84, 10)]
    assert rows[1].params == 156 and rows[1].macs == 117_600
    assert rows[3].params == 2_416 and rows[3].macs == 240_000
    totals = table_totals(rows)
    assert totals.params == 61_706
    assert totals.macs == 117_600 + 240_000 + 48_000 + 10_080 + 840


def test_vgg16_first_block():
    conv1 = conv2d_row('conv1_1', (3, 224, 224), 64, 3, 1, 1)
    conv2 = conv2d_row('conv1_2', (64, 224, 224), 64, 3, 1, 1)
    assert conv1.params == 1_792 and conv2.params == 36_928
    assert conv1.macs == 86_704_128 and conv2.macs == 1_849_688_064
    assert linear_row('fc6', 7 * 7 * 512, 4096).params == 102_764_544


def test_lstm_uses_the_two_bias_vector_convention():
    row = lstm_row('lstm', 64, 64)
    assert row.params == 4 * 64 * (64 + 64) + 8 * 64 == 33_280
    assert row.macs == 4 * 64 * 128
    stacked = lstm_row('lstm', 10, 20, num_layers=2, steps=3)
    assert stacked.params == (4 * 20 * 30 + 160) + (4 * 20 * 40 + 160)
    assert stacked.macs == 3 * (4 * 20 * 30 + 4 * 20 * 40)


def test_batchnorm_counts_scale_and_shift_only():
    row = batchnorm_row('bn', (16, 8, 8))
    assert row.params == 32 and row.macs == 0 and row.output_shape == (16, 8, 8)


def test_empty_convolution_output_is_an_error():
    with pytest.raises(ControllerError, match='empty'):
        conv2d_row('c', (3, 4, 4), 8, 5)


def test_formatted_table_has_rows_and_totals():
    rows = [input_row((3, 32, 32)), conv2d_row('conv', (3, 32, 32), 16, 3, 1, 1),
            shape_row('relu', 'relu', (16, 32, 32)), linear_row('fc', 16 * 32 * 32, 2)]
    text = format_layer_table(rows, 'title')
    lines = text.splitlines()
    assert lines[0] == 'title'
    assert '16x32x32' in text and '442,368' in text
    assert lines[-1].split()[0] == 'total'
    assert lines[-1].split()[-2:] == [f'{448 + 32_770:,}', f'{442_368 + 32_768:,}']


def test_row_dict_round_trip_and_bad_rows():
    row = conv2d_row('conv', (3, 32, 32), 16, 3, 1, 1)
    assert LayerRow.from_dict(row.to_dict()) == row
    with pytest.raises(ControllerError, match='bad layer table row'):
        LayerRow.from_dict({'name': 'x'})
