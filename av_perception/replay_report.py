"""Metrics, plots, annotated video and HTML report of a replay (pure: numpy, OpenCV, matplotlib).

Input is :class:`ReplayData`, plain arrays per frame that the ROS replay extracts from the
messages it collected; nothing here knows about ROS.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
import html
import io
import json
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import cv2
import numpy as np

from av_perception.evaluation import (Box, DetectionScore, finite_or_none, LaneScore,
                                      percentiles, rmse, scoring_class, split_by_height)

MIN_TRUTH_HEIGHT_PX = 40
NODE_COLOURS = {'lane_detector': '#2a9d8f', 'object_detector': '#e76f51',
                'temporal_controller': '#264653'}


@dataclass
class FrameResult:
    """What the nodes produced for one frame, next to the ground truth of the bag."""

    index: int
    stamp_ns: int
    lane_center: np.ndarray | None = None
    lane_left: np.ndarray | None = None
    lane_right: np.ndarray | None = None
    detections: list[tuple[Box, float]] = field(default_factory=list)
    command: tuple[float, float] | None = None
    truth_center: np.ndarray | None = None
    truth_boxes: list[Box] | None = None
    expert: tuple[float, float] | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    processing_ms: dict[str, float] = field(default_factory=dict)
    end_to_end_ms: float | None = None


@dataclass
class ReplayData:
    """A whole replay: frames, mode, nodes, drops, timing and node facts (provider, model)."""

    bag: str
    mode: str
    nodes: list[str]
    frames: list[FrameResult]
    drops: dict[str, int]
    wall_time_s: float
    node_info: dict[str, dict[str, Any]] = field(default_factory=dict)


def compute_metrics(data: ReplayData) -> dict[str, Any]:
    """Return the metrics.json document of a replay."""
    frames = data.frames
    metrics: dict[str, Any] = {
        'bag': data.bag, 'mode': data.mode, 'frames': len(frames), 'nodes': data.nodes,
        'wall_time_s': data.wall_time_s,
        'frames_per_second': len(frames) / data.wall_time_s if data.wall_time_s else None,
        'drops': dict(data.drops), 'latency_ms': {}, 'processing_ms': {},
        'node_info': data.node_info,
    }
    for node in data.nodes:
        metrics['latency_ms'][node] = percentiles(f.latency_ms.get(node, math.nan)
                                                  for f in frames)
        metrics['processing_ms'][node] = percentiles(f.processing_ms.get(node, math.nan)
                                                     for f in frames)
        metrics['latency_ms'][node]['frames_with_output'] = sum(
            1 for f in frames if node in f.latency_ms)
    metrics['end_to_end_ms'] = percentiles(
        f.end_to_end_ms for f in frames if f.end_to_end_ms is not None)
    own = [sum(f.processing_ms.values()) for f in frames
           if f.end_to_end_ms is not None and len(f.processing_ms) == len(data.nodes)]
    e2e = [f.end_to_end_ms for f in frames
           if f.end_to_end_ms is not None and len(f.processing_ms) == len(data.nodes)]
    metrics['plumbing_ratio'] = (float(np.median(e2e) / np.median(own))
                                 if own and np.median(own) > 0 else None)
    lanes = LaneScore()
    for f in frames:
        if f.truth_center is not None and 'lane_detector' in data.nodes:
            lanes.add_frame(f.lane_center, f.truth_center)
    if lanes.frames:
        metrics['lanes'] = {'accuracy': lanes.accuracy, 'frames_scored': lanes.frames,
                            'missing': lanes.missing,
                            'median_offset_error_m': lanes.median_offset_error_m,
                            'definition': 'centre line within 0.2 m of the truth at 5, 10, 15 '
                                          'and 20 m ahead'}
    detection = DetectionScore()
    for f in frames:
        if f.truth_boxes is not None and 'object_detector' in data.nodes:
            required, ignored = split_by_height(f.truth_boxes, MIN_TRUTH_HEIGHT_PX)
            predicted = [Box(scoring_class(box.class_id), box.xyxy) for box, _ in f.detections]
            detection.add_frame(predicted, required, ignored=ignored)
    if detection.true_positives + detection.false_negatives:
        metrics['detection'] = {'recall': detection.recall, 'precision': detection.precision,
                                'iou_threshold': 0.5, 'true_positives': detection.true_positives,
                                'false_positives': detection.false_positives,
                                'false_negatives': detection.false_negatives,
                                'definition': f'truth boxes >= {MIN_TRUTH_HEIGHT_PX} px tall '
                                              'required, smaller ones ignored; car, bus and '
                                              'truck scored as one vehicle class'}
    paired = [(f.command, f.expert) for f in frames if f.command and f.expert]
    if paired:
        metrics['control'] = {
            'steering_rmse_rad': rmse([c[0] for c, _ in paired], [e[0] for _, e in paired]),
            'speed_rmse_mps': rmse([c[1] for c, _ in paired], [e[1] for _, e in paired]),
            'frames_scored': len(paired)}
    return finite_or_none(metrics)


# --- plots ----------------------------------------------------------------------------------

def _figure_png(draw: Callable[[Any], None], size=(7.0, 3.2)) -> bytes:
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot
    figure, axes = pyplot.subplots(figsize=size, dpi=100)
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format='png')
    finally:
        pyplot.close(figure)
    return buffer.getvalue()


def make_plots(data: ReplayData) -> dict[str, bytes]:
    """Return the report's plots as PNG bytes by name."""
    frames = data.frames
    seconds = np.array([(f.stamp_ns - frames[0].stamp_ns) / 1e9 for f in frames]) \
        if frames else np.zeros(0)
    plots = {}

    def latency(axes):
        for node in data.nodes:
            values = [f.processing_ms[node] for f in frames if node in f.processing_ms]
            if values:
                axes.hist(values, bins=40, alpha=0.6, label=f'{node} (own)',
                          color=NODE_COLOURS.get(node))
        e2e = [f.end_to_end_ms for f in frames if f.end_to_end_ms is not None]
        if e2e:
            axes.hist(e2e, bins=40, histtype='step', color='black', label='end to end')
        axes.set_xlabel('milliseconds per frame')
        axes.set_ylabel('frames')
        axes.legend(fontsize=8)
        axes.set_title('Latency per node and end to end')
    plots['latency'] = _figure_png(latency)

    if any(f.command for f in frames):
        for name, column, label, scale in (('steering', 0, 'steering (deg)', math.degrees),
                                           ('speed', 1, 'speed (m/s)', float)):
            plots[name] = _figure_png(
                lambda axes, column=column, label=label, scale=scale: _command_series(
                    axes, seconds, frames, column, label, scale))
    if 'lane_detector' in data.nodes:
        def offset(axes):
            axes.plot(seconds, [_offset(f.lane_center) for f in frames], label='detected',
                      color='#2a9d8f')
            if any(f.truth_center is not None for f in frames):
                axes.plot(seconds, [_offset(f.truth_center) for f in frames], label='truth',
                          color='black', linestyle='--')
            axes.set_xlabel('bag time (s)')
            axes.set_ylabel('lateral offset (m)')
            axes.legend(fontsize=8)
            axes.set_title('Vehicle offset from the lane centre (positive: left of centre)')
        plots['lateral_offset'] = _figure_png(offset)

    if 'object_detector' in data.nodes:
        def detections(axes):
            axes.plot(seconds, [len(f.detections) for f in frames], label='detected',
                      color='#e76f51', drawstyle='steps-mid')
            if any(f.truth_boxes is not None for f in frames):
                axes.plot(seconds, [len(f.truth_boxes or []) for f in frames],
                          label='ground truth', color='black', linestyle='--',
                          drawstyle='steps-mid')
            axes.set_xlabel('bag time (s)')
            axes.set_ylabel('objects')
            axes.legend(fontsize=8)
            axes.set_title('Detections per frame')
        plots['detections'] = _figure_png(detections)
    return plots


