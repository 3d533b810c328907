"""TemporalController on generated ONNX models: O(1) steps equal full recomputes, safety."""

import math

from control_fixtures import EPOCH_NS, make_onnx_controller, synthetic_drive_frames
import numpy as np
import pytest

from av_perception.control.config import TemporalControllerConfig
from av_perception.control.controller import TemporalController
from av_perception.control.errors import ControllerError
from av_perception.control.history import StaggeredLstmState
from av_perception.control.model import ControllerModel
from av_perception.control.preprocess import preprocess_frame
from av_perception.params import ConfigError

PERIOD = 50_000_000


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    return make_onnx_controller(tmp_path_factory.mktemp('ctl') / 'lstm', history_length=4)


@pytest.fixture(scope='module')
def frames():
    return synthetic_drive_frames(40, seed=3)[0]


def full_recompute(model, frames, first, last):
    """CNN over frames[first..last] as one batch, LSTM from zero over the whole sequence."""
    inputs = np.concatenate([preprocess_frame(f, model.metadata.input)
                             for f in frames[first:last + 1]])
    features = model.encode(inputs)
    h, c = model.zero_state(1)
    command, _, _ = model.run_temporal(features[None], h, c)
    return command[0, -1]


def test_incremental_steps_equal_a_full_sequence_recompute(model_dir, frames):
    controller = TemporalController.from_dir(model_dir)
    history = controller.history_length
    oracle = StaggeredLstmState(history, 1, 1)
    for index, frame in enumerate(frames):
        result = controller.step(frame, EPOCH_NS + index * PERIOD)
        window = oracle.window(index)
        assert result.context_frames == window
        expected = full_recompute(controller.model, frames, index - window + 1, index)
        assert abs(result.raw_steering_rad - expected[0]) <= 1e-5
        assert abs(result.raw_speed_mps - expected[1]) <= 1e-5
        assert result.status == 'ok' and not result.is_stop and result.latency_ms > 0


def test_history_length_override_and_window_bounds(model_dir, frames):
    config = TemporalControllerConfig(history_length=2, steering_rate_limit_rad_s=0.0)
    controller = TemporalController.from_dir(model_dir, config)
    windows = [controller.step(f, EPOCH_NS + i * PERIOD).context_frames
               for i, f in enumerate(frames[:12])]
    assert windows == [1, 2, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4]


def test_time_jump_back_resets_to_the_output_of_a_fresh_controller(model_dir, frames):
    looping = TemporalController.from_dir(model_dir)
    for index, frame in enumerate(frames[:10]):
        looping.step(frame, EPOCH_NS + index * PERIOD)
    fresh = TemporalController.from_dir(model_dir)
    for index, frame in enumerate(frames[10:16]):
        stamp = EPOCH_NS + index * PERIOD  # the bag loops: time starts again
        looped, expected = looping.step(frame, stamp), fresh.step(frame, stamp)
        if index == 0:
            assert 'jumped back' in looped.history_reset
        assert looped.raw_steering_rad == pytest.approx(expected.raw_steering_rad, abs=1e-6)


def test_forward_gap_resets_and_rate_limit_applies_across_it(model_dir, frames):
    config = TemporalControllerConfig(max_frame_gap_s=0.5, steering_rate_limit_rad_s=0.1)
    controller = TemporalController.from_dir(model_dir, config)
    first = controller.step(frames[0], EPOCH_NS)
    second = controller.step(frames[1], EPOCH_NS + PERIOD)
    assert abs(second.command.steering_angle - first.command.steering_angle) <= 0.1 * 0.05 + 1e-9
    later = controller.step(frames[2], EPOCH_NS + PERIOD + 2_000_000_000)
    assert 'gap of 2.000 s' in later.history_reset and later.context_frames == 1


