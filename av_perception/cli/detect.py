"""``av-perception detect``: run the object detector on images, videos or bags.

Writes one JSON object per frame (JSON lines): ``{"image": ..., "frame": ..., "stamp_ns": ...,
"detections": [{"class_id", "class_name", "score", "bbox_xyxy"}]}`` with boxes in original
pixels; optionally an annotated copy of every frame.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``detect`` command."""
    parser = subparsers.add_parser(
        'detect', help='detect objects in images, videos or bags (JSON lines out)',
        description='Run a YOLOX/YOLOv5/YOLOv8 ONNX model; print or write one JSON object per '
                    'frame with boxes in original pixels.')
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help='image files, video files or rosbag2 bags')
    parser.add_argument('--model', metavar='M',
                        help='ONNX model (default: model_path of the config)')
    parser.add_argument('--json', metavar='OUT',
                        help="write JSON lines to OUT instead of standard output ('-')")
    parser.add_argument('--annotate', metavar='DIR',
                        help='write each frame with its boxes drawn into DIR')
    parser.add_argument('--score', type=float, metavar='S',
                        help='score threshold (default: the config, 0.3)')
    parser.add_argument('--config', metavar='YAML',
                        help='object_detector parameter file (e.g. '
                             'config/object_detector.param.yaml)')
    parser.add_argument('--topic', help='image topic of bag inputs (default: the first)')
    parser.add_argument('--providers', metavar='LIST',
                        help='comma-separated ONNX Runtime providers, best first')
    parser.add_argument('--cpu-threads', type=int, metavar='N',
                        help='ONNX Runtime threads (default: the config)')
    parser.add_argument('--track', action='store_true',
                        help='give detections track ids across the frames of each input')
    parser.set_defaults(func=run_detect)


def _annotated_path(directory: Path, frame: Any, used: set[str]) -> Path:
    """Name an annotated frame after its source; streams and clashes get a number."""
    source = Path(frame.source)
    if frame.name == frame.source:
        stem, suffix = source.stem, source.suffix.lower()
        if suffix not in ('.png', '.jpg', '.jpeg', '.bmp'):
            suffix = '.png'
    else:
        stem, suffix = f'{source.stem or source.name}_{frame.index:06d}', '.jpg'
    name, counter = f'{stem}{suffix}', 1
    while name in used:
        name, counter = f'{stem}_{counter}{suffix}', counter + 1
    used.add(name)
    return directory / name


def run_detect(args: argparse.Namespace) -> int:
    """Detect objects in every frame of the inputs; return the exit code."""
    import cv2
    from tqdm import tqdm

    from av_perception.detection import Detector, ObjectDetectorConfig, Tracker
    from av_perception.detection import draw_detections
    from av_perception.media import count_frames, FrameStats, iter_frames
    from av_perception.params import load_config

    overrides: dict[str, Any] = {'model_path': args.model, 'score_threshold': args.score,
                                 'cpu_threads': args.cpu_threads}
    if args.providers:
        overrides['providers'] = tuple(p.strip() for p in args.providers.split(',') if p)
    config = load_config(ObjectDetectorConfig, args.config, overrides, 'object_detector')
    detector = Detector.from_config(config)
    tracker = Tracker.from_config(config) if args.track else None
    annotate_dir = Path(args.annotate) if args.annotate else None
    if annotate_dir is not None:
        annotate_dir.mkdir(parents=True, exist_ok=True)
    out = sys.stdout if args.json in (None, '-') else open(args.json, 'w')
    stats = FrameStats()
    frames = detections = 0
    totals = [0.0, 0.0, 0.0]
    used_names: set[str] = set()
    last_source = None
    try:
        progress = tqdm(iter_frames(args.inputs, args.topic, stats),
                        total=count_frames(args.inputs, args.topic), unit='frame',
                        file=sys.stderr, disable=None)
        for frame in progress:
            result = detector.detect(frame.image)
            found = result.detections
            if tracker is not None:
                if frame.source != last_source:
                    tracker.reset()  # ids do not carry over between unrelated inputs
                found = tracker.update(found, frame.stamp_ns)
            last_source = frame.source
            record = {'image': frame.name, 'frame': frame.index, 'stamp_ns': frame.stamp_ns,
                      'detections': [d.to_json() for d in found]}
            if result.dropped_nonfinite:
                record['dropped_nonfinite'] = result.dropped_nonfinite
            out.write(json.dumps(record) + '\n')
            if annotate_dir is not None:
                path = _annotated_path(annotate_dir, frame, used_names)
                if not cv2.imwrite(str(path), draw_detections(frame.image, found)):
                    raise OSError(f'cannot write annotated frame {path}')
            frames += 1
            detections += len(found)
            timings = result.timings
            totals[0] += timings.preprocess_ms
            totals[1] += timings.inference_ms
            totals[2] += timings.postprocess_ms
    finally:
        if out is not sys.stdout:
            out.close()
    mean = [t / max(frames, 1) for t in totals]
    print(f'detect: {frames} frames, {detections} detections, {stats.skipped} skipped; '
          f'{detector.model_info.format} on {detector.providers[0]}; mean ms: preprocess '
          f'{mean[0]:.1f}, inference {mean[1]:.1f}, postprocess {mean[2]:.1f}',
          file=sys.stderr)
    return 0 if frames or not stats.skipped else 1