def _command_series(axes: Any, seconds: np.ndarray, frames: Sequence[FrameResult],
                    column: int, label: str, scale: Callable[[float], float]) -> None:
    """Plot one command column (0 steering, 1 speed) of the controller and of the bag."""
    axes.plot(seconds, [scale(f.command[column]) if f.command else np.nan for f in frames],
              label='controller', color='#264653')
    if any(f.expert for f in frames):
        axes.plot(seconds, [scale(f.expert[column]) if f.expert else np.nan for f in frames],
                  label='bag command (expert)', color='#e9c46a', linestyle='--')
    axes.set_xlabel('bag time (s)')
    axes.set_ylabel(label)
    axes.legend(fontsize=8)
    axes.set_title(label.split(' (')[0].capitalize())


def _offset(points: np.ndarray | None) -> float:
    """Return minus the centre line's y at the vehicle (the vehicle's offset from it)."""
    if points is None or len(points) < 2:
        return math.nan
    order = np.argsort(points[:, 0])
    return -float(np.interp(0.0, points[order, 0], points[order, 1]))


# --- report ---------------------------------------------------------------------------------

def write_report(path: Path, data: ReplayData, metrics: dict[str, Any],
                 plots: dict[str, bytes], video_name: str | None = None) -> None:
    """Write a self-contained HTML report (plots embedded)."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f'{value:.3f}'
        return html.escape(str(value))

    rows = []
    for node in data.nodes:
        lat, own = metrics['latency_ms'][node], metrics['processing_ms'][node]
        rows.append(f'<tr><td>{node}</td><td>{cell(own["p50"])}</td><td>{cell(own["p95"])}'
                    f'</td><td>{cell(lat["p50"])}</td><td>{cell(lat["p95"])}</td><td>'
                    f'{lat["frames_with_output"]}</td><td>{data.drops.get(node, 0)}</td></tr>')
    scores = []
    for section in ('lanes', 'detection', 'control'):
        for key, value in (metrics.get(section) or {}).items():
            scores.append(f'<tr><td>{section}</td><td>{key}</td><td>{cell(value)}</td></tr>')
    images = ''.join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode()}" '
        f'alt="{name}"><figcaption>{name.replace("_", " ")}</figcaption></figure>'
        for name, png in plots.items())
    video = (f'<p>Annotated video: <a href="{video_name}">{video_name}</a></p>'
             if video_name else '')
    info = ''.join(f'<li>{node}: {html.escape(json.dumps(values))}</li>'
                   for node, values in data.node_info.items())
    e2e = metrics['end_to_end_ms']
    document = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>av_perception replay report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}
figure{{display:inline-block;margin:0.5em}}img{{max-width:520px}}</style></head><body>
<h1>Replay report</h1>
<p>Bag <code>{html.escape(data.bag)}</code>, mode <b>{data.mode}</b>, {metrics['frames']}
frames in {data.wall_time_s:.1f} s ({cell(metrics['frames_per_second'])} frames/s).
End-to-end latency p50 {cell(e2e['p50'])} ms, p95 {cell(e2e['p95'])} ms; end-to-end over
the sum of the nodes' own processing (median): {cell(metrics['plumbing_ratio'])}.</p>
{video}
<h2>Nodes</h2>
<table><tr><th>node</th><th>own p50 ms</th><th>own p95 ms</th><th>observed p50 ms</th>
<th>observed p95 ms</th><th>frames with output</th><th>drops</th></tr>{''.join(rows)}</table>
<ul>{info}</ul>
<h2>Scores against the bag's ground truth</h2>
<table><tr><th>what</th><th>metric</th><th>value</th></tr>{''.join(scores) or
'<tr><td colspan=3>no ground truth in the bag</td></tr>'}</table>
<h2>Plots</h2>{images}
</body></html>
"""
    path.write_text(document)


