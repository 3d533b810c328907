"""Speed governor: a perception-based longitudinal safety layer under the learned controller.

The CNN+LSTM steers and proposes a speed; it cannot be trusted to keep the gap to a slower car
ahead. The governor caps the proposed speed from 2D detections of the same camera:

1. every detection of a road-user class is put on the flat road through the camera model
   (intrinsics + mounting, :class:`~av_perception.lanes.geometry.GroundProjection`): the bottom
   edge of its box is where it touches the road, which gives its distance and, with the box
   edges and a typical width of its class, its lateral extent (see :func:`ground_objects`);
2. objects whose extent overlaps the ego corridor (+- ``corridor_half_width_m`` around the
   lane detector's centre line when a fresh one is given, :class:`LaneCorridor`, else around
   the arc of the current steering angle) within ``max_object_range_m`` are in the path; the
   nearest is
   the lead, tracked over frames (a new lead counts after ``lead_min_hits`` detections; a lost
   one is held for ``lead_hold_s``, its gap extrapolated, never growing and never closing
   faster than the ego speed);
3. constant time headway: ``cap = (gap - standstill_gap_m) / time_headway_s`` (in steady state
   the gap is ``standstill + headway x speed``); the cap falls at most ``speed_cap_decel_mps2``
   and rises at most ``speed_cap_accel_mps2``; a gap seen under ``stop_gap_m`` stops at once.

Without detections (none given, or older than ``detection_max_age_s``) and without a held lead
the proposed speed passes unchanged. Ground-truth objects never enter here: only detector boxes.
Frames: vehicle x forward, y left (REP-103), origin on the road below the vehicle reference
point (rear axle of our simulator's car).
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Sequence

import numpy as np

from av_perception.detection.results import Detection
from av_perception.lanes.camera import CameraModel
from av_perception.lanes.geometry import GroundProjection
from av_perception.params import ConfigError, parameter, validate

# COCO person, vehicles and bench: a detector that calls a car a boat or a bench (YOLOX-Nano
# does, for the backs of our simulator's cars) still reports an obstacle; road texture and
# trees called kite, surfboard or umbrella are not
OBSTACLE_CLASS_IDS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 13)
# (width, shortest length) in metres of COCO road users (person, bicycle, car, motorcycle,
# bus, truck): the width is generous (it places the
# inner side of an object seen obliquely), the length short (how far an object's far end is)
CLASS_SIZES_M = {0: (0.8, 0.3), 1: (1.0, 1.5), 2: (2.0, 3.5), 3: (1.0, 1.8), 5: (2.6, 8.0),
                 7: (2.6, 6.0)}
DEFAULT_SIZE_M = (2.0, 0.5)
MAX_WIDTH_M = 3.5  # a box showing a rear wider than this (at its distance) is not one road user
# an object shorter than this (from its box height at its distance) is car-sized, whatever its
# class: its width is at most CAR_WIDTH_M (a car called a truck)
CAR_HEIGHT_M, CAR_WIDTH_M = 2.2, 2.0
_BORDER_FRACTION = 0.015  # a box edge this close to the image side is cut by it (detector slack)
_ALPHA, _BETA = 0.5, 0.1  # alpha-beta filter of the lead gap (per fresh measurement)
_MAX_RATE = 40.0  # m/s: bound of the filtered gap rate


@dataclass(frozen=True)
class SpeedGovernorConfig:
    """Parameters of :class:`SpeedGovernor` (mixed into ``TemporalControllerConfig``)."""

    governor_enabled: bool = parameter(
        True, 'cap the speed behind road users detected in the path (needs detections; '
        'without them the controller is unchanged)')
    detection_max_age_s: float = parameter(
        0.3, 'detections stamped further than this from the frame are not used', low=0.0,
        high=10.0)
    detection_min_score: float = parameter(
        0.3, 'detections scoring less are ignored', low=0.0, high=1.0)
    detection_class_ids: tuple = parameter(
        OBSTACLE_CLASS_IDS, 'class ids that are obstacles; default: COCO person and vehicles '
        '(0-8: person, bicycle, car, motorcycle, airplane, bus, train, truck, boat) and bench '
        '(13: what YOLOX-Nano often calls the back of a car); [-1]: every class', low=-1,
        high=100000)
    camera_height_m: float = parameter(
        1.4, 'camera height above the road (the defaults are those of our simulated car)', low=0.2,
        high=10.0)
    camera_pitch_deg: float = parameter(
        4.0, 'camera pitch, positive looks down', low=-20.0, high=60.0)
    camera_x_m: float = parameter(
        1.6, 'camera position ahead of the vehicle origin', low=-20.0, high=20.0)
    camera_horizontal_fov_deg: float = parameter(
        65.0, 'field of view of the distortion-free pinhole camera assumed until a '
        'camera_info gives the intrinsics', low=10.0, high=170.0)
    ego_front_m: float = parameter(
        3.65, 'front bumper ahead of the vehicle origin (gaps are measured from it)',
        low=0.0, high=20.0)
    wheelbase_m: float = parameter(
        2.7, 'wheelbase: the path ahead is the arc of the commanded steering angle',
        low=0.5, high=10.0)
    corridor_from_lane: bool = parameter(
        True, "centre the corridor on the lane detector's centre line when a fresh one is "
        'given (beyond its far end: continued with its heading and curvature there); else, or '
        'false, on the arc of the steering angle')
    lane_max_age_s: float = parameter(
        0.3, 'a lane centre line stamped further than this from the frame is not used',
        low=0.0, high=10.0)
    lane_max_offset_m: float = parameter(
        1.0, 'a lane centre line passing further than this beside the vehicle origin is not '
        "the lane the car is in (a wrong fit, e.g. a shadow's edge): not used", low=0.0,
        high=10.0)
    lane_max_heading_deg: float = parameter(
        5.0, "a lane centre line at more than this angle to the car's heading at the vehicle "
        'origin is not used either: a wrong fit (at 20 m/s, 5 degrees off its lane a car '
        'leaves it within about a second; a car keeping its lane never shows it)', low=0.0,
        high=90.0)
    lane_blend_start_m: float = parameter(
        10.0, 'with a lane, the corridor is still the steering arc up to this distance ahead '
        'of the vehicle origin (where the car goes in the next moments, and where the lane '
        'fit is least sure) ...', low=0.0, high=300.0)
    lane_blend_end_m: float = parameter(
        25.0, '... and the lane centre line from this distance on, blended linearly in between',
        low=0.0, high=300.0)
    corridor_half_width_m: float = parameter(
        1.2, 'half width of the ego corridor around the predicted path (half the car + a '
        'margin)', low=0.3, high=5.0)
    max_object_range_m: float = parameter(
        60.0, 'objects further ahead of the vehicle origin are ignored', low=5.0, high=300.0)
    time_headway_s: float = parameter(
        1.8, 'time gap kept to the lead: cap = (gap - standstill_gap_m) / time_headway_s',
        low=0.1, high=10.0)
    standstill_gap_m: float = parameter(
        5.0, 'gap to the lead at standstill', low=0.0, high=50.0)
    stop_gap_m: float = parameter(
        2.0, 'a gap under this stops at once (speed 0, no rate limit)', low=0.0, high=50.0)
    speed_cap_accel_mps2: float = parameter(
        1.5, 'largest rise of the speed cap per second (release after a lead is gone)',
        low=0.1, high=20.0)
    speed_cap_decel_mps2: float = parameter(
        6.0, 'largest fall of the speed cap per second (above stop_gap_m)', low=0.1,
        high=50.0)
    lead_hold_s: float = parameter(
        0.5, 'a lead no longer detected is kept this long (detector misses)', low=0.0,
        high=10.0)
    lead_min_hits: int = parameter(
        2, 'detections a new lead needs before it caps the speed (single-frame false '
        'positives)', low=1, high=100)

    def __post_init__(self) -> None:
        """Validate every field and the cross-field rules."""
        validate(self)
        check_governor_fields(self)


def check_governor_fields(config: SpeedGovernorConfig) -> None:
    """Cross-field rules of :class:`SpeedGovernorConfig` (raise ConfigError)."""
    if config.lane_blend_end_m < config.lane_blend_start_m:
        raise ConfigError(f'{type(config).__name__}.lane_blend_end_m={config.lane_blend_end_m} '
                          f'is less than lane_blend_start_m={config.lane_blend_start_m}')
    if not config.detection_class_ids:
        raise ConfigError(f'{type(config).__name__}.detection_class_ids=(): name at least one '
                          'class id, or -1 for every class')


@dataclass(frozen=True)
class DetectionFrame:
    """The detections of one camera frame (boxes in that frame's pixels) and its stamp."""

    stamp_ns: int
    detections: tuple[Detection, ...]


@dataclass(frozen=True)
class LaneCorridor:
    """The ego lane's centre line ahead: ``y = c0 + c1 x + c2 x^2`` (vehicle frame, metres).

    Observed from ``x_near_m`` to ``x_far_m``; :meth:`centre` continues it beyond the far end
    along the circle of the curve's heading and curvature there (a quadratic extrapolated far
    beyond its data bends without bound) and keeps it straight back to the car.
    """

    stamp_ns: int
    coefficients: tuple[float, float, float]
    x_near_m: float
    x_far_m: float

    @classmethod
    def from_points(cls, stamp_ns: int, x_m: Sequence[float], y_m: Sequence[float],
                    min_span_m: float = 5.0) -> LaneCorridor | None:
        """Fit the centre line to sampled points (a nav_msgs/Path); None if too few/short."""
        x = np.asarray(x_m, dtype=np.float64)
        y = np.asarray(y_m, dtype=np.float64)
        good = np.isfinite(x) & np.isfinite(y)
        x, y = x[good], y[good]
        if len(x) < 3 or float(x.max() - x.min()) < min_span_m:
            return None
        c2, c1, c0 = np.polyfit(x, y, 2)
        return cls(int(stamp_ns), (float(c0), float(c1), float(c2)), float(x.min()),
                   float(x.max()))

    @classmethod
    def from_curve(cls, stamp_ns: int, coefficients: Sequence[float],
                   x_range_m: Sequence[float]) -> LaneCorridor | None:
        """Wrap a fitted centre curve (the lane detector's); None if it is not finite."""
        values = [float(v) for v in (*coefficients, *x_range_m)]
        if len(values) != 5 or not all(math.isfinite(v) for v in values) \
                or values[4] <= values[3]:
            return None
        return cls(int(stamp_ns), (values[0], values[1], values[2]), values[3], values[4])

    def _poly(self, x: np.ndarray) -> np.ndarray:
        c0, c1, c2 = self.coefficients
        return c0 + (c1 + c2 * x) * x

    def heading_at(self, x_m: float) -> float:
        """Return the slope dy/dx of the centre line at ``x_m`` (straight before its near end)."""
        c1, c2 = self.coefficients[1], self.coefficients[2]
        return c1 + 2 * c2 * min(max(float(x_m), self.x_near_m), self.x_far_m)

    def centre(self, x_m: np.ndarray | float) -> np.ndarray:
        """Return the centre line's lateral offset at distance(s) ``x_m`` ahead."""
        x = np.asarray(x_m, dtype=np.float64)
        near, far = self.x_near_m, self.x_far_m
        y = self._poly(np.clip(x, near, far))
        # before the near end: straight on with the heading there
        y = np.where(x < near, y + self.heading_at(near) * (x - near), y)
        # beyond the far end: the circle of the heading and curvature there
        slope = self.heading_at(far)
        curvature = 2 * self.coefficients[2] / (1 + slope * slope) ** 1.5
        beyond = np.maximum(x - far, 0.0)
        return np.where(x > far, y + slope * beyond + path_offset(beyond, curvature), y)


@dataclass(frozen=True)
class GroundObject:
    """A detection on the road: nearest distance and estimated lateral extent (vehicle frame)."""

    x_m: float
    y_right_m: float
    y_left_m: float
    detection: Detection


@dataclass(frozen=True)
class GovernorResult:
    """The governed speed and why.

    ``cap_mps`` is inf while no cap is active; ``lead_gap_m`` is NaN without a lead;
    ``lead_state`` is '' (none), ``tentative`` (not yet ``lead_min_hits``), ``measured`` or
    ``held``; ``in_path`` counts the objects in the corridor this frame; ``detections_used``
    says whether fresh detections were given; ``corridor`` is ``lane`` or ``steering`` (what
    the corridor of the last fresh detections followed), '' before any.
    """

    speed_mps: float
    cap_mps: float
    lead_gap_m: float
    lead_state: str
    in_path: int
    detections_used: bool
    corridor: str = ''

    @property
    def limited(self) -> bool:
        """Say whether the cap lowered the speed."""
        return math.isfinite(self.cap_mps)


def ground_objects(detections: Sequence[Detection], projection: GroundProjection,
                   camera_x_m: float, class_ids: Sequence[int] | None = None,
                   min_score: float = 0.0) -> list[GroundObject]:
    """Put detections on the road; drop other classes, low scores and boxes above the horizon.

    The bottom row of a box is where the object's nearest point touches the road: its
    distance. Laterally only the box edge away from the camera's axis is a point at that
    distance (a car ahead-left shows its rear and its right side: the right box edge is its
    far front corner). So the extent is that outer edge and the class's width
    (:data:`CLASS_SIZES_M`; a car's width for objects no taller than a car, whatever their
    class), never further out than the inner edge taken at the near distance (a bound on the
    path side). A box straddling the axis shows the object's rear: both edges
    count, and a rear wider than :data:`MAX_WIDTH_M` is no road user (a box around a patch of
    road or sky). A box cut by the image's side keeps only its inner edge, placed at the far
    end of the object (its class's shortest length behind the near distance): such boxes are
    objects beside the car, whose near end is out of view.
    """
    wanted = None if class_ids is None else {int(c) for c in class_ids}
    kept = [d for d in detections
            if d.score >= min_score and (wanted is None or d.class_id in wanted)]
    if not kept:
        return []
    boxes = np.array([d.bbox_xyxy for d in kept], dtype=np.float64)
    corners = np.concatenate([boxes[:, [0, 3]], boxes[:, [2, 3]]])  # bottom-left, bottom-right
    ground = projection.image_to_ground(corners).reshape(2, len(kept), 2)
    image_width = projection.camera.width
    focal_y = projection.camera.k[1, 1]
    border = _BORDER_FRACTION * image_width
    out = []
    for index, detection in enumerate(kept):
        (x_near, y_left), (_, y_right) = ground[0, index], ground[1, index]
        depth = x_near - camera_x_m
        if not np.all(np.isfinite([x_near, y_left, y_right])) or depth <= 0:
            continue
        x1, y1, x2, y2 = detection.bbox_xyxy
        width, length = CLASS_SIZES_M.get(detection.class_id, DEFAULT_SIZE_M)
        if (y2 - y1) * depth / focal_y < CAR_HEIGHT_M:
            width = min(width, CAR_WIDTH_M)
        if y_right > 0:  # left of the axis: the left edge is the near outer corner
            if x1 <= border:
                y_left, y_right = math.inf, y_right * (depth + length) / depth
            else:
                y_right = max(y_right, y_left - width)
        elif y_left < 0:  # right of the axis
            if x2 >= image_width - border:
                y_left, y_right = y_left * (depth + length) / depth, -math.inf
            else:
                y_left = min(y_left, y_right + width)
        elif y_left - y_right > MAX_WIDTH_M:  # straddling: the rear, never this wide
            continue
        out.append(GroundObject(float(x_near), float(y_right), float(y_left), detection))
    return out


def path_offset(x_m: np.ndarray | float, curvature: float) -> np.ndarray:
    """Return the lateral offset y (left +) of the arc of ``curvature`` at distance x ahead.

    Beyond a quarter circle (x >= radius) the arc is taken as turned back at y = radius.
    """
    x = np.asarray(x_m, dtype=np.float64)
    if abs(curvature) < 1e-9:
        return np.zeros_like(x)
    kx = np.minimum(np.abs(curvature * x), 1.0)
    return np.sign(curvature) * (1.0 - np.sqrt(1.0 - kx * kx)) / abs(curvature)


def in_path(objects: Sequence[GroundObject], curvature: float, half_width_m: float,
            max_range_m: float, origin_x_m: float = 0.0, lane: LaneCorridor | None = None,
            blend_m: tuple[float, float] = (0.0, 0.0)) -> list[GroundObject]:
    """Return the objects whose lateral extent overlaps the corridor, nearest first.

    The corridor is the arc of ``curvature`` starting at ``origin_x_m`` (the vehicle's rear
    axle for the kinematic bicycle model), +- ``half_width_m``. With a ``lane`` it turns into
    the lane's centre line between ``blend_m`` = (start, end) distances ahead (linearly;
    (0, 0): the lane's centre line everywhere).
    """
    start, end = blend_m
    hits = []
    for obj in objects:
        if obj.x_m > max_range_m:
            continue
        centre = float(path_offset(max(obj.x_m - origin_x_m, 0.0), curvature))
        if lane is not None:
            weight = 1.0 if obj.x_m >= end else (
                0.0 if obj.x_m <= start else (obj.x_m - start) / (end - start))
            centre += weight * (float(lane.centre(obj.x_m)) - centre)
        if obj.y_right_m <= centre + half_width_m and obj.y_left_m >= centre - half_width_m:
            hits.append(obj)
    return sorted(hits, key=lambda o: o.x_m)


def headway_speed(gap_m: float, time_headway_s: float, standstill_gap_m: float) -> float:
    """Return the speed whose constant-time-headway gap is ``gap_m`` (0 at standstill gap)."""
    return max(0.0, (gap_m - standstill_gap_m) / time_headway_s)


class _LeadTrack:
    """The nearest in-path object's gap, filtered (alpha-beta) and held through misses."""

    def __init__(self) -> None:
        self.gap_m = math.nan
        self.rate_mps = 0.0
        self.hits = 0
        self.updated_ns = 0

    def predicted(self, stamp_ns: int, max_closing_mps: float) -> float:
        """Gap extrapolated to ``stamp_ns``; it may shrink but never grows while unseen.

        It shrinks at most at ``max_closing_mps`` (the ego speed: what stands still or drives
        ahead of us closes no faster; oncoming traffic that leaves the corridor would).
        """
        dt = max(0.0, (stamp_ns - self.updated_ns) / 1e9)
        return self.gap_m + min(max(self.rate_mps, -max_closing_mps), 0.0) * dt

    def update(self, gap_m: float, stamp_ns: int) -> None:
        """Fold in one measurement; a jump beyond the gate starts a new track."""
        if self.hits == 0:
            self.gap_m, self.rate_mps, self.hits, self.updated_ns = gap_m, 0.0, 1, stamp_ns
            return
        dt = (stamp_ns - self.updated_ns) / 1e9
        predicted = self.gap_m + self.rate_mps * max(dt, 0.0)
        residual = gap_m - predicted
        if abs(residual) > 3.0 + 0.15 * max(predicted, 0.0) or dt <= 0:
            # another object: a nearer one is as real as the lead was (a cut-in), a farther
            # one must confirm itself before it releases the cap
            self.gap_m, self.rate_mps = gap_m, 0.0
            self.hits = self.hits + 1 if residual < 0 else 1
        else:
            self.gap_m = predicted + _ALPHA * residual
            self.rate_mps = min(max(self.rate_mps + _BETA * residual / dt, -_MAX_RATE),
                                _MAX_RATE)
            self.hits += 1
        self.updated_ns = stamp_ns


class SpeedGovernor:
    """Caps a proposed speed to keep a time headway to what the detector sees in the path.

    Stateful (lead track, cap); feed frames in order and :meth:`reset` on history resets.
    """

    def __init__(self, config: SpeedGovernorConfig, camera: CameraModel | None = None) -> None:
        """Use ``camera``'s intrinsics, else the pinhole of ``camera_horizontal_fov_deg``."""
        self.config = config
        self._camera = camera
        self._projection: GroundProjection | None = None
        self.reset()

    @property
    def camera(self) -> CameraModel | None:
        """Return the intrinsics in use (None: the default pinhole)."""
        return self._camera

    def set_camera(self, camera: CameraModel | None) -> None:
        """Use new intrinsics (a camera_info arrived); the projection is rebuilt when needed."""
        if camera != self._camera:
            self._camera = camera
            self._projection = None

    def reset(self) -> None:
        """Forget the lead, the cap and the last detections."""
        self._track = _LeadTrack()
        self._lead_seen = False
        self._cap: float | None = None
        self._last_speed: float | None = None
        self._last_stamp_ns: int | None = None
        self._last_detection_ns: int | None = None
        self._corridor = ''

    def projection(self, width: int, height: int) -> GroundProjection:
        """Return the road projection for images of ``width`` x ``height``."""
        projection = self._projection
        if projection is None or projection.camera.image_size != (width, height):
            cfg = self.config
            if self._camera is not None:
                camera = self._camera.scaled(width, height)
            else:
                camera = CameraModel.pinhole(width, height, cfg.camera_horizontal_fov_deg)
            projection = GroundProjection.from_mounting(
                camera, cfg.camera_height_m, math.radians(cfg.camera_pitch_deg),
                x_m=cfg.camera_x_m)
            self._projection = projection
        return projection

    def in_path_objects(self, detections: Sequence[Detection], image_size: tuple[int, int],
                        steering_rad: float,
                        lane: LaneCorridor | None = None) -> list[GroundObject]:
        """Return the detections in the ego corridor (``lane``'s, else the arc), nearest first."""
        cfg = self.config
        class_ids = None if -1 in cfg.detection_class_ids else cfg.detection_class_ids
        objects = ground_objects(detections, self.projection(*image_size), cfg.camera_x_m,
                                 class_ids, cfg.detection_min_score)
        curvature = math.tan(steering_rad) / cfg.wheelbase_m
        return in_path(objects, curvature, cfg.corridor_half_width_m, cfg.max_object_range_m,
                       lane=lane, blend_m=(cfg.lane_blend_start_m, cfg.lane_blend_end_m))

    def usable_lane(self, lane: LaneCorridor | None, stamp_ns: int) -> LaneCorridor | None:
        """Return ``lane`` if the corridor may follow it at ``stamp_ns``.

        Enabled, fresh, and the car in it, driving along it: a centre line passing more than
        ``lane_max_offset_m`` beside the vehicle origin, or at more than
        ``lane_max_heading_deg`` to the car there, is another lane or a wrong fit.
        """
        cfg = self.config
        if (lane is None or not cfg.corridor_from_lane
                or abs(stamp_ns - lane.stamp_ns) > cfg.lane_max_age_s * 1e9
                or not abs(float(lane.centre(0.0))) <= cfg.lane_max_offset_m
                or not abs(math.degrees(math.atan(lane.heading_at(0.0))))
                <= cfg.lane_max_heading_deg):
            return None
        return lane

    def limit(self, speed_mps: float, steering_rad: float, stamp_ns: int,
              image_size: tuple[int, int], detections: DetectionFrame | None,
              lane: LaneCorridor | None = None) -> GovernorResult:
        """Return the governed speed for the frame stamped ``stamp_ns``.

        ``speed_mps``/``steering_rad``: the (limited) command the controller wants;
        ``image_size``: (width, height) of the frame the detection boxes refer to; ``lane``:
        the latest centre line of the lane detector (None: the corridor follows the steering).
        """
        cfg = self.config
        dt = 0.0 if self._last_stamp_ns is None else max(0.0, (stamp_ns - self._last_stamp_ns)
                                                         / 1e9)
        self._last_stamp_ns = int(stamp_ns)
        fresh = (cfg.governor_enabled and detections is not None
                 and abs(stamp_ns - detections.stamp_ns) <= cfg.detection_max_age_s * 1e9)
        in_path_count = 0
        track = self._track
        if fresh and detections.stamp_ns != self._last_detection_ns:
            self._last_detection_ns = detections.stamp_ns
            usable = self.usable_lane(lane, detections.stamp_ns)
            self._corridor = 'steering' if usable is None else 'lane'
            hits = self.in_path_objects(detections.detections, image_size, steering_rad,
                                        usable)
            in_path_count = len(hits)
            self._lead_seen = bool(hits)
            if hits:
                track.update(hits[0].x_m - cfg.ego_front_m, detections.stamp_ns)
        gap, state = math.nan, ''
        if track.hits:
            if (stamp_ns - track.updated_ns) / 1e9 > cfg.lead_hold_s:
                self._track = track = _LeadTrack()
            elif track.hits < cfg.lead_min_hits:
                state = 'tentative'
            else:
                ego_speed = speed_mps if self._last_speed is None else self._last_speed
                gap = track.predicted(stamp_ns, ego_speed)
                state = 'measured' if self._lead_seen else 'held'
        raw_cap = math.inf
        if state in ('measured', 'held'):
            raw_cap = headway_speed(gap, cfg.time_headway_s, cfg.standstill_gap_m)
        if state == 'measured' and gap < cfg.stop_gap_m:
            cap = 0.0  # seen too close: stop now, no rate limit (a held lead is only a guess)
        else:
            cap = self._next_cap(raw_cap, speed_mps, dt)
        self._cap = cap
        governed = speed_mps if cap is None else min(speed_mps, cap)
        self._last_speed = governed
        return GovernorResult(governed, math.inf if cap is None else cap, gap, state,
                              in_path_count, bool(fresh), self._corridor)

    def _next_cap(self, raw_cap: float, speed_mps: float, dt: float) -> float | None:
        """Rate-limit the cap (None: inactive)."""
        cfg = self.config
        cap = self._cap
        if cap is None:
            if raw_cap >= speed_mps:
                return None
            # engage from the speed last commanded, falling no faster than the decel limit
            previous = speed_mps if self._last_speed is None else self._last_speed
            return max(raw_cap, previous - cfg.speed_cap_decel_mps2 * dt)
        cap = min(max(raw_cap, cap - cfg.speed_cap_decel_mps2 * dt),
                  cap + cfg.speed_cap_accel_mps2 * dt)
        return None if cap >= speed_mps and raw_cap >= speed_mps else cap
