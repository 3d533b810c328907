"""Replay metrics, plots, HTML report and annotated video from plain per-frame data."""

import json

import cv2
import numpy as np
import pytest

from av_perception.evaluation import Box
from av_perception.replay_report import (annotate_frame, compute_metrics, FrameResult,
                                         make_plots, ReplayData, write_report, write_video)

NODES = ['lane_detector', 'object_detector', 'temporal_controller']


def make_data(frames: int = 20) -> ReplayData:
    """Return a replay where the lane is 0.05 m off, one vehicle is found, steering lags."""
    results = []
    for i in range(frames):
        centre = np.array([[3.0, 0.1], [30.0, 0.1]])
        results.append(FrameResult(
            index=i, stamp_ns=10**9 + i * 50_000_000,
            lane_center=centre + [0.0, 0.05], lane_left=centre + [0, 1.8],
            lane_right=centre - [0, 1.8],
            detections=[(Box(7, (10, 10, 60, 70)), 0.8)],
            command=(0.01 * i, 10.0), truth_center=np.array([[0.0, 0.1], [40.0, 0.1]]),
            truth_boxes=[Box(2, (12, 10, 60, 70)), Box(0, (200, 200, 204, 210))],
            expert=(0.01 * i + 0.02, 11.0),
            latency_ms={'lane_detector': 5.0, 'object_detector': 25.0,
                        'temporal_controller': 30.0},
            processing_ms={'lane_detector': 2.0, 'object_detector': 18.0,
                           'temporal_controller': 4.0},
            end_to_end_ms=30.0))
    return ReplayData('drive.mcap', 'lockstep', NODES, results,
                      dict.fromkeys(NODES, 0), wall_time_s=1.0,
                      node_info={'object_detector': {'provider': 'CPUExecutionProvider'}})


def test_metrics_document():
    metrics = compute_metrics(make_data())
    assert metrics['frames'] == 20 and metrics['frames_per_second'] == 20.0
    assert metrics['processing_ms']['object_detector'] == {'p50': 18.0, 'p95': 18.0}
    assert metrics['latency_ms']['lane_detector']['frames_with_output'] == 20
    assert metrics['end_to_end_ms']['p95'] == 30.0
    assert metrics['plumbing_ratio'] == pytest.approx(30.0 / 24.0)
    assert metrics['lanes']['accuracy'] == 1.0
    assert metrics['lanes']['median_offset_error_m'] == pytest.approx(0.05)
    assert metrics['detection']['recall'] == 1.0 and metrics['detection']['precision'] == 1.0
    assert metrics['control']['steering_rmse_rad'] == pytest.approx(0.02)
    assert metrics['control']['speed_rmse_mps'] == pytest.approx(1.0)
    json.dumps(metrics)  # JSON-safe


def test_plots_report_and_video(tmp_path):
    data = make_data()
    plots = make_plots(data)
    assert set(plots) == {'latency', 'steering', 'speed', 'lateral_offset', 'detections'}
    assert all(png.startswith(b'\x89PNG') for png in plots.values())
    metrics = compute_metrics(data)
    write_report(tmp_path / 'report.html', data, metrics, plots, 'annotated.mp4')
    text = (tmp_path / 'report.html').read_text()
    assert 'lockstep' in text and 'steering_rmse_rad' in text and text.count('<img') == 5
    image = np.zeros((120, 160, 3), np.uint8)

    def to_image(points):
        return np.column_stack([80 - points[:, 1] * 20, 120 - points[:, 0] * 3])
    annotated = annotate_frame(image, data.frames[0], to_image, ['person'] * 8)
    assert (annotated[10:70, 10] > 0).any()  # the box was drawn
    assert (annotated != 0).sum() > 500
    count = write_video(tmp_path / 'a.mp4', [annotated] * 5, fps=20.0)
    capture = cv2.VideoCapture(str(tmp_path / 'a.mp4'))
    assert count == 5 and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    capture.release()


def test_metrics_without_ground_truth_or_outputs():
    data = make_data(3)
    for frame in data.frames:
        frame.truth_center, frame.truth_boxes, frame.expert = None, None, None
        frame.command = None
    metrics = compute_metrics(data)
    assert 'lanes' not in metrics and 'detection' not in metrics and 'control' not in metrics
    assert 'steering' not in make_plots(data)
