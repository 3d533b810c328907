"""Other road users: vehicles that keep their lane and pedestrians beside the road.

Everything here is a function of the seed and the simulated time only: the ego vehicle never
influences other road users, so the same seed shows every controller the same world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from av_perception.sim.config import SimConfig
from av_perception.sim.road import Road

CAR, TRUCK, PERSON = 0, 1, 2
COCO_CLASSES = {CAR: (2, 'car'), TRUCK: (7, 'truck'), PERSON: (0, 'person')}

CAR_PAINTS = (  # BGR, roughly the colour shares of real traffic
    (235, 235, 235), (225, 228, 230), (180, 180, 178), (150, 150, 150), (110, 110, 112),
    (40, 40, 42), (30, 30, 32), (55, 40, 30), (120, 60, 30), (35, 35, 150), (40, 40, 175),
    (60, 80, 40), (140, 120, 100), (90, 150, 190), (60, 100, 150))
TRUCK_BOXES = ((228, 228, 228), (222, 224, 226), (214, 216, 218), (196, 198, 200),
               (175, 176, 178), (70, 120, 190), (170, 115, 60), (70, 70, 180))
CLOTHES = ((40, 40, 160), (150, 80, 40), (60, 60, 60), (200, 200, 200), (40, 140, 200),
           (90, 120, 60), (120, 60, 120), (30, 30, 30), (170, 130, 60))
TROUSERS = ((70, 50, 40), (35, 35, 35), (110, 80, 60), (80, 80, 80), (60, 90, 120))
SKIN = ((140, 170, 215), (110, 140, 190), (80, 105, 150), (60, 80, 110), (160, 190, 230))
HAIR = ((30, 30, 35), (40, 60, 90), (60, 100, 150), (20, 20, 20), (150, 150, 150))


@dataclass(frozen=True)
class AgentView:
    """One road user as the renderer and the ground truth need it."""

    track_id: int
    kind: int
    x: float
    y: float
    yaw: float
    length: float
    width: float
    height: float
    colour: tuple[int, int, int]
    colour2: tuple[int, int, int]
    phase: float
    look: int


class Traffic:
    """All other road users, stored as arrays and advanced together."""

    def __init__(self, road: Road, config: SimConfig, rng: np.random.Generator,
                 ego_s: float) -> None:
        """Spawn vehicles along every lane and pedestrians along the verges."""
        self.road = road
        rows: list[tuple] = []
        lanes_own = range(road.oncoming_lanes, road.num_lanes_total)
        lanes_oncoming = range(road.oncoming_lanes)
        for lane in list(lanes_own) + list(lanes_oncoming):
            direction = road.lane_direction(lane)
            density = config.vehicles_per_km if direction > 0 else config.oncoming_per_km
            if density <= 0:
                continue
            mean_gap = 1000.0 / density
            s = float(rng.uniform(0.0, mean_gap))
            while s < road.length:
                ahead = s - ego_s
                blocked = (lane == road.ego_lane and ahead < 45.0) or abs(ahead) < 12.0
                if not blocked:
                    truck = rng.random() < config.truck_fraction
                    rows.append(self._vehicle(rng, config, lane, direction, s, truck))
                s += max(28.0, float(rng.exponential(mean_gap)))
        if config.pedestrians_per_km > 0:
            mean_gap = 1000.0 / config.pedestrians_per_km
            s = float(rng.uniform(0.0, mean_gap))
            while s < road.length:
                if abs(s - ego_s) > 15.0:
                    rows.append(self._pedestrian(rng, road, s))
                s += float(rng.exponential(mean_gap)) + 2.0
        count = len(rows)
        columns = list(zip(*rows)) if rows else [()] * 13
        (kind, lane, direction, s, d, speed, length, width, height, colour, colour2,
         phase, look) = columns
        self.kind = np.array(kind, dtype=np.int64)
        self.lane = np.array(lane, dtype=np.int64)
        self.direction = np.array(direction, dtype=np.float64)
        self.s = np.array(s, dtype=np.float64)
        self.d = np.array(d, dtype=np.float64)
        self.desired_speed = np.array(speed, dtype=np.float64)
        self.speed = self.desired_speed.copy()
        self.length = np.array(length, dtype=np.float64)
        self.width = np.array(width, dtype=np.float64)
        self.height = np.array(height, dtype=np.float64)
        self.colour = [tuple(int(c) for c in col) for col in colour]
        self.colour2 = [tuple(int(c) for c in col) for col in colour2]
        self.phase = np.array(phase, dtype=np.float64)
        self.look = np.array(look, dtype=np.int64)
        self.track_id = np.arange(1, count + 1)
        # Vehicles never change lanes or overtake within a lane, so who follows whom is
        # fixed: find each vehicle's leader once.
        self.leader = np.full(count, -1, dtype=np.int64)
        self._lane_order: dict[int, np.ndarray] = {}
        vehicles = self.kind != PERSON
        for lane_id in np.unique(self.lane[vehicles]) if count else []:
            members = np.flatnonzero(vehicles & (self.lane == lane_id))
            order = members[np.argsort(self.s[members] * self.direction[members])]
            self.leader[order[:-1]] = order[1:]
            self._lane_order[int(lane_id)] = order
        self._vehicles = vehicles

    @staticmethod
    def _vehicle(rng: np.random.Generator, config: SimConfig, lane: int, direction: int,
                 s: float, truck: bool) -> tuple:
        speed = float(rng.uniform(*config.traffic_speed_range_mps))
        if truck:
            speed = min(speed, max(config.traffic_speed_range_mps[0], 24.0))
            length = float(rng.uniform(9.0, 13.0))
            size = (length, 2.5, float(rng.uniform(3.5, 4.0)))
            colour = TRUCK_BOXES[int(rng.integers(len(TRUCK_BOXES)))]
            colour2 = CAR_PAINTS[int(rng.integers(len(CAR_PAINTS)))]
        else:
            size = (float(rng.uniform(4.2, 4.9)), float(rng.uniform(1.75, 1.9)),
                    float(rng.uniform(1.4, 1.6)))
            colour = CAR_PAINTS[int(rng.integers(len(CAR_PAINTS)))]
            colour2 = colour
        d_jitter = float(rng.normal(0.0, 0.12))
        return (TRUCK if truck else CAR, lane, direction, s, d_jitter, speed, *size, colour,
                colour2, float(rng.uniform(0.0, 1.0)), int(rng.integers(1 << 30)))

    @staticmethod
    def _pedestrian(rng: np.random.Generator, road: Road, s: float) -> tuple:
        side = 1.0 if rng.random() < 0.3 else -1.0
        d = side * (road.half_width + road.shoulder_width + float(rng.uniform(0.8, 3.5)))
        walking = rng.random() < 0.7
        speed = float(rng.uniform(0.8, 1.6)) if walking else 0.0
        direction = float(rng.choice((-1.0, 1.0)))
        clothes = CLOTHES[int(rng.integers(len(CLOTHES)))]
        trousers = TROUSERS[int(rng.integers(len(TROUSERS)))]
        height = float(rng.uniform(1.6, 1.9))
        return (PERSON, -1, direction, s, d, speed, 0.5, 0.5, height, clothes, trousers,
                float(rng.uniform(0.0, 1.0)), int(rng.integers(1 << 30)))

    def __len__(self) -> int:
        """Return the number of road users."""
        return len(self.s)

    def advance(self, dt: float) -> None:
        """Move everyone by ``dt`` seconds; vehicles slow down behind slower ones."""
        if len(self) == 0:
            return
        has_leader = self.leader >= 0
        lead = np.where(has_leader, self.leader, 0)
        gap = np.where(has_leader, (self.s[lead] - self.s) * self.direction
                       - 0.5 * (self.length[lead] + self.length), np.inf)
        speed = self.speed
        safe = 6.0 + 1.8 * speed
        target = np.minimum(self.desired_speed,
                            np.where(gap < safe, self.speed[lead] + 0.4 * (gap - safe),
                                     np.inf))
        accel = np.clip(1.2 * (target - speed), -6.0, 1.2)
        new_speed = np.maximum(0.0, speed + accel * dt)
        people = ~self._vehicles
        new_speed[people] = self.desired_speed[people]
        self.speed = new_speed
        self.phase[people] += self.speed[people] * dt / 1.4  # one stride cycle per 1.4 m
        self.s += self.direction * self.speed * dt

    def lead_vehicle(self, lane: int, ego_s: float) -> tuple[float, float] | None:
        """Return ``(rear_s, speed)`` of the nearest vehicle ahead in ``lane``, if any."""
        order = self._lane_order.get(int(lane))
        if order is None or self.direction[order[0]] < 0:
            return None
        k = int(np.searchsorted(self.s[order], ego_s, side='right'))
        if k >= len(order):
            return None
        index = order[k]
        return float(self.s[index] - 0.5 * self.length[index]), float(self.speed[index])

    def nearby(self, s: float, behind: float, ahead: float) -> np.ndarray:
        """Return indices of road users whose centre lies in ``[s - behind, s + ahead]``."""
        return np.flatnonzero((self.s >= s - behind) & (self.s <= s + ahead)
                              & (self.s > 0.0) & (self.s < self.road.length))

    def views(self, indices: np.ndarray) -> list[AgentView]:
        """World poses and looks of the given road users."""
        if len(indices) == 0:
            return []
        s = self.s[indices]
        lane_d = np.array([self.road.lane_center_d(int(lane)) if lane >= 0 else 0.0
                           for lane in self.lane[indices]])
        d = lane_d + self.d[indices]
        x, y = self.road.point_at(s, d)
        _, _, heading = self.road.pose_at(s)
        yaw = np.where(self.direction[indices] > 0, heading, heading + np.pi)
        out = []
        for j, i in enumerate(indices):
            out.append(AgentView(int(self.track_id[i]), int(self.kind[i]), float(x[j]),
                                 float(y[j]), float(yaw[j]), float(self.length[i]),
                                 float(self.width[i]), float(self.height[i]), self.colour[i],
                                 self.colour2[i], float(self.phase[i]), int(self.look[i])))
        return out

    def footprints_sd(self, indices: np.ndarray) -> np.ndarray:
        """Axis-aligned boxes ``(s_min, s_max, d_min, d_max)`` in road coordinates (N, 4)."""
        s = self.s[indices]
        lane_d = np.array([self.road.lane_center_d(int(lane)) if lane >= 0 else 0.0
                           for lane in self.lane[indices]])
        d = lane_d + self.d[indices]
        half_l = 0.5 * self.length[indices]
        half_w = 0.5 * self.width[indices]
        return np.stack([s - half_l, s + half_l, d - half_w, d + half_w], axis=1)