def test_timeout_stops_then_frames_resume_with_a_fresh_history(model_dir, frames):
    controller = TemporalController.from_dir(model_dir,
                                             TemporalControllerConfig(frame_timeout_s=0.3))
    for index, frame in enumerate(frames[:6]):
        last = controller.step(frame, EPOCH_NS + index * PERIOD)
    now = EPOCH_NS + 5 * PERIOD
    assert controller.check_timeout(now + 200_000_000) is None
    stop = controller.check_timeout(now + 400_000_000)
    assert stop.is_stop and stop.status == 'timeout' and stop.command.speed == 0.0
    assert stop.command.steering_angle == pytest.approx(last.command.steering_angle)
    assert 'no frame for 0.400 s' in stop.message and math.isnan(stop.raw_steering_rad)
    assert controller.check_timeout(now + 450_000_000).is_stop  # keeps stopping
    resumed = controller.step(frames[6], now + 10 * PERIOD)
    assert resumed.history_reset == 'frames resumed after a timeout'
    assert resumed.context_frames == 1 and resumed.status == 'ok'
    assert controller.check_timeout(now + 10 * PERIOD + 100_000_000) is None


def test_nan_from_the_model_gives_a_stop_and_an_error(model_dir, frames, monkeypatch):
    controller = TemporalController.from_dir(model_dir)
    controller.step(frames[0], EPOCH_NS)
    real = controller.model.run_temporal

    def poisoned(features, h, c):
        command, h_out, c_out = real(features, h, c)
        return command * np.nan, h_out * np.nan, c_out

    monkeypatch.setattr(controller.model, 'run_temporal', poisoned)
    result = controller.step(frames[1], EPOCH_NS + PERIOD)
    assert result.status == 'invalid_output' and result.is_stop
    assert result.command.speed == 0.0 and 'not finite' in result.message
    monkeypatch.setattr(controller.model, 'run_temporal', real)
    after = controller.step(frames[2], EPOCH_NS + 2 * PERIOD)
    assert after.status == 'ok' and after.context_frames == 1  # the NaN state was dropped
    assert math.isfinite(after.command.steering_angle)


def test_limits_clip_the_model_output(model_dir, frames):
    config = TemporalControllerConfig(steering_limit_rad=0.001, max_speed_mps=1.0,
                                      steering_rate_limit_rad_s=0.0)
    result = TemporalController.from_dir(model_dir, config).step(frames[0], EPOCH_NS)
    assert abs(result.command.steering_angle) <= 0.001 and result.command.speed == 1.0
    assert result.clipped and result.raw_speed_mps > 1.0


def test_single_frame_ablation_model_runs_the_same_way(tmp_path, frames):
    directory = make_onnx_controller(tmp_path / 'none', temporal_type='none')
    controller = TemporalController.from_dir(directory)
    model = controller.model
    for index, frame in enumerate(frames[:6]):
        result = controller.step(frame, EPOCH_NS + index * PERIOD)
        alone = full_recompute(model, frames, index, index)
        assert result.raw_steering_rad == pytest.approx(alone[0], abs=1e-5)


def test_bad_inputs_and_configs(model_dir, tmp_path):
    controller = TemporalController.from_dir(model_dir)
    with pytest.raises(ControllerError, match='uint8'):
        controller.step(np.zeros((10, 10, 3), np.float32), 0)
    assert controller.frames_since_reset == 0  # a rejected frame changes nothing
    with pytest.raises(ControllerError, match='controller.yaml'):
        ControllerModel(tmp_path / 'missing')
    with pytest.raises(ConfigError, match='min_speed_mps'):
        TemporalControllerConfig(min_speed_mps=5.0, max_speed_mps=1.0)
    with pytest.raises(ConfigError, match='providers'):
        TemporalControllerConfig(providers=('CUDA',))
    (tmp_path / 'broken').mkdir()
    (tmp_path / 'broken' / 'controller.yaml').write_text('format: something_else\n')
    with pytest.raises(ControllerError, match='format'):
        ControllerModel(tmp_path / 'broken')


def test_model_dir_resolution(monkeypatch, tmp_path):
    from av_perception.control.config import MODEL_DIR_ENV, resolve_model_dir

    assert resolve_model_dir(str(tmp_path)) == tmp_path
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / 'env'))
    assert resolve_model_dir('') == tmp_path / 'env'
    monkeypatch.delenv(MODEL_DIR_ENV)
    assert resolve_model_dir('').parts[-2:] == ('models', 'controller')
