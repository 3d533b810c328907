"""Rendering options and the look of frames, checked by measurable image properties."""

import numpy as np

from av_perception.sim import preset_config, Simulator
from av_perception.sim.tusimple import read_tusimple, tusimple_record, write_tusimple

SIZE = (320, 180)


def _frame(config, seed=1, steps=5):
    sim = Simulator(config, seed=seed, size=SIZE)
    for _ in range(steps):
        obs = sim.step()
    return sim, obs


def test_motion_blur_smooths_vertically():
    _, sharp = _frame(preset_config('highway_straight', noise_sigma=0.0))
    _, blurred = _frame(preset_config('highway_straight', noise_sigma=0.0, motion_blur_px=9))
    assert sharp.image.shape == blurred.image.shape == (180, 320, 3)

    def vertical_energy(image):
        return np.abs(np.diff(image.astype(np.int32), axis=0)).mean()
    assert vertical_energy(blurred.image) < 0.8 * vertical_energy(sharp.image)


def test_sky_above_ground_below_and_dusk_is_darker():
    sim, day = _frame(preset_config('highway_straight', noise_sigma=0.0))
    _, dusk = _frame(preset_config('dusk', noise_sigma=0.0))
    horizon = int(sim.camera.horizon_row)
    sky, ground = day.image[:horizon - 20], day.image[horizon + 30:]
    assert sky[..., 0].mean() > sky[..., 2].mean() + 20  # blue sky (BGR)
    assert ground.mean() < sky.mean()
    assert dusk.image.mean() < 0.7 * day.image.mean()
    # the ego headlights light the road just ahead more than the road farther away
    near = dusk.image[-20:, 140:180].mean()
    far = dusk.image[horizon + 8:horizon + 14, 150:170].mean()
    assert near > far


def test_marking_options_reach_the_road_and_the_frame():
    config = preset_config('highway_straight', lane_marking='none', left_edge_marking='none',
                           marking_wear=1.0, num_lanes_range=(2, 2), surface='random',
                           ego_lane='leftmost', noise_sigma=0.0)
    sim, obs = _frame(config)
    assert obs.truth.boundary_kinds == ('none', 'none', 'solid_white')
    assert sim.road.ego_lane == 0
    s = np.linspace(100.0, 200.0, 50)
    assert not sim.road.markings[0].painted(s).any()
    assert sim.road.markings[2].wear(s).all()
    # without paint the left boundary is indistinguishable from the lane centre
    row = int(obs.truth.h_samples[-5])
    x_left = obs.truth.left_x[-5]
    x_mid = 0.5 * (obs.truth.left_x[-5] + obs.truth.right_x[-5])
    image = obs.image.astype(int)
    assert abs(image[row, int(x_left)].mean() - image[row, int(x_mid)].mean()) < 25


def test_tusimple_file_round_trip(tmp_path):
    sim = Simulator('rural_curvy', seed=2, render=False)
    records = [tusimple_record(sim.step().truth, f'clips/{k}.jpg') for k in range(3)]
    path = tmp_path / 'labels.json'
    assert write_tusimple(path, records) == 3
    assert read_tusimple(path) == records
    assert len(path.read_text().splitlines()) == 3
