"""train-controller end to end on generated bags: outputs, determinism, augmentation."""

import json

from control_fixtures import EPOCH_NS, synthetic_drive_frames, write_drive_bag
import numpy as np
import pytest

torch = pytest.importorskip('torch', reason='training tests need PyTorch '
                            '(pip install -r requirements/train.txt)')

from av_perception.cli.main import main  # noqa: E402
from av_perception.control.controller import TemporalController  # noqa: E402
from av_perception.control.dataset import LabelledDrive  # noqa: E402
from av_perception.control.errors import ControllerError  # noqa: E402
from av_perception.control.metadata import read_metadata  # noqa: E402
from av_perception.control.preprocess import crop_and_resize  # noqa: E402
from av_perception.training.augment import augment_window, shift_correction  # noqa: E402
from av_perception.training.config import TrainConfig  # noqa: E402
from av_perception.training.trainer import (fit_network, input_spec, split_by_time,  # noqa: E402
                                            window_starts)

TINY = {'input_width': 32, 'input_height': 16, 'crop': (0.0, 0.25, 1.0, 1.0),
        'conv_channels': (4, 4, 6, 6, 8), 'feature_size': 8, 'hidden_size': 8,
        'history_length': 3, 'batch_windows': 8, 'shift_px': 2, 'threads': 1, 'epochs': 2}


def drives(count=2, frames=90):
    config = TrainConfig(**TINY)
    spec = input_spec(config)
    out = []
    for seed in range(count):
        images, steering, speed = synthetic_drive_frames(frames, seed=seed)
        pixels = np.stack([crop_and_resize(image, spec, config.shift_px) for image in images])
        out.append(LabelledDrive(f'd{seed}', EPOCH_NS + np.arange(frames) * 50_000_000,
                                 pixels, steering, speed, config.shift_px))
    return out


def test_split_and_windows():
    train, val = split_by_time(drives(1, 100), 0.2)
    assert len(train[0]) == 80 and len(val[0]) == 20
    starts = window_starts(train, 6, 3)
    assert starts[0] == (0, 0) and starts[-1] == (0, 74) and len(starts) == 26


def test_fit_is_deterministic_for_a_seed_and_differs_across_seeds():
    data = drives()
    config = TrainConfig(**TINY)
    first = fit_network(data, config, seed=7, progress=False)
    second = fit_network(data, config, seed=7, progress=False)
    other = fit_network(data, config, seed=8, progress=False)
    for a, b in zip(first.net.state_dict().values(), second.net.state_dict().values()):
        assert torch.equal(a, b)
    assert first.records == second.records
    assert any(not torch.equal(a, b) for a, b in zip(first.net.state_dict().values(),
                                                     other.net.state_dict().values()))


def test_fit_learns_the_synthetic_task():
    config = TrainConfig(**{**TINY, 'epochs': 6, 'augment': False, 'learning_rate': 5e-3})
    fitted = fit_network(drives(3, 120), config, seed=0, progress=False)
    assert fitted.records[-1].train_loss < 0.6 * fitted.records[0].train_loss


def test_augmentation_shift_corrects_steering_and_keeps_range():
    config = TrainConfig(**{**TINY, 'shift_px': 2, 'shift_steering_per_px': 0.01,
                            'shadow_probability': 1.0})
    drive = drives(1, 10)[0]
    rng = np.random.default_rng(0)
    shifts = set()
    for _ in range(20):
        window, steering = augment_window(drive.pixels, drive.steering, 2, 32, config, rng)
        assert window.shape == (10, 16, 32, 3) and window.dtype == np.float32
        assert window.min() >= 0 and window.max() <= 255
        shift = (steering - drive.steering) / 0.01
        assert np.allclose(shift, np.round(shift[0]), atol=1e-3)
        shifts.add(int(round(shift[0])))
    assert shifts <= {-2, -1, 0, 1, 2} and len(shifts) > 1
    plain, same = augment_window(drive.pixels, drive.steering, 2, 32,
                                 TrainConfig(**{**TINY, 'augment': False}), rng)
    assert np.array_equal(plain, drive.pixels[:, :, 2:34]) and same is drive.steering


def test_shift_correction_scales_inversely_with_speed():
    config = TrainConfig(**{**TINY, 'shift_steering_per_px': 0.002,
                            'shift_reference_speed_mps': 20.0})
    speed = np.array([20.0, 40.0, 10.0, 2.0, np.nan], np.float32)
    assert np.allclose(shift_correction(3, speed, config),
                       [0.006, 0.003, 0.012, 0.006 * 20 / 6.7, 0.006], rtol=1e-5)
    flat = TrainConfig(**{**TINY, 'shift_steering_per_px': 0.002,
                          'shift_reference_speed_mps': 0.0})
    assert np.allclose(shift_correction(-2, speed, flat), -0.004)


def test_too_short_drives_are_an_error():
    with pytest.raises(ControllerError, match='training window'):
        fit_network(drives(1, 5), TrainConfig(**TINY), progress=False)


def test_train_controller_command_writes_a_working_model(tmp_path, capsys):
    bags = []
    for seed in range(2):
        images, steering, speed = synthetic_drive_frames(60, seed=seed, size=(64, 40))
        bags.append(str(write_drive_bag(tmp_path / f'bag{seed}', images, steering, speed)))
    out = tmp_path / 'model'
    assert main(['train-controller', *bags, '--out', str(out), '--epochs', '1',
                 '--history', '3', '--input-size', '32x16', '--crop', '0,0.25,1,1',
                 '--threads', '1', '--seed', '3', '--no-progress']) == 0
    assert 'open loop on' in capsys.readouterr().out
    for name in ('encoder.onnx', 'temporal.onnx', 'controller.yaml', 'training_curve.png'):
        assert (out / name).stat().st_size > 0
    meta = read_metadata(out)
    assert meta.history_length == 3 and meta.input.width == 32
    assert meta.training['seed'] == 3 and meta.training['frames_val'] == 18
    assert meta.validation['frames'] == 18 and meta.validation['steering_rmse_ratio'] > 0
    assert sum(r.params for r in meta.layers) > 0
    controller = TemporalController.from_dir(out)
    images = synthetic_drive_frames(4, size=(64, 40))[0]
    results = [controller.step(image, index * 50_000_000) for index, image in enumerate(images)]
    assert all(r.status == 'ok' for r in results)
    eval_json = tmp_path / 'eval.json'
    assert main(['eval-controller', bags[0], '--controller', str(out), '--json',
                 str(eval_json)]) == 0
    assert json.loads(eval_json.read_text())['frames'] == 60
