"""Closed-loop driving simulator: world, ego vehicle, expert, ground truth and rendering.

Conventions (all ground truth uses them):

* vehicle frame = ROS ``base_link``: origin on the ground below the centre of the rear axle,
  x forward, y left, z up, metres;
* ``lateral_offset_m``: signed distance of the vehicle-frame origin from the ego lane centre,
  positive when the vehicle is LEFT of the centre;
* ``heading_error_rad``: vehicle yaw minus lane direction, positive when the vehicle points
  to the left of the lane direction;
* ``curvature``: of the ego lane centre at the vehicle, 1/m, positive for left turns;
* pixels: OpenCV convention, x right, y down, the centre of the top-left pixel is (0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import functools
import math
from typing import Callable, Sequence

import cv2
import numpy as np

from av_perception.control_types import DriveCommand
from av_perception.sim.camera import CameraInfo, PinholeCamera
from av_perception.sim.config import preset_config, SimConfig, SimulationError
from av_perception.sim.expert import ExpertDriver
from av_perception.sim.models import cached_model, Model
from av_perception.sim.render import (clip_near, MAX_HEADING_DEG, NEAR_M, person_polygons,
                                      Renderer)
from av_perception.sim.road import build_road, Road
from av_perception.sim.scenery import Scenery
from av_perception.sim.texture import (Appearance, draw_appearance, GroundTexture,
                                       ShadowField)
from av_perception.sim.traffic import COCO_CLASSES, PERSON, Traffic, TRUCK
from av_perception.sim.vehicle import (BicycleLimits, EGO_LENGTH_M, EGO_REAR_OVERHANG_M,
                                       EGO_WIDTH_M, step_bicycle, VehicleState)

EPOCH_NS = 1_700_000_000 * 1_000_000_000  # stamps start here so bags look like recordings
START_S_M = 60.0
SUBSTEPS = 4
END_MARGIN_M = 60.0
POLYLINE_S = np.concatenate([np.arange(0.0, 30.0, 1.0), np.arange(30.0, 100.1, 2.5)])


@dataclass(frozen=True)
class GroundTruthObject:
    """A road user in view: COCO class, pixel box, distance and identity.

    ``bbox_xyxy`` is clipped to the image; ``distance_m`` is the ground-plane distance from
    the camera to the nearest point of the object's footprint; ``visible_fraction`` is the
    share of its silhouette inside the image and not hidden by nearer road users.
    """

    class_id: int
    class_name: str
    bbox_xyxy: tuple[float, float, float, float]
    distance_m: float
    track_id: int
    visible_fraction: float = 1.0


@dataclass(frozen=True)
class GroundTruth:
    """Lane geometry, ego pose relative to the lane, and road users for one frame.

    Pixel columns are given at the rows ``h_samples`` (NaN where the boundary is not visible);
    ``lanes_x`` holds every lane boundary of the road from left to right (TuSimple style),
    ``ego_left_index`` says which of them is the ego lane's left boundary. Polylines are
    ``(N, 2)`` arrays of vehicle-frame ``(x, y)`` from the vehicle forward.
    """

    h_samples: np.ndarray
    left_x: np.ndarray
    right_x: np.ndarray
    lanes_x: tuple[np.ndarray, ...]
    ego_left_index: int
    boundary_kinds: tuple[str, ...]
    left_boundary: np.ndarray
    right_boundary: np.ndarray
    center_line: np.ndarray
    lateral_offset_m: float
    heading_error_rad: float
    curvature: float
    lane_width_m: float
    objects: tuple[GroundTruthObject, ...]


@dataclass(frozen=True)
class Observation:
    """What the simulator returns after every reset and step.

    ``image`` is BGR uint8 (None when stepped without rendering); ``expert`` is the clean
    expert command for this state (the training label); ``road_s_m`` is the ego position
    along the road. ``truth`` is computed from a snapshot on first access, so drives that
    never look at it (closed-loop metrics, fast tests) do not pay for it.
    """

    image: np.ndarray | None
    stamp_ns: int
    frame_index: int
    camera_info: CameraInfo
    expert: DriveCommand
    state: VehicleState
    road_s_m: float
    truth_factory: Callable[[], GroundTruth] = field(repr=False, compare=False)

    @functools.cached_property
    def truth(self) -> GroundTruth:
        """Return the ground truth of this frame (computed on first access, then kept)."""
        return self.truth_factory()

    def __getstate__(self) -> dict:
        """Pickle the computed truth instead of the factory (which references the world)."""
        state = dict(self.__dict__)
        state['truth'] = self.truth
        state['truth_factory'] = None
        return state


@dataclass(frozen=True)
class DriveMetrics:
    """Summary of the drive since the last reset."""

    frames: int
    duration_s: float
    distance_m: float
    mean_abs_lateral_offset_m: float
    max_abs_lateral_offset_m: float
    lane_departures: int
    collisions: int
    mean_speed_mps: float


def default_h_samples(height: int) -> np.ndarray:
    """TuSimple-like rows: 56 rows from 22 % of the height to the bottom (160..710 at 720)."""
    step = 10.0 * height / 720.0
    first = 160.0 * height / 720.0
    return np.round(first + step * np.arange(56)).astype(np.int64)


class Simulator:
    """Deterministic driving simulator with a forward camera.

    ``Simulator(preset, seed)`` builds a world; :meth:`step` advances it by one camera frame
    (``1 / fps`` seconds) with the given command, or with the expert driving when the command
    is None. Everything depends only on the preset, the seed and the commands.
    """

    def __init__(self, preset: str | SimConfig, seed: int, fps: float = 20.0,
                 size: tuple[int, int] = (640, 360), h_samples: Sequence[int] | None = None,
                 render: bool = True) -> None:
        """Build the world for ``preset`` and ``seed``; ``size`` is (width, height)."""
        if fps <= 0 or not math.isfinite(fps):
            raise SimulationError(f'fps={fps!r}: must be a positive number')
        width, height = (int(v) for v in size)
        if width < 32 or height < 32 or width > 8192 or height > 8192:
            raise SimulationError(f'size={size!r}: width and height must be 32..8192')
        self.fps = float(fps)
        self.size = (width, height)
        self.render_enabled = bool(render)
        self._h_samples = (np.asarray(h_samples, dtype=np.int64) if h_samples is not None
                           else default_h_samples(height))
        self._preset: str | SimConfig = preset
        self._seed = int(seed)
        self.reset()

    # -- public API ------------------------------------------------------------------------
    @property
    def config(self) -> SimConfig:
        """Return the configuration of the current world."""
        return self._config

    @property
    def seed(self) -> int:
        """Return the seed of the current world."""
        return self._seed

    @property
    def camera(self) -> PinholeCamera:
        """Return the pinhole model of the ego camera: output geometry and distortion."""
        return self._camera

    @property
    def camera_info(self) -> CameraInfo:
        """Return the CameraInfo of the ego camera."""
        return self._camera_info

    @property
    def road(self) -> Road:
        """Return the road of the current world."""
        return self._road

    @property
    def state(self) -> VehicleState:
        """Return the current ego state."""
        return self._state

    @property
    def time_s(self) -> float:
        """Return the simulated time since the reset."""
        return self._frame / self.fps

    def reset(self, preset: str | SimConfig | None = None, seed: int | None = None,
              render: bool | None = None) -> Observation:
        """Build a fresh world (same preset/seed unless given) and return frame 0."""
        if preset is not None:
            self._preset = preset
        if seed is not None:
            self._seed = int(seed)
        config = self._preset
        if isinstance(config, str):
            config = preset_config(config)
        if not isinstance(config, SimConfig):
            raise SimulationError(f'preset={self._preset!r}: must be a preset name or '
                                  'a SimConfig')
        self._config = config
        seeds = np.random.SeedSequence(self._seed).spawn(5)
        road_rng, look_rng, traffic_rng, expert_rng, _ = (np.random.default_rng(s)
                                                          for s in seeds)
        self._road = build_road(config, road_rng)
        if self._road.length < START_S_M + 2 * END_MARGIN_M + config.max_render_distance_m:
            raise SimulationError(f'road_length_m={config.road_length_m!r}: too short')
        self._appearance: Appearance = draw_appearance(config, look_rng)
        width, height = self.size
        self._camera = PinholeCamera.from_fov(
            width, height, config.hfov_deg, config.camera_height_m, config.camera_pitch_deg,
            config.camera_x_m, tuple(config.distortion))
        self._camera_info = self._camera.camera_info('camera')
        self._limits = BicycleLimits(
            config.wheelbase_m, math.radians(config.max_steering_deg),
            math.radians(config.max_steering_rate_deg_s), config.max_accel_mps2,
            config.max_decel_mps2)
        road = self._road
        x, y, heading = (float(v) for v in road.pose_at(START_S_M))
        d = road.lane_center_d(road.ego_lane)
        x, y = x - math.sin(heading) * d, y + math.cos(heading) * d
        self._expert = ExpertDriver(config, road, expert_rng, 1.0 / self.fps)
        start_speed = self._expert.target_speed(
            VehicleState(x, y, heading, config.speed_limit_mps, 0.0), START_S_M, None)
        self._state = VehicleState(x, y, heading, start_speed, 0.0)
        self._s, self._d = START_S_M, d
        self._traffic = Traffic(road, config, traffic_rng, START_S_M)
        self._models: dict[int, Model] = {}
        self._truth = _TruthBuilder(road, self._camera, config, self._h_samples, self._models)
        # the same world again (a replay): keep the renderer, its set-up takes a while
        renderer = getattr(self, '_renderer', None)
        if renderer is not None and self._renderer_key == (config, self._seed):
            renderer.reuse(self._models)
        else:
            self._renderer: Renderer | None = None
            self._renderer_key = (config, self._seed)
        self._frame = 0
        self._distance = 0.0
        self._sum_abs_offset = 0.0
        self._max_abs_offset = 0.0
        self._departures = 0
        self._collisions = 0
        self._departed = False
        self._colliding: set[int] = set()
        if render is not None:
            self.render_enabled = bool(render)
        self._update_relative()
        return self._observe(self.render_enabled)

    def step(self, command: DriveCommand | None = None,
             render: bool | None = None) -> Observation:
        """Advance one frame; ``command`` None lets the expert (with perturbations) drive."""
        dt = 1.0 / self.fps
        if command is None:
            command = self._expert.executed_command(self._state, self._s, self._lead)
        elif not isinstance(command, DriveCommand):
            raise SimulationError(f'command={command!r}: must be a DriveCommand or None')
        state = self._state
        sub_dt = dt / SUBSTEPS
        for _ in range(SUBSTEPS):
            state = step_bicycle(state, command.steering_angle, command.speed, sub_dt,
                                 self._limits)
        self._distance += math.hypot(state.x - self._state.x, state.y - self._state.y)
        self._state = state
        s, d = self._road.project(state.x, state.y, self._s)
        self._s, self._d = s, d
        if s > self._road.length - END_MARGIN_M - self._config.max_render_distance_m:
            raise SimulationError(f'the ego vehicle reached the end of the road at s={s:.0f} '
                                  f'm; raise road_length_m (now {self._config.road_length_m})')
        self._traffic.advance(dt)
        self._frame += 1
        self._update_relative()
        self._update_metrics()
        return self._observe(self.render_enabled if render is None else bool(render))

    def expert_command(self) -> DriveCommand:
        """Return the clean expert command for the current state (its training label)."""
        return self._expert_now

    def metrics(self) -> DriveMetrics:
        """Metrics of the drive since the last reset."""
        frames = self._frame
        duration = frames / self.fps
        return DriveMetrics(
            frames=frames, duration_s=duration, distance_m=self._distance,
            mean_abs_lateral_offset_m=self._sum_abs_offset / frames if frames else 0.0,
            max_abs_lateral_offset_m=self._max_abs_offset,
            lane_departures=self._departures, collisions=self._collisions,
            mean_speed_mps=self._distance / duration if duration > 0 else 0.0)

    # -- internals -------------------------------------------------------------------------
    def _update_relative(self) -> None:
        road, state = self._road, self._state
        d = self._d
        lane_d = road.lane_center_d(road.ego_lane)
        _, _, heading = road.pose_at(self._s)
        self._offset = d - lane_d
        self._heading_error = float(np.angle(np.exp(1j * (state.yaw - float(heading)))))
        kappa = float(road.curvature_at(self._s))
        self._lane_curvature = kappa / (1.0 - kappa * lane_d)
        self._lead = self._traffic.lead_vehicle(road.ego_lane, self._s)
        self._expert_now = self._expert.command(state, self._s, self._lead)

    def _ego_corners_sd(self) -> np.ndarray:
        """Ego body corners in road coordinates (4, 2), small-angle exact enough."""
        d = self._d
        c, s = math.cos(self._heading_error), math.sin(self._heading_error)
        front = EGO_LENGTH_M - EGO_REAR_OVERHANG_M
        local = np.array([[-EGO_REAR_OVERHANG_M, -0.5 * EGO_WIDTH_M],
                          [front, -0.5 * EGO_WIDTH_M], [front, 0.5 * EGO_WIDTH_M],
                          [-EGO_REAR_OVERHANG_M, 0.5 * EGO_WIDTH_M]])
        return np.stack([self._s + local[:, 0] * c - local[:, 1] * s,
                         d + local[:, 0] * s + local[:, 1] * c], axis=1)

    def _update_metrics(self) -> None:
        offset = abs(self._offset)
        self._sum_abs_offset += offset
        self._max_abs_offset = max(self._max_abs_offset, offset)
        corners = self._ego_corners_sd()
        lane_d = self._road.lane_center_d(self._road.ego_lane)
        departed = bool(np.max(np.abs(corners[:, 1] - lane_d)) > 0.5 * self._road.lane_width)
        if departed and not self._departed:
            self._departures += 1
        self._departed = departed
        near = self._traffic.nearby(self._s, 20.0, 25.0)
        touching = set()
        if len(near):
            boxes = self._traffic.footprints_sd(near)
            for index, box in zip(near, boxes):
                if _overlap(corners, box):
                    touching.add(int(self._traffic.track_id[index]))
        self._collisions += len(touching - self._colliding)
        self._colliding = touching

    def _observe(self, render: bool) -> Observation:
        agents_idx = self._traffic.nearby(self._s, 30.0,
                                          self._config.max_render_distance_m + 20.0)
        agents = tuple(self._traffic.views(agents_idx))
        snapshot = _Snapshot(self._state, self._s, float(self._offset), self._heading_error,
                             float(self._lane_curvature), agents)
        image = None
        if render:
            image = self._render(agents)
        keep = {a.track_id for a in agents}
        for key in [k for k in self._models if k not in keep]:
            del self._models[key]
        if self._renderer is not None:
            self._renderer.forget(keep)
        stamp = EPOCH_NS + int(round(self._frame * 1e9 / self.fps))
        return Observation(image, stamp, self._frame, self._camera_info, self._expert_now,
                           self._state, self._s,
                           functools.partial(self._truth.build, snapshot))

    def _render(self, agents) -> np.ndarray:
        if self._renderer is None:
            cfg = self._config
            shadows = ShadowField(self._road, self._appearance, cfg.shadows_per_100m,
                                  self._seed)
            ring = cfg.max_render_distance_m + 90.0
            texture = GroundTexture(self._road, self._appearance, shadows, self._seed, ring)
            scenery = Scenery(self._road, shadows, cfg.trees_per_100m,
                              cfg.delineator_spacing_m, self._seed)
            self._renderer = Renderer(self._camera, cfg, self._road, self._appearance,
                                      texture, self._seed, self._models, scenery)
        return self._renderer.render(self._state, self._s, agents, self._frame)


@dataclass(frozen=True)
class _Snapshot:
    """Everything the ground truth of one frame depends on that changes over time."""

    state: VehicleState
    s: float
    offset: float
    heading_error: float
    curvature: float
    agents: tuple


class _TruthBuilder:
    """Computes ground truth for snapshots of one world (road, camera, configuration)."""

    def __init__(self, road: Road, camera: PinholeCamera, config: SimConfig,
                 h_samples: np.ndarray, models: dict[int, Model]) -> None:
        self.road = road
        self.camera = camera
        self.config = config
        self.h_samples = h_samples
        self.models = models
        max_d = config.max_render_distance_m
        self.truth_s_rel = np.concatenate([np.arange(-2.0, 30.0, 0.5),
                                           np.arange(30.0, max_d * 1.2, 2.0)])

    def _to_vehicle(self, snap: _Snapshot, wx: np.ndarray, wy: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        st = snap.state
        c, s = math.cos(st.yaw), math.sin(st.yaw)
        dx, dy = wx - st.x, wy - st.y
        return dx * c + dy * s, -dx * s + dy * c

    def _lateral_points(self, snap: _Snapshot, s: np.ndarray, offsets: Sequence[float]
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Vehicle-frame (x, y), each (len(offsets), len(s)), of road points (s, d)."""
        wx, wy, heading = self.road.pose_at(s)
        d = np.asarray(offsets, dtype=np.float64)[:, None]
        return self._to_vehicle(snap, wx[None, :] - np.sin(heading)[None, :] * d,
                                wy[None, :] + np.cos(heading)[None, :] * d)

    def build(self, snap: _Snapshot) -> GroundTruth:
        """Compute the ground truth of the snapshot."""
        road = self.road
        lane = road.ego_lane
        offsets = (road.boundary_d(lane), road.boundary_d(lane + 1), road.lane_center_d(lane))
        vx, vy = self._lateral_points(snap, snap.s + POLYLINE_S, offsets)
        polylines = [np.stack([vx[i], vy[i]], axis=1) for i in range(3)]
        lanes_x = self._boundary_pixels(snap)
        objects = self._objects_truth(snap)
        return GroundTruth(
            h_samples=self.h_samples.copy(), left_x=lanes_x[lane], right_x=lanes_x[lane + 1],
            lanes_x=tuple(lanes_x), ego_left_index=lane,
            boundary_kinds=tuple(m.kind for m in road.markings),
            left_boundary=polylines[0], right_boundary=polylines[1],
            center_line=polylines[2], lateral_offset_m=snap.offset,
            heading_error_rad=snap.heading_error, curvature=snap.curvature,
            lane_width_m=road.lane_width, objects=objects)

    def _boundary_pixels(self, snap: _Snapshot) -> list[np.ndarray]:
        """Pixel column of every lane boundary at the rows ``h_samples`` (NaN: not visible)."""
        road, cam = self.road, self.camera
        max_d = self.config.max_render_distance_m
        s = np.clip(snap.s + self.truth_s_rel, 0.0, road.length)
        _, _, heading = road.pose_at(s)
        phi = np.angle(np.exp(1j * (heading - snap.state.yaw)))
        offsets = [road.boundary_d(i) for i in range(road.num_lanes_total + 1)]
        vx, vy = self._lateral_points(snap, s, offsets)
        # the renderer stops drawing where the road turns away; so does the truth
        turned = np.abs(phi) >= math.radians(MAX_HEADING_DEG)
        rows = self.h_samples.astype(np.float64)
        pixels, depth = cam.project(np.stack([vx.ravel(), vy.ravel(), np.zeros(vx.size)],
                                             axis=1))
        pixels = pixels.reshape(vx.shape + (2,))
        depth = depth.reshape(vx.shape)
        out = []
        for index in range(len(offsets)):
            keep = ~turned & (vx[index] - cam.x_m <= max_d)
            keep[1:] &= np.diff(vx[index]) > 0
            stop = int(np.argmin(keep)) if not np.all(keep) else len(keep)
            ahead = np.flatnonzero(depth[index, :stop] > NEAR_M)
            x_at = np.full(len(rows), np.nan)
            if len(ahead) >= 2:
                u, v = pixels[index, ahead, 0], pixels[index, ahead, 1]
                # rows must decrease monotonically away from the camera
                bad = np.flatnonzero(np.diff(v) >= 0)
                if len(bad):
                    u, v = u[:bad[0] + 1], v[:bad[0] + 1]
                if len(v) >= 2:
                    x_at = np.interp(rows, v[::-1], u[::-1], left=np.nan, right=np.nan)
                    x_at[(x_at < 0) | (x_at > cam.width - 1)] = np.nan
            out.append(x_at)
        return out

    def _objects_truth(self, snap: _Snapshot) -> tuple[GroundTruthObject, ...]:
        agents = snap.agents
        cam = self.camera
        width, height = self.camera.width, self.camera.height
        entries = []
        if not agents:
            return ()
        vx_all, vy_all = self._to_vehicle(snap, np.array([a.x for a in agents]),
                                          np.array([a.y for a in agents]))
        # cheap horizontal frustum test before projecting anything
        half_fov = math.atan2(max(cam.cx, width - cam.cx), cam.fx) + 0.15
        for agent, x, y in zip(agents, vx_all.tolist(), vy_all.tolist()):
            forward = x - cam.x_m
            radius = 0.5 * math.hypot(agent.length, agent.width) + 0.5
            if forward < -radius or forward > self.config.max_render_distance_m:
                continue
            if abs(y) - radius > max(forward, 0.0) * math.tan(min(half_fov, 1.5)):
                continue
            yaw = agent.yaw - snap.state.yaw
            if agent.kind == PERSON:
                polys = person_polygons(cam, x, y, agent.height, agent.phase)
                if not polys:
                    continue
                points = np.vstack([p for _, p in polys])
            else:
                model = cached_model(self.models, agent.track_id, agent.kind == TRUCK,
                                     agent.length, agent.width, agent.height, agent.look)
                points = self._model_pixels(model, x, y, yaw)
                if points is None:
                    continue
            # ground distance from the camera to the nearest footprint point
            c, s = math.cos(yaw), math.sin(yaw)
            ex, ey = cam.x_m - x, -y
            ox, oy = ex * c + ey * s, -ex * s + ey * c
            gap_x = max(abs(ox) - 0.5 * agent.length, 0.0)
            gap_y = max(abs(oy) - 0.5 * agent.width, 0.0)
            entries.append((math.hypot(gap_x, gap_y), agent, points))
        if not entries:
            return ()
        # occlusion: each silhouette minus the silhouettes of nearer objects, counted at half
        # resolution inside the object's own box (inside the image only: truncation counts)
        entries.sort(key=lambda e: e[0])
        scale = 0.5
        hulls = [cv2.convexHull(np.round(points * (scale * 16)).astype(np.int32))
                 for _, _, points in entries]
        boxes = np.array([[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()]
                          for _, _, p in entries])
        limit = np.array([width - 1, height - 1, width - 1, height - 1], np.float64)
        clipped = np.clip(boxes, 0.0, limit)
        out = []
        for i, (distance, agent, points) in enumerate(entries):
            x0, y0, x1, y1 = clipped[i]
            if x1 - x0 < 1.0 or y1 - y0 < 1.0:
                continue
            area = max(cv2.contourArea(hulls[i].astype(np.float32) / 16.0), 1e-6)
            occluders = [j for j in range(i) if boxes[j, 0] < boxes[i, 2]
                         and boxes[j, 2] > boxes[i, 0] and boxes[j, 1] < boxes[i, 3]
                         and boxes[j, 3] > boxes[i, 1]]
            inside = np.array_equal(boxes[i], clipped[i])
            if occluders or not inside:
                lo = (np.floor(clipped[i, :2] * scale)).astype(int)
                hi = (np.ceil(clipped[i, 2:] * scale)).astype(int) + 1
                mask = np.zeros((hi[1] - lo[1], hi[0] - lo[0]), np.uint8)
                shift = np.array([lo[0], lo[1]]) * 16
                cv2.fillConvexPoly(mask, hulls[i] - shift, 1, cv2.LINE_8, 4)
                for j in occluders:
                    cv2.fillConvexPoly(mask, hulls[j] - shift, 0, cv2.LINE_8, 4)
                visible = min(1.0, float(np.count_nonzero(mask)) / area)
            else:
                visible = 1.0
            if visible < self.config.min_visible_fraction:
                continue
            class_id, name = COCO_CLASSES[agent.kind]
            out.append(GroundTruthObject(class_id, name, (float(x0), float(y0), float(x1),
                                                          float(y1)), float(distance),
                                         agent.track_id, float(visible)))
        return tuple(out)

    def _model_pixels(self, model: Model, x: float, y: float, yaw: float
                      ) -> np.ndarray | None:
        """Pixels of a model's vertices; polygons crossing the near plane are clipped."""
        cam = self.camera
        c, s = math.cos(yaw), math.sin(yaw)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        outline = cam.to_camera(model.vertices[model.outline] @ rot.T + np.array([x, y, 0.0]))
        if np.all(outline[:, 2] >= NEAR_M):
            return cam.camera_to_pixels(outline)
        cam_pts = cam.to_camera(model.vertices @ rot.T + np.array([x, y, 0.0]))
        front = cam_pts[:, 2] >= NEAR_M
        if not np.any(front):
            return None
        # add the near-plane crossings of every polygon so boxes reach the image border
        pieces = [cam_pts[front]]
        for a, b in zip(model.starts, model.ends):
            part = front[a:b]
            if np.all(part) or not np.any(part):
                continue
            pieces.append(clip_near(cam_pts[a:b]))
        return cam.camera_to_pixels(np.vstack(pieces))


def _overlap(corners: np.ndarray, box: np.ndarray) -> bool:
    """Separating-axis test of a rotated rectangle (4, 2) and an axis-aligned box."""
    s0, s1, d0, d1 = box
    if corners[:, 0].max() < s0 or corners[:, 0].min() > s1:
        return False
    if corners[:, 1].max() < d0 or corners[:, 1].min() > d1:
        return False
    box_pts = np.array([[s0, d0], [s1, d0], [s1, d1], [s0, d1]])
    for i in range(2):
        edge = corners[i + 1] - corners[i]
        axis = np.array([-edge[1], edge[0]])
        a = corners @ axis
        b = box_pts @ axis
        if a.max() < b.min() or b.max() < a.min():
            return False
    return True