# --- annotated video ------------------------------------------------------------------------

def annotate_frame(image: np.ndarray, frame: FrameResult,
                   to_image: Callable[[np.ndarray], np.ndarray] | None,
                   class_names: Sequence[str] = ()) -> np.ndarray:
    """Return the frame with lanes, boxes, and steering/speed gauges drawn on it."""
    canvas = image.copy()
    height, width = canvas.shape[:2]
    if to_image is not None:
        for points, colour in ((frame.lane_left, (255, 120, 40)),
                               (frame.lane_right, (40, 80, 255)),
                               (frame.lane_center, (60, 220, 60))):
            if points is not None and len(points) > 1:
                pixels = to_image(points)
                pixels = pixels[np.all(np.isfinite(pixels), axis=1)]
                if len(pixels) > 1:
                    cv2.polylines(canvas, [np.round(pixels).astype(np.int32)], False, colour, 2,
                                  cv2.LINE_AA)
    for box, score in frame.detections:
        x1, y1, x2, y2 = (int(round(v)) for v in box.xyxy)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 200, 255), 2)
        name = class_names[box.class_id] if box.class_id < len(class_names) else str(
            box.class_id)
        cv2.putText(canvas, f'{name} {score:.2f}', (x1, max(12, y1 - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 200, 255), 1, cv2.LINE_AA)
    _gauges(canvas, frame.command, frame.expert, width, height)
    return canvas


def _gauges(canvas: np.ndarray, command: tuple[float, float] | None,
            expert: tuple[float, float] | None, width: int, height: int) -> None:
    """Steering wheel dial (controller solid, expert dashed) and a speed bar, bottom left."""
    centre, radius = (60, height - 60), 45
    cv2.circle(canvas, centre, radius, (255, 255, 255), 2, cv2.LINE_AA)
    for value, colour in ((expert, (0, 215, 255)), (command, (255, 255, 255))):
        if value is None:
            continue
        angle = -value[0] * 4.0  # wheel turns ~4x the road wheel; positive steer turns left
        tip = (int(centre[0] + radius * math.sin(angle)),
               int(centre[1] - radius * math.cos(angle)))
        cv2.line(canvas, centre, tip, colour, 3, cv2.LINE_AA)
    if command is not None:
        speed = max(0.0, min(1.0, command[1] / 40.0))
        cv2.rectangle(canvas, (120, height - 20), (120 + int(150 * speed), height - 10),
                      (255, 255, 255), -1)
        cv2.putText(canvas, f'{command[1]:.1f} m/s  {math.degrees(command[0]):+.1f} deg',
                    (120, height - 28), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)


def write_video(path: Path, images: Iterable[np.ndarray], fps: float) -> int:
    """Write BGR frames to an mp4 file; return the number written."""
    writer = None
    count = 0
    try:
        for image in images:
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                         (image.shape[1], image.shape[0]))
            writer.write(image)
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count
