"""The PyTorch network: layer table from hooks, ONNX export, incremental == full sequence."""

import numpy as np
import pytest

torch = pytest.importorskip('torch', reason='training tests need PyTorch '
                            '(pip install -r requirements/train.txt)')

from av_perception.control.history import StaggeredLstmState  # noqa: E402
from av_perception.control.layer_table import table_totals  # noqa: E402
from av_perception.control.model import ControllerModel  # noqa: E402
from av_perception.training.config import TrainConfig  # noqa: E402
from av_perception.training.export import export_onnx  # noqa: E402
from av_perception.training.layers import layer_rows  # noqa: E402
from av_perception.training.model import ControllerNet  # noqa: E402
from av_perception.training.trainer import staggered_outputs  # noqa: E402

TINY = {'input_width': 32, 'input_height': 16, 'conv_channels': (4, 4, 6, 6, 8),
        'feature_size': 8, 'hidden_size': 6, 'history_length': 3, 'threads': 1}


def test_default_network_layer_table():
    rows = layer_rows(ControllerNet(TrainConfig()))
    by_name = {row.name: row for row in rows}
    first = by_name['encoder.convs.0']
    assert first.output_shape == (12, 32, 80)
    # no convolution bias: the batch normalisation that follows has the shift
    assert first.params == 5 * 5 * 3 * 12 and first.macs == 32 * 80 * 12 * 75
    assert by_name['encoder.convs.1'].kind == 'batchnorm'
    assert by_name['encoder.convs.1'].params == 2 * 12
    assert by_name['temporal.head'].params == 64 * 2 + 2
    skip = layer_rows(ControllerNet(TrainConfig(feature_skip=True)))
    # with the skip the head sees the LSTM output and the current frame feature
    assert skip[-1].name == 'temporal.head' and skip[-1].params == (64 + 64) * 2 + 2
    lstm = by_name['temporal.lstm']
    assert lstm.params == 4 * 64 * (64 + 64) + 8 * 64 and lstm.macs == 4 * 64 * 128
    assert by_name['encoder.flatten'].output_shape == (32 * 4 * 10,)
    assert table_totals(rows).params == sum(p.numel() for p in ControllerNet(
        TrainConfig()).parameters())


def test_two_layer_lstm_and_ablation_tables():
    deep = layer_rows(ControllerNet(TrainConfig(**{**TINY, 'lstm_layers': 2})))
    lstm = next(r for r in deep if r.kind == 'lstm')
    assert lstm.params == (4 * 6 * (8 + 6) + 48) + (4 * 6 * 12 + 48)
    flat = layer_rows(ControllerNet(TrainConfig(**{**TINY, 'temporal': 'none'})))
    assert not any(r.kind == 'lstm' for r in flat)
    assert [r.name for r in flat][-3:] == ['temporal.mlp', 'temporal.mlp_relu',
                                           'temporal.head']


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    torch.manual_seed(0)
    net = ControllerNet(TrainConfig(**TINY), (0.01, 10.0), (0.05, 2.0)).eval()
    directory = tmp_path_factory.mktemp('export')
    export_onnx(net, directory)
    from av_perception.control.layer_table import input_row
    from av_perception.control.metadata import ControllerMetadata, write_metadata
    from av_perception.training.trainer import input_spec
    write_metadata(directory, ControllerMetadata(
        input_spec(net.config), 8, 6, 1, 3, layers=(input_row((3, 16, 32)),)))
    return net, directory


def test_export_matches_torch_for_other_batch_and_sequence_lengths(exported):
    net, directory = exported
    model = ControllerModel(directory)
    frames = torch.randn(4, 3, 16, 32)
    features = torch.randn(2, 13, 8)
    h, c = net.temporal.zero_state(2)
    with torch.no_grad():
        expected_features = net.encoder(frames).numpy()
        expected, h_ref, c_ref = net.temporal(features, h, c)
    assert np.abs(model.encode(frames.numpy()) - expected_features).max() <= 1e-5
    command, h_out, c_out = model.run_temporal(features.numpy(), h.numpy(), c.numpy())
    assert command.shape == (2, 13, 2)
    assert np.abs(command - expected.numpy()).max() <= 1e-5
    assert np.abs(h_out - h_ref.numpy()).max() <= 1e-5


def test_one_onnx_step_per_frame_equals_the_full_torch_sequence(exported):
    net, directory = exported
    model = ControllerModel(directory)
    frames = torch.randn(1, 20, 3, 16, 32)
    with torch.no_grad():
        full = net.temporal(net.encoder(frames[0])[None], *net.temporal.zero_state(1))[0][0]
    h, c = model.zero_state(1)
    for index in range(20):
        feature = model.encode(frames[0, index:index + 1].numpy())
        command, h, c = model.run_temporal(feature[:, None], h, c)
        assert np.abs(command[0, 0] - full[index].numpy()).max() <= 1e-5


def test_batched_staggered_training_outputs_equal_the_inference_lanes(exported):
    net, directory = exported
    model = ControllerModel(directory)
    features = torch.randn(23, 8)
    with torch.no_grad():
        batched = staggered_outputs(net, features, 3)
        batched = batched * net.temporal.output_scale + net.temporal.output_mean
    state = StaggeredLstmState(3, 1, 6)
    for index in range(23):
        h, c = state.inputs()
        step = np.repeat(features[index].numpy()[None, None], 2, axis=0)
        command, h_out, c_out = model.run_temporal(step, h, c)
        lane, _ = state.advance(h_out, c_out)
        assert np.abs(command[lane, 0] - batched[index].numpy()).max() <= 1e-5
