"""Closed-loop evaluation: the controller drives the simulator from its camera frames.

With a detector the speed governor gets that detector's boxes of every frame (the same
frame the controller sees): perception in the loop, never the simulator's ground-truth objects,
which only feed the metrics. The governor's camera model is the simulated camera's calibration
(its camera_info intrinsics and mounting: what a car knows about its own camera). With
``lane_corridor`` the lane detector runs on every frame too and the governor's corridor follows
its centre line, as in the launched graph.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import math
from pathlib import Path
import time
from typing import Any, Callable

import cv2
import numpy as np

from av_perception.control.controller import ControlResult, TemporalController
from av_perception.control.governor import DetectionFrame, LaneCorridor
from av_perception.control_types import DriveCommand
from av_perception.lanes.camera import CameraModel


@dataclass(frozen=True)
class ClosedLoopReport:
    """Summary of one closed-loop drive (``departures``: lane departures of the ego body)."""

    preset: str
    seed: int
    driver: str
    frames: int
    seconds: float
    distance_m: float
    mean_abs_offset_m: float
    max_abs_offset_m: float
    departures: int
    collisions: int
    mean_speed_mps: float
    stop_commands: int
    clipped_commands: int
    mean_latency_ms: float
    p99_latency_ms: float
    governed_frames: int = 0
    mean_detection_ms: float = 0.0
    lane_corridor_frames: int = 0
    mean_lane_ms: float = 0.0

    def to_dict(self) -> dict:
        """JSON form (the issue's keys first)."""
        values = asdict(self)
        head = ('distance_m', 'mean_abs_offset_m', 'max_abs_offset_m', 'departures',
                'collisions')
        rest = {k: v for k, v in values.items() if k not in head}
        return {**{k: values[k] for k in head}, **rest}


def _overlay(image: np.ndarray, result: ControlResult | None, command: DriveCommand,
             offset_m: float, distance_m: float) -> np.ndarray:
    frame = image.copy()
    height, width = frame.shape[:2]
    lines = [f'steer {math.degrees(command.steering_angle):+6.2f} deg  '
             f'speed {command.speed:5.1f} m/s',
             f'offset {offset_m:+5.2f} m  distance {distance_m:6.0f} m']
    governor = result.governor if result is not None else None
    if governor is not None and governor.lead_state:
        cap = f'cap {governor.cap_mps:4.1f} m/s' if governor.limited else 'no cap'
        lines.append(f'lead {governor.lead_gap_m:5.1f} m ({governor.lead_state})  {cap}')
    if result is not None and result.status != 'ok':
        lines.append(result.status)
    for index, text in enumerate(lines):
        y = 22 + 22 * index
        cv2.putText(frame, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3,
                    cv2.LINE_AA)
        cv2.putText(frame, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1,
                    cv2.LINE_AA)
    # steering bar: full width = +-5 degrees, left is positive (REP-103)
    centre = width // 2
    tip = int(centre - np.clip(math.degrees(command.steering_angle) / 5.0, -1, 1) * centre * 0.9)
    cv2.line(frame, (centre, height - 12), (tip, height - 12), (0, 200, 255), 6)
    cv2.line(frame, (centre, height - 20), (centre, height - 4), (255, 255, 255), 2)
    return frame


def drive_closed_loop(controller: TemporalController | None, preset: str, seed: int,
                      seconds: float, distance_m: float | None = None, fps: float = 20.0,
                      size: tuple[int, int] = (640, 360), video_path: str | Path | None = None,
                      progress: Callable[[int], None] | None = None,
                      detector: Any | None = None,
                      lane_corridor: bool = False) -> ClosedLoopReport:
    """Drive ``preset``/``seed`` for ``seconds`` (or until ``distance_m``) and report.

    ``controller`` None lets the simulator's expert drive (the reference). The command of a
    frame is applied for the next frame period, as a real loop would. ``detector`` (anything
    with ``detect(bgr) -> DetectionResult``, e.g. :class:`~av_perception.detection.Detector`)
    feeds the controller's speed governor; None drives without it. ``lane_corridor`` runs the
    lane detector (configured from the simulated camera) on every frame and gives the governor
    its centre line; ``lane_corridor_frames`` counts the detection frames whose corridor
    followed the lane.
    """
    from av_perception.sim import preset_config, Simulator

    base = preset_config(preset)
    needed = max(seconds * base.speed_limit_mps * 1.1, (distance_m or 0.0) * 1.05) \
        + base.max_render_distance_m + 300.0
    config = preset_config(preset, road_length_m=max(base.road_length_m, needed))
    sim = Simulator(config, seed=seed, fps=fps, size=size)
    obs = sim.reset()
    lanes = None
    if controller is not None:
        controller.reset()
        info = obs.camera_info
        camera = CameraModel.from_camera_info(info.width, info.height, info.k, info.d,
                                              info.distortion_model, info.p)
        controller.governor.set_camera(camera)
        if lane_corridor:
            from av_perception.lanes import LaneDetector, LaneDetectorConfig

            lanes = LaneDetector(LaneDetectorConfig(
                camera_height_m=config.camera_height_m,
                camera_pitch_deg=config.camera_pitch_deg, camera_x_m=config.camera_x_m), camera)
    writer = None
    if video_path is not None:
        Path(video_path).parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
        if not writer.isOpened():
            raise ValueError(f'{video_path}: cannot open a video writer (mp4v)')
    latencies, detection_ms, lane_ms, stops, clipped, governed = [], [], [], 0, 0, 0
    lane_frames = 0
    frames = int(round(seconds * fps))
    try:
        for _ in range(frames):
            result = None
            if controller is None:
                command = obs.expert
            else:
                detections = None
                if detector is not None:
                    found = detector.detect(obs.image)
                    detection_ms.append(found.timings.total_ms)
                    detections = DetectionFrame(obs.stamp_ns, found.detections)
                lane = None
                if lanes is not None:
                    started = time.perf_counter()
                    estimate = lanes.process(obs.image, obs.stamp_ns)
                    lane_ms.append((time.perf_counter() - started) * 1e3)
                    if estimate.valid:
                        lane = LaneCorridor.from_curve(obs.stamp_ns,
                                                       estimate.center.coefficients,
                                                       estimate.center.x_range_m)
                result = controller.step(obs.image, obs.stamp_ns, detections=detections,
                                         lane=lane)
                command = result.command
                governed += result.governor is not None and result.governor.limited
                lane_frames += (detections is not None and result.governor is not None
                                and result.governor.corridor == 'lane')
                latencies.append(result.latency_ms)
                stops += result.is_stop
                clipped += result.clipped
            if writer is not None:
                writer.write(_overlay(obs.image, result, command, obs.truth.lateral_offset_m,
                                      sim.metrics().distance_m))
            obs = sim.step(command if controller is not None else None)
            if progress is not None:
                progress(1)
            if distance_m is not None and sim.metrics().distance_m >= distance_m:
                break
    finally:
        if writer is not None:
            writer.release()
    metrics = sim.metrics()
    lat = np.asarray(latencies) if latencies else np.zeros(1)
    return ClosedLoopReport(
        preset, int(seed), 'expert' if controller is None else 'controller', metrics.frames,
        metrics.duration_s, metrics.distance_m, metrics.mean_abs_lateral_offset_m,
        metrics.max_abs_lateral_offset_m, metrics.lane_departures, metrics.collisions,
        metrics.mean_speed_mps, int(stops), int(clipped), float(np.mean(lat)),
        float(np.percentile(lat, 99)), int(governed),
        float(np.mean(detection_ms)) if detection_ms else 0.0, int(lane_frames),
        float(np.mean(lane_ms)) if lane_ms else 0.0)


def sim_camera_mounting(preset: str) -> dict[str, float]:
    """Return the governor's camera mounting parameters for the simulated car of ``preset``."""
    from av_perception.sim import preset_config
    from av_perception.sim.vehicle import EGO_LENGTH_M, EGO_REAR_OVERHANG_M

    config = preset_config(preset)
    return {'camera_height_m': config.camera_height_m,
            'camera_pitch_deg': config.camera_pitch_deg, 'camera_x_m': config.camera_x_m,
            'camera_horizontal_fov_deg': config.hfov_deg, 'wheelbase_m': config.wheelbase_m,
            'ego_front_m': EGO_LENGTH_M - EGO_REAR_OVERHANG_M}
