"""Rendering options and the look of frames, checked by measurable image properties."""

import math

import cv2
import numpy as np

from av_perception.sim import preset_config, Simulator
from av_perception.sim import render
from av_perception.sim.texture import MIP
from av_perception.sim.traffic import AgentView, CAR
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


def test_sensor_noise_is_an_exact_saturating_addition():
    """The noise is added as two saturating uint8 operations; that equals a signed addition."""
    _, clean = _frame(preset_config('highway_straight', noise_sigma=0.0))
    sim, noisy = _frame(preset_config('highway_straight', noise_sigma=6.0))
    up, down = sim._renderer._noise
    k = noisy.frame_index % render.NOISE_FRAMES
    h, w = noisy.image.shape[:2]
    signed = up[k:k + h, 3 * k:3 * k + w].astype(int) - down[k:k + h, 3 * k:3 * k + w]
    assert 5.0 < signed.std() < 7.0
    expected = np.clip(clean.image.astype(int) + signed, 0, 255)
    np.testing.assert_array_equal(noisy.image, expected)


def test_texture_padding_repeats_the_grass_as_the_folded_lookup_does():
    """Lookups in the widened texture see what folding the coordinate back would see."""
    sim, _ = _frame(preset_config('rural_curvy'), steps=2)
    tex = sim._renderer.texture
    assert tex.pads[2] > 0  # the far level sees far beside the road
    cols = (tex.cols, tex.cols // MIP, tex.cols // MIP)
    bands = (tex.grass_cols, tex.grass_cols // MIP, tex.grass_cols // MIP)
    for level, (stored, pad) in enumerate(zip((tex.level0, tex.level1, tex.level2), tex.pads)):
        columns = np.arange(-pad, cols[level] + pad).astype(np.float32)
        folded = columns.copy()
        render._fold(folded, cols[level], bands[level])
        rows = stored[::7]
        np.testing.assert_array_equal(rows, rows[:, pad + folded.astype(int)])
        assert rows[:, pad:pad + cols[level], :3].any()


def _scene(seed=4):
    """Return a simulator on a straight empty road (no traffic, no roadside items)."""
    config = preset_config('highway_straight', noise_sigma=0.0, vehicles_per_km=0.0,
                           trees_per_100m=0.0, delineator_spacing_m=0.0, num_lanes_range=(3, 3),
                           ego_lane='leftmost')
    sim = Simulator(config, seed=seed, size=SIZE)
    obs = sim.step()
    return sim, obs


def _car_ahead(obs, forward, lateral=0.0, track_id=1):
    """Return a car ``forward`` metres ahead of the ego rear axle, ``lateral`` to the left."""
    st = obs.state
    c, s = math.cos(st.yaw), math.sin(st.yaw)
    return AgentView(track_id, CAR, st.x + forward * c - lateral * s,
                     st.y + forward * s + lateral * c, st.yaw, 4.5, 1.8, 1.5, (40, 40, 160),
                     (40, 40, 160), 0.0, 3)


def _draw(sim, obs, agents):
    return sim._renderer.render(obs.state, obs.road_s_m, tuple(agents), obs.frame_index)


def test_contact_shadow_darkens_the_road_right_behind_a_vehicle():
    sim, obs = _scene()
    empty = _draw(sim, obs, [])
    forward = 14.0
    with_car = _draw(sim, obs, [_car_ahead(obs, forward)])
    cam = sim.camera

    def ground_pixel(x):
        pixel, _ = cam.project(np.array([[x, 0.0, 0.0]]))
        return int(round(pixel[0, 1])), int(round(pixel[0, 0]))
    rear = forward - 2.25  # the car's rear bumper; its shadow reaches ~0.3 m behind it
    row, col = ground_pixel(rear - 0.15)
    assert with_car[row, col].mean() < 0.75 * empty[row, col].mean()
    row, col = ground_pixel(rear - 3.0)
    assert np.abs(with_car[row, col].astype(int) - empty[row, col]).max() <= 1


def test_distant_vehicles_are_drawn_with_fewer_polygons(monkeypatch):
    sim, obs = _scene()
    empty = _draw(sim, obs, [])
    fills = []
    original = cv2.fillPoly

    def counting(*args, **kwargs):
        fills.append(1)
        return original(*args, **kwargs)
    monkeypatch.setattr(render.cv2, 'fillPoly', counting)
    counts, heights = [], []
    for forward in (12.0, 70.0):
        fills.clear()
        image = _draw(sim, obs, [_car_ahead(obs, forward)])
        counts.append(len(fills))
        rows = np.flatnonzero(np.abs(image.astype(int) - empty).max(axis=(1, 2)) > 30)
        heights.append(rows.max() - rows.min() + 1 if len(rows) else 0)
    # both are drawn: the near one large, the far one a few pixels tall, with fewer parts
    assert heights[0] > 25 and 3 <= heights[1] < render.SMALL_VEHICLE_PX
    assert counts[1] < 0.8 * counts[0]
