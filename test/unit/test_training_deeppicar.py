"""The real DeepPiCar frames (GPL-3.0, evaluation only, read in place from the shared assets)."""

import math

import numpy as np
import pytest

from av_perception.assets import asset_path
from av_perception.control.dataset import read_csv_drive
from av_perception.control.preprocess import InputSpec

CSV = asset_path('steering', 'deeppicar_dctian', 'steering_from_filenames.csv')

pytestmark = [
    pytest.mark.assets,
    pytest.mark.skipif(not CSV.is_file(), reason=f'shared asset {CSV} not available '
                       '(set AV_PERCEPTION_ASSETS)'),
]


def test_csv_reads_every_frame_with_angles_in_range():
    drive = read_csv_drive(CSV, InputSpec(64, 32, (0.0, 0.45, 1.0, 1.0)))
    assert len(drive) == 219 and drive.pixels.shape == (219, 32, 64, 3)
    degrees = 90.0 - np.degrees(drive.steering)
    assert degrees.min() == pytest.approx(44.0, abs=1e-3)
    assert degrees.max() == pytest.approx(103.0, abs=1e-3)
    assert degrees[0] == pytest.approx(85.0, abs=1e-3)  # video01_000_085.png


def test_first_80_percent_trains_and_the_rest_validates():
    torch = pytest.importorskip('torch', reason='needs PyTorch')
    from av_perception.training.config import TrainConfig
    from av_perception.training.trainer import fit_network, input_spec

    config = TrainConfig(input_width=64, input_height=32, crop=(0.0, 0.45, 1.0, 1.0),
                         conv_channels=(4, 6, 8, 8, 8), feature_size=8, hidden_size=8,
                         history_length=4, epochs=1, val_fraction=0.2, threads=1,
                         shift_px=0)
    drive = read_csv_drive(CSV, input_spec(config))
    fitted = fit_network([drive], config, seed=0, progress=False)
    assert len(fitted.train[0]) == 175 and len(fitted.val[0]) == 44
    assert math.isfinite(fitted.records[0].val_steering_rmse_rad)
    assert not fitted.scaling.has_speed and torch.is_tensor(fitted.net.temporal.output_mean)
