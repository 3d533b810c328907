"""Road geometry: a reference line of straight, clothoid and arc segments, lanes, markings.

World frame: x east, y north, metres; headings counter-clockwise from +x. Road coordinates:
``s`` arc length along the reference line, ``d`` lateral offset, positive to the left of the
driving direction. Lanes are numbered from the left road edge (0) to the right; lane boundaries
likewise (0 = left road edge, ``num_lanes_total`` = right road edge).
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from av_perception.sim.config import SimConfig, SimulationError

SAMPLE_STEP_M = 0.25  # spacing of the stored reference-line samples
DASH_LENGTH_M = 3.0
DASH_GAP_M = 9.0
START_STRAIGHT_M = (150.0, 250.0)


@dataclass(frozen=True)
class Segment:
    """One piece of the reference line: curvature changes linearly from start to end."""

    length: float
    curvature_start: float
    curvature_end: float


@dataclass(frozen=True)
class BoundaryMarking:
    """How one lane boundary is painted.

    ``kind`` is one of :data:`av_perception.sim.config.MARKINGS`; ``missing`` and ``worn`` are
    sorted, disjoint ``(s_start, s_end)`` stretches; ``dash_phase`` shifts the dash pattern.
    """

    kind: str
    d: float
    dash_phase: float
    missing: tuple[tuple[float, float], ...]
    worn: tuple[tuple[float, float], ...]

    @property
    def dashed(self) -> bool:
        """Whether the marking is a dashed line."""
        return self.kind.startswith('dashed')

    @property
    def colour_name(self) -> str:
        """Return 'white', 'yellow' or 'none'."""
        if self.kind == 'none':
            return 'none'
        return 'yellow' if 'yellow' in self.kind else 'white'

    def painted(self, s: np.ndarray) -> np.ndarray:
        """Return whether paint exists at arc lengths ``s`` (dash gaps and missing excluded)."""
        s = np.asarray(s, dtype=np.float64)
        if self.kind == 'none':
            return np.zeros(s.shape, dtype=bool)
        paint = np.ones(s.shape, dtype=bool)
        if self.dashed:
            phase = np.mod(s - self.dash_phase, DASH_LENGTH_M + DASH_GAP_M)
            paint &= phase < DASH_LENGTH_M
        return paint & ~_in_intervals(s, self.missing)

    def wear(self, s: np.ndarray) -> np.ndarray:
        """Return whether the paint at ``s`` is worn (faded)."""
        return _in_intervals(np.asarray(s, dtype=np.float64), self.worn)


def _in_intervals(s: np.ndarray, intervals: tuple[tuple[float, float], ...]) -> np.ndarray:
    if not intervals:
        return np.zeros(s.shape, dtype=bool)
    starts = np.array([a for a, _ in intervals])
    ends = np.array([b for _, b in intervals])
    index = np.searchsorted(starts, s, side='right') - 1
    valid = index >= 0
    inside = np.zeros(s.shape, dtype=bool)
    inside[valid] = s[valid] < ends[index[valid]]
    return inside


def generate_segments(rng: np.random.Generator, config: SimConfig) -> list[Segment]:
    """Draw a chain of segments at least ``config.road_length_m`` long.

    Curves are clothoid-arc-clothoid groups; their share of the length approaches
    ``config.curve_fraction``. Arcs turn at most 90 degrees so the road never doubles back
    within view of the camera.
    """
    total = config.road_length_m
    segments = [Segment(float(rng.uniform(*START_STRAIGHT_M)), 0.0, 0.0)]
    length = segments[0].length
    fraction = config.curve_fraction if config.max_curvature > 0 else 0.0
    curvature = 0.0
    while length < total:
        if fraction <= 0.0:
            segments.append(Segment(total - length + 10.0, 0.0, 0.0))
            break
        magnitude = config.max_curvature * float(rng.uniform(0.45, 1.0))
        sign = float(rng.choice((-1.0, 1.0)))
        target = sign * magnitude
        transition = float(rng.uniform(30.0, 90.0))
        arc = min(float(rng.uniform(60.0, 300.0)), 0.5 * math.pi / magnitude)
        group = [Segment(transition, curvature, target), Segment(arc, target, target)]
        curve_length = transition + arc
        mean_straight = (curve_length + transition) * (1.0 - fraction) / fraction
        straight = float(rng.exponential(mean_straight)) if mean_straight > 0 else 0.0
        if straight >= 20.0:
            group += [Segment(transition, target, 0.0), Segment(straight, 0.0, 0.0)]
            curvature = 0.0
        else:
            curvature = target  # S-curve: the next transition starts from this curvature
        segments += group
        length += sum(seg.length for seg in group)
    if curvature != 0.0:
        segments.append(Segment(60.0, curvature, 0.0))
    return segments


class Road:
    """Sampled reference line with lanes and markings, plus lookups between frames."""

    def __init__(self, segments: list[Segment], lane_width: float, num_lanes: int,
                 oncoming_lanes: int, markings: tuple[BoundaryMarking, ...],
                 shoulder_width: float, ego_lane: int) -> None:
        """Integrate the segments into samples; see :func:`build_road` for the usual entry."""
        self.segments = tuple(segments)
        self.lane_width = float(lane_width)
        self.num_lanes = int(num_lanes)
        self.oncoming_lanes = int(oncoming_lanes)
        self.markings = markings
        self.shoulder_width = float(shoulder_width)
        self.ego_lane = int(ego_lane)
        self.s, self.x, self.y, self.heading, self.curvature = _integrate(segments)
        self.length = float(self.s[-1])

    @property
    def num_lanes_total(self) -> int:
        """Lanes of both directions."""
        return self.num_lanes + self.oncoming_lanes

    @property
    def half_width(self) -> float:
        """Distance from the reference line to either outer road edge (edge line centre)."""
        return 0.5 * self.num_lanes_total * self.lane_width

    def boundary_d(self, index: int) -> float:
        """Lateral position of lane boundary ``index`` (0 = left road edge)."""
        return self.half_width - index * self.lane_width

    def lane_center_d(self, lane: int) -> float:
        """Lateral position of the centre of lane ``lane`` (0 = leftmost lane)."""
        return self.half_width - (lane + 0.5) * self.lane_width

    def lane_direction(self, lane: int) -> int:
        """+1 for lanes driven in the direction of increasing s, -1 for oncoming lanes."""
        return -1 if lane < self.oncoming_lanes else 1

    def pose_at(self, s: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return world ``(x, y, heading)`` of the reference line at arc lengths ``s``."""
        s = np.clip(np.asarray(s, dtype=np.float64), 0.0, self.length)
        index = np.minimum((s / SAMPLE_STEP_M).astype(np.int64), len(self.s) - 2)
        t = (s - self.s[index]) / SAMPLE_STEP_M
        heading = self.heading[index] + t * (self.heading[index + 1] - self.heading[index])
        x = self.x[index] + t * (self.x[index + 1] - self.x[index])
        y = self.y[index] + t * (self.y[index + 1] - self.y[index])
        return x, y, heading

    def curvature_at(self, s: np.ndarray | float) -> np.ndarray:
        """Return the reference-line curvature (1/m, positive turns left) at ``s``."""
        return np.interp(s, self.s, self.curvature)

    def point_at(self, s: np.ndarray | float, d: np.ndarray | float
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Return world ``(x, y)`` of road coordinates ``(s, d)``."""
        x, y, heading = self.pose_at(s)
        return x - np.sin(heading) * d, y + np.cos(heading) * d

    def project(self, x: float, y: float, s_hint: float, window: float = 12.0
                ) -> tuple[float, float]:
        """Return road coordinates ``(s, d)`` of the world point nearest to ``s_hint``."""
        lo = max(0, int((s_hint - window) / SAMPLE_STEP_M))
        hi = min(len(self.s), int((s_hint + window) / SAMPLE_STEP_M) + 2)
        if hi - lo < 2:
            raise SimulationError(f'position s={s_hint:.1f} m is off the road '
                                  f'(length {self.length:.1f} m)')
        dx = x - self.x[lo:hi]
        dy = y - self.y[lo:hi]
        i = lo + int(np.argmin(dx * dx + dy * dy))
        heading = self.heading[i]
        ex, ey = x - self.x[i], y - self.y[i]
        along = ex * math.cos(heading) + ey * math.sin(heading)
        s = float(np.clip(self.s[i] + along, 0.0, self.length))
        px, py, ph = self.pose_at(s)
        d = (x - float(px)) * -math.sin(float(ph)) + (y - float(py)) * math.cos(float(ph))
        return s, float(d)


def _integrate(segments: list[Segment]) -> tuple[np.ndarray, ...]:
    """Sample curvature, heading and position along the chained segments."""
    total = sum(seg.length for seg in segments)
    s = np.arange(0.0, total + SAMPLE_STEP_M, SAMPLE_STEP_M)
    bounds = np.cumsum([0.0] + [seg.length for seg in segments])
    index = np.clip(np.searchsorted(bounds, s, side='right') - 1, 0, len(segments) - 1)
    k0 = np.array([seg.curvature_start for seg in segments])[index]
    k1 = np.array([seg.curvature_end for seg in segments])[index]
    lengths = np.array([seg.length for seg in segments])[index]
    local = np.clip(s - bounds[index], 0.0, lengths)
    curvature = k0 + (k1 - k0) * local / lengths
    # exact heading integral within each segment, continuous across segments
    seg_turn = np.array([0.5 * (seg.curvature_start + seg.curvature_end) * seg.length
                         for seg in segments])
    start_heading = np.concatenate(([0.0], np.cumsum(seg_turn)))[index]
    heading = start_heading + k0 * local + 0.5 * (k1 - k0) * local ** 2 / lengths
    # position: trapezoid on the unit tangent (heading is smooth at this spacing)
    cos_h, sin_h = np.cos(heading), np.sin(heading)
    x = np.concatenate(([0.0], np.cumsum(0.5 * (cos_h[1:] + cos_h[:-1]) * SAMPLE_STEP_M)))
    y = np.concatenate(([0.0], np.cumsum(0.5 * (sin_h[1:] + sin_h[:-1]) * SAMPLE_STEP_M)))
    return s, x, y, heading, curvature


def _stretches(rng: np.random.Generator, length: float, fraction: float,
               mean_length: float) -> tuple[tuple[float, float], ...]:
    """Random disjoint stretches covering about ``fraction`` of ``[0, length]``."""
    if fraction <= 0.0:
        return ()
    if fraction >= 1.0:
        return ((0.0, length + 1.0),)
    mean_gap = mean_length * (1.0 - fraction) / fraction
    out = []
    s = float(rng.exponential(mean_gap))
    while s < length:
        span = float(rng.exponential(mean_length)) + 2.0
        out.append((s, s + span))
        s += span + float(rng.exponential(mean_gap)) + 2.0
    return tuple(out)


def build_road(config: SimConfig, rng: np.random.Generator) -> Road:
    """Draw a complete road (geometry, lanes, markings) from ``config`` with ``rng``."""
    num_lanes = int(rng.integers(config.num_lanes_range[0], config.num_lanes_range[1] + 1))
    lane_width = float(rng.uniform(*config.lane_width_range_m))
    segments = generate_segments(rng, config)
    total_lanes = num_lanes + config.oncoming_lanes
    kinds = []
    for index in range(total_lanes + 1):
        if index == total_lanes:
            kind = config.right_edge_marking
        elif index == config.oncoming_lanes:
            kind = config.left_edge_marking
        elif index == 0:
            kind = 'solid_white'  # outer edge of the oncoming lanes
        else:
            # between lanes of one direction
            kind = config.lane_marking
        kinds.append(kind)
    length = sum(seg.length for seg in segments)
    half = 0.5 * total_lanes * lane_width
    markings = []
    for index, kind in enumerate(kinds):
        markings.append(BoundaryMarking(
            kind=kind, d=half - index * lane_width,
            dash_phase=float(rng.uniform(0.0, DASH_LENGTH_M + DASH_GAP_M)),
            missing=_stretches(rng, length, config.marking_missing, 25.0),
            worn=_stretches(rng, length, config.marking_wear, 40.0)))
    own_lanes = list(range(config.oncoming_lanes, total_lanes))
    if config.ego_lane == 'rightmost':
        ego_lane = own_lanes[-1]
    elif config.ego_lane == 'leftmost':
        ego_lane = own_lanes[0]
    else:
        ego_lane = int(rng.choice(own_lanes))
    return Road(segments, lane_width, num_lanes, config.oncoming_lanes, tuple(markings),
                config.shoulder_width_m, ego_lane)
