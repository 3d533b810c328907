"""``av-perception model info``: layer tables of ONNX graphs checked on models with known numbers.

VGG-16 and LeNet-5 are built here (VGG-16's 138 M weights as external-data stubs that are never
written: the table needs only the graph); YOLOX-Nano and the shipped controller are checked
against their published / sidecar figures.
"""

import json
import math

import onnx
from onnx import helper, TensorProto
import pytest

from av_perception.assets import yolox_nano_model
from av_perception.cli.main import main
from av_perception.control.metadata import read_metadata
from av_perception.deploy.onnx_table import (format_table, layer_table, ModelInfoError,
                                             op_summary)

CONTROLLER_DIR = __import__('pathlib').Path(__file__).resolve().parents[2] / 'models' / \
    'controller'

# VGG-16 (configuration D): channels per block, three fully connected layers.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
VGG16_FC = (4096, 4096, 1000)


def weight_stub(name, dims):
    """Return a float tensor whose data lives in an external file that does not exist."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(dims))
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key='location', value='weights_never_written.bin')
    return tensor


def make_model(nodes, inputs, outputs, initializers, opset=17):
    graph = helper.make_graph(nodes, 'test', inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)])
    model.ir_version = 8
    return model


def vgg16():
    """VGG-16 for a 224x224x3 image: conv3x3/1/1 + ReLU blocks, 2x2 max pools, FC + ReLU."""
    nodes, weights, previous, channels = [], [], 'image', 3
    for block, widths in enumerate(VGG16_BLOCKS, 1):
        for index, width in enumerate(widths, 1):
            name = f'conv{block}_{index}'
            weights += [weight_stub(f'{name}.w', (width, channels, 3, 3)),
                        weight_stub(f'{name}.b', (width,))]
            nodes += [helper.make_node('Conv', [previous, f'{name}.w', f'{name}.b'], [name],
                                       name=name, kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                      helper.make_node('Relu', [name], [f'{name}.relu'], name=f'{name}.relu')]
            previous, channels = f'{name}.relu', width
        nodes.append(helper.make_node('MaxPool', [previous], [f'pool{block}'], name=f'pool{block}',
                                      kernel_shape=[2, 2], strides=[2, 2]))
        previous = f'pool{block}'
    nodes.append(helper.make_node('Flatten', [previous], ['flat'], name='flatten'))
    previous, features = 'flat', 7 * 7 * 512
    for index, width in enumerate(VGG16_FC, 6):
        name = f'fc{index}'
        weights += [weight_stub(f'{name}.w', (width, features)),
                    weight_stub(f'{name}.b', (width,))]
        nodes.append(helper.make_node('Gemm', [previous, f'{name}.w', f'{name}.b'], [name],
                                      name=name, transB=1))
        previous, features = name, width
        if index < 8:
            nodes.append(helper.make_node('Relu', [name], [f'{name}.relu'], name=f'{name}.relu'))
            previous = f'{name}.relu'
    return make_model(nodes, [helper.make_tensor_value_info('image', TensorProto.FLOAT,
                                                            ['batch', 3, 224, 224])],
                      [helper.make_tensor_value_info(previous, TensorProto.FLOAT, None)],
                      weights)


def cs231n_vgg16_rows():
    """Return the 'memory' column of the cs231n VGG-16 table (input, conv, pool, FC outputs)."""
    rows, size = [224 * 224 * 3], 224
    for widths in VGG16_BLOCKS:
        rows += [size * size * width for width in widths]
        size //= 2
        rows.append(size * size * widths[-1])
    return rows + list(VGG16_FC)


def test_vgg16_parameters_macs_and_activation_memory():
    table = layer_table(vgg16(), name='vgg16')
    assert table.inputs == {'image': (1, 3, 224, 224)}
    assert table.param_count == 138_357_544  # the published 138.4 M
    assert table.param_bytes == 4 * 138_357_544
    assert table.macs == 15_470_264_320  # the published ~15.5 G multiply-accumulates
    conv1_2 = next(layer for layer in table.layers if layer.name == 'conv1_2')
    assert conv1_2.output_shapes == ((1, 64, 224, 224),)
    assert conv1_2.params == 36_928 and conv1_2.macs == 1_849_688_064
    assert next(layer for layer in table.layers if layer.name == 'fc6').params == 102_764_544
    # cs231n counts the input and the output of every conv/pool/FC layer (ReLU in place):
    # its rows add up to 15,237,608 values = 61 MB at 4 bytes. Its printed total, "24M * 4
    # bytes ~= 93MB", does not follow from those rows.
    rows = cs231n_vgg16_rows()
    assert table.activation_values_layers == sum(rows) == 15_237_608
    assert table.activation_bytes_layers == 4 * sum(rows)
    # every tensor of the ONNX graph: conv and FC outputs again as separate ReLU outputs, plus
    # the flatten view; the input is not produced by a node
    conv_and_fc_relu = sum(rows[1:]) - sum(rows[i] for i in (3, 6, 10, 14, 18)) - 1000
    assert table.activation_bytes_all == 4 * (sum(rows[1:]) + conv_and_fc_relu + 7 * 7 * 512)
    # the largest moment: conv1_1's ReLU input and output, then conv1_2 and its ReLU
    assert table.peak_live_bytes == 4 * 2 * 224 * 224 * 64
    # weights were never read: the stubs point at a file that does not exist
    assert not table.unknown_shapes and not table.uncounted_ops


def test_vgg16_batch_scales_macs_and_memory_not_parameters():
    one, four = layer_table(vgg16()), layer_table(vgg16(), dims={'batch': 4})
    assert four.param_count == one.param_count
    assert four.macs == 4 * one.macs
    assert four.activation_bytes_layers == 4 * one.activation_bytes_layers


def test_lenet5_exported_by_pytorch(tmp_path):
    torch = pytest.importorskip('torch')
    nn = torch.nn

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
                                          nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2))
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.Tanh(),
                                            nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))

        def forward(self, x):
            return self.classifier(self.features(x))

    path = tmp_path / 'lenet5.onnx'
    torch.onnx.export(LeNet5().eval(), (torch.zeros(1, 1, 32, 32),), str(path),
                      input_names=['image'], output_names=['logits'])
    table = layer_table(path)
    assert table.param_count == 61_706  # LeCun et al. 1998, C3 fully connected
    assert table.macs == 117_600 + 240_000 + 48_000 + 10_080 + 840
    assert sum(1 for layer in table.layers if layer.op_type == 'Conv') == 2
    assert sum(1 for layer in table.layers if layer.op_type == 'Gemm') == 3
    assert table.layers[-1].output_shapes == ((1, 10),)


def test_grouped_depthwise_transposed_and_recurrent_layers():
    f = TensorProto.FLOAT
    weights = [weight_stub('dw', (8, 1, 3, 3)), weight_stub('gw', (16, 4, 1, 1)),
               weight_stub('tw', (16, 4, 2, 2)), weight_stub('bn.scale', (4,)),
               weight_stub('bn.bias', (4,)), weight_stub('bn.mean', (4,)),
               weight_stub('bn.var', (4,)), weight_stub('gru.w', (2, 30, 16)),
               weight_stub('gru.r', (2, 30, 10)), weight_stub('gru.b', (2, 60))]
    shape = helper.make_tensor('seq_shape', TensorProto.INT64, [3], [5, 4, 16])
    nodes = [
        helper.make_node('Conv', ['x', 'dw'], ['a'], name='depthwise', group=8,
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node('Conv', ['a', 'gw'], ['b'], name='grouped', group=2),
        helper.make_node('ConvTranspose', ['b', 'tw'], ['c'], name='up', group=1,
                         strides=[2, 2], kernel_shape=[2, 2]),
        helper.make_node('BatchNormalization', ['c', 'bn.scale', 'bn.bias', 'bn.mean',
                                                'bn.var'], ['d'], name='bn'),
        helper.make_node('MaxPool', ['d'], ['e'], name='pool', kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node('Reshape', ['e', 'seq_shape'], ['seq'], name='to_sequence'),
        helper.make_node('GRU', ['seq', 'gru.w', 'gru.r', 'gru.b'], ['y', 'y_h'], name='gru',
                         hidden_size=10, direction='bidirectional'),
    ]
    model = make_model(nodes, [helper.make_tensor_value_info('x', f, [1, 8, 10, 10])],
                       [helper.make_tensor_value_info('y', f, None)], weights + [shape])
    layers = {layer.name: layer for layer in layer_table(model).layers}
    depthwise = layers['depthwise']
    assert depthwise.output_shapes == ((1, 8, 10, 10),) and depthwise.params == 72
    assert depthwise.macs == 10 * 10 * 8 * 9 and 'depthwise' in depthwise.detail
    assert layers['grouped'].params == 16 * 4 and layers['grouped'].macs == 10 * 10 * 16 * 4
    assert layers['up'].output_shapes == ((1, 4, 20, 20),)
    assert layers['up'].macs == 16 * 10 * 10 * 4 * 4  # each input value through a 2x2 kernel
    assert layers['bn'].params == 8  # scale and shift; running statistics are buffers
    assert layers['pool'].macs == 0 and layers['pool'].params == 0
    assert not layers['to_sequence'].materialised and layers['to_sequence'].params == 0
    gru = layers['gru']
    assert gru.output_shapes == ((5, 2, 4, 10), (2, 4, 10))
    assert gru.params == 2 * (3 * 10 * (16 + 10) + 6 * 10)
    assert gru.macs == 2 * 5 * 4 * 3 * 10 * (16 + 10)
    assert gru.output_bytes == 4 * (5 * 2 * 4 * 10 + 2 * 4 * 10)


def test_float16_outputs_take_two_bytes_and_unknown_ops_are_listed():
    nodes = [helper.make_node('Cast', ['x'], ['h'], to=TensorProto.FLOAT16, name='half'),
             helper.make_node('Einsum', ['h', 'h'], ['y'], equation='ij,jk->ik', name='mm')]
    model = make_model(nodes, [helper.make_tensor_value_info('x', TensorProto.FLOAT, [4, 4])],
                       [helper.make_tensor_value_info('y', TensorProto.FLOAT16, None)], [])
    table = layer_table(model)
    assert table.layers[0].output_bytes == 16 * 2
    assert table.input_bytes == 16 * 4
    assert table.uncounted_ops == {'Einsum': 1}
    assert 'MACs NOT counted for' in format_table(table)


def test_shapes_are_fixed_as_asked_and_bad_requests_are_errors():
    table = layer_table(vgg16(), shapes={'image': (2, 3, 32, 32)})
    assert table.inputs == {'image': (2, 3, 32, 32)}
    assert next(layer for layer in table.layers if layer.name == 'pool5').output_shapes == \
        ((2, 512, 1, 1),)
    with pytest.raises(ModelInfoError, match="'nope'"):
        layer_table(vgg16(), shapes={'nope': (1,)})
    with pytest.raises(ModelInfoError, match='4 dimensions'):
        layer_table(vgg16(), shapes={'image': (1, 3)})


def test_missing_and_broken_files_are_errors(tmp_path):
    with pytest.raises(ModelInfoError, match='not found'):
        layer_table(tmp_path / 'absent.onnx')
    broken = tmp_path / 'broken.onnx'
    broken.write_bytes(b'\x00not a protobuf')
    with pytest.raises(ModelInfoError, match='broken.onnx'):
        layer_table(broken)


def test_shipped_controller_matches_its_sidecar_layer_table():
    meta = read_metadata(CONTROLLER_DIR)
    rows = {row.name: row for row in meta.layers}
    encoder = layer_table(CONTROLLER_DIR / meta.encoder_file)
    sidecar_encoder = [r for name, r in rows.items() if name.startswith('encoder.')]
    # the same arithmetic from PyTorch hooks (sidecar) and from the ONNX graph
    assert encoder.macs == sum(r.macs for r in sidecar_encoder)
    # the exporter folds batch norm (2C: scale, shift) into the convolution's bias (C)
    batchnorm = sum(r.params for r in sidecar_encoder if r.kind == 'batchnorm')
    assert encoder.param_count == sum(r.params for r in sidecar_encoder) - batchnorm // 2
    # the temporal graph at the node's shapes: two history lanes, one step
    temporal = layer_table(CONTROLLER_DIR / meta.temporal_file, dims={'batch': 2, 'time': 1})
    lstm = next(layer for layer in temporal.layers if layer.op_type == 'LSTM')
    assert lstm.params == rows['temporal.lstm'].params
    assert lstm.macs == 2 * rows['temporal.lstm'].macs
    assert temporal.macs == 2 * (rows['temporal.lstm'].macs + rows['temporal.head'].macs)
    # the exporter's Shape -> Slice -> Reshape is resolved by one ONNX Runtime run
    assert temporal.unknown_shapes == ()
    assert temporal.folded_nodes > 0  # the LSTM's gate reordering (Slice/Concat of weights)


def test_real_yolox_nano_matches_the_published_size():
    path = yolox_nano_model()
    if not path.is_file():
        pytest.skip(f'YOLOX-Nano not found at {path} (shared assets absent)')
    table = layer_table(path)
    assert table.inputs == {'images': (1, 3, 416, 416)}
    # published: 0.91 M parameters, 1.08 GFLOPs at 416 (YOLOX README; thop MACs x 2, which
    # also counts the batch norms that this exported graph has folded)
    assert 0.90e6 <= table.param_count <= 0.92e6
    assert math.isclose(table.flops, 1.08e9, rel_tol=0.05)
    assert op_summary(table)[0][0] == 'Conv'
    assert table.unknown_shapes == ()


def test_cli_info_text_json_and_controller_directory(capsys, tmp_path):
    path = tmp_path / 'vgg16.onnx'
    path.write_bytes(vgg16().SerializeToString())
    assert main(['model', 'info', str(path), '--device', 'orin-nano', '--summary']) == 0
    text = capsys.readouterr().out
    assert '138,357,544' in text and '15,470,264,320' in text
    assert 'ESTIMATE' in text and 'not a measurement' in text and 'orin-nano' in text
    assert main(['model', 'info', str(CONTROLLER_DIR), '--device', 'orin-agx', '--json']) == 0
    report = json.loads(capsys.readouterr().out)
    graphs = report[0]['graphs']
    assert [g['inputs'] for g in graphs] == [
        {'frames': [1, 3, 64, 160]}, {'features': [2, 1, 64], 'h': [1, 2, 64], 'c': [1, 2, 64]}]
    estimate = report[0]['estimates'][0]
    assert estimate['device'] == 'orin-agx' and 'not a measurement' in estimate['kind']
    flops = sum(g['totals']['flops'] for g in graphs)
    assert estimate['flops'] == flops
    assert main(['model', 'info', str(tmp_path / 'absent.onnx')]) == 1


def test_a_saved_model_with_real_weights_is_read_without_running(tmp_path):
    weights = [helper.make_tensor('w', TensorProto.FLOAT, [2, 3], [0.5] * 6)]
    model = make_model([helper.make_node('MatMul', ['x', 'w'], ['y'], name='mm')],
                       [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['n', 4, 2])],
                       [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)], weights)
    path = tmp_path / 'mm.onnx'
    onnx.save(model, str(path))
    table = layer_table(path, dims={'n': 3})
    assert table.param_count == 6
    assert table.macs == 3 * 4 * 3 * 2  # 36 outputs, each a dot product of length 2
