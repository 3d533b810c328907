"""Lane subcommands: detect, evaluate, calibrate, convert ground truth.

``lanes`` (detect), ``eval-lanes`` (TuSimple metric), ``calibrate`` (chessboard camera
calibration) and ``tusimple-gt`` (ground truth from TuSimple instance masks).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the lane subcommands."""
    lanes = subparsers.add_parser(
        'lanes', help='detect the ego lane in images, videos or bags (TuSimple JSON lines)',
        description='Detect the ego lane and write one JSON object per frame: raw_file, '
        'h_samples, lanes ([ego-left x...], [ego-right x...], -2 where absent, input pixels), '
        'lateral_offset_m, heading_error_rad, curvature_per_m, confidence [left, right], '
        'valid, run_time (ms).')
    lanes.add_argument('inputs', nargs='+', metavar='INPUT', help='images, videos or bags')
    lanes.add_argument('--camera', metavar='NAME|FILE',
                       help='camera preset name (see --list-cameras) or camera_info YAML file')
    lanes.add_argument('--list-cameras', action='store_true', help='list presets and exit')
    lanes.add_argument('--params', metavar='FILE',
                       help="lane_detector parameter file (ROS layout); the camera preset's "
                       'settings and --set override it')
    lanes.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                       help='override one detector parameter (repeatable)')
    lanes.add_argument('--h-samples', metavar='ROWS',
                       help='rows to report, "160,170,..." or "start:stop:step" '
                       "(default: TuSimple's 160..710 step 10, scaled to the image height)")
    lanes.add_argument('--json', required=False, metavar='OUT', help='JSON-lines output file')
    lanes.add_argument('--annotate', metavar='DIR',
                       help='write overlays: PNG per image, MP4 per video or bag')
    lanes.add_argument('--birdseye', action='store_true',
                       help="inset the bird's-eye view and marking mask in the overlays")
    lanes.add_argument('--raw-root', metavar='DIR',
                       help='write raw_file relative to this directory (to match ground truth)')
    lanes.add_argument('--topic', help='image topic of bag inputs (default: the first one)')
    lanes.add_argument('--track-images', action='store_true',
                       help='track across image files as one sequence (default: each image '
                       'is detected on its own)')
    lanes.set_defaults(func=run_lanes)

    evaluate = subparsers.add_parser(
        'eval-lanes', help='score lane predictions with the TuSimple metric',
        description='TuSimple accuracy, false positive and false negative rates of predicted '
        'lanes (JSON lines) against ground truth (JSON lines), matched on raw_file.')
    evaluate.add_argument('--pred', required=True, metavar='P.json')
    evaluate.add_argument('--gt', required=True, metavar='G.json')
    evaluate.add_argument('--ego', action='store_true',
                          help='score only the ego boundaries (nearest lane left and right of '
                          'the image centre at the bottom) of both files')
    evaluate.add_argument('--image-width', type=int, default=1280,
                          help='image width for --ego (default 1280)')
    evaluate.add_argument('--per-frame', action='store_true', help="print each frame's score")
    evaluate.add_argument('--json-out', action='store_true',
                          help="print the official script's JSON instead of text")
    evaluate.set_defaults(func=run_eval)

    calibrate = subparsers.add_parser(
        'calibrate', help='calibrate a camera from chessboard images (ROS camera_info YAML)',
        description='Find a chessboard in each image, calibrate, and write a camera_info YAML '
        'as ROS camera_calibration does.')
    calibrate.add_argument('images', nargs='+', metavar='IMAGE',
                           help='chessboard images (or directories of them)')
    calibrate.add_argument('--board', default='9x6', metavar='COLSxROWS',
                           help='inner corners per row x per column (default 9x6)')
    calibrate.add_argument('--square', type=float, default=0.025, metavar='M',
                           help='square size in metres (default 0.025; scales only extrinsics)')
    calibrate.add_argument('--model', default='plumb_bob', choices=('plumb_bob', 'equidistant'))
    calibrate.add_argument('--camera-name', default='camera')
    calibrate.add_argument('--out', required=True, metavar='camera.yaml')
    calibrate.set_defaults(func=run_calibrate)

    ground_truth = subparsers.add_parser(
        'tusimple-gt', help='TuSimple ground truth (G.json) from instance mask images',
        description='Convert gt_instance_image masks (one grey level per lane) to TuSimple '
        'JSON lines: lanes left to right, x at each h_sample row, -2 where absent.')
    ground_truth.add_argument('masks', nargs='+', metavar='MASK',
                              help='instance mask PNGs (or directories of them)')
    ground_truth.add_argument('--out', required=True, metavar='G.json')
    ground_truth.add_argument('--image-dir', metavar='DIR',
                              help='where the camera images of the masks are (default: the '
                              'sibling "image" directory of the mask directory)')
    ground_truth.add_argument('--raw-root', metavar='DIR',
                              help='write raw_file relative to this directory')
    ground_truth.add_argument('--h-samples', metavar='ROWS',
                              help="rows (default: TuSimple's, scaled to the mask height)")
    ground_truth.set_defaults(func=run_tusimple_gt)


def _parse_board(text: str) -> tuple[int, int]:
    from av_perception.lanes.errors import LaneError
    try:
        cols, rows = (int(v) for v in text.lower().split('x'))
    except ValueError as err:
        raise LaneError(f'--board {text!r}: expected COLSxROWS, e.g. 9x6') from err
    return cols, rows


def _expand(paths: list[str], suffixes: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes))
        else:
            out.append(path)
    return out


def _raw_name(source: str, index: int, is_image: bool, raw_root: str | None) -> str:
    name = source
    if raw_root is not None:
        name = os.path.relpath(os.path.abspath(source), os.path.abspath(raw_root))
    return name if is_image else f'{name}#{index:06d}'


def _detector_config(args: argparse.Namespace):
    import yaml

    from av_perception.lanes.config import LaneDetectorNodeConfig
    from av_perception.lanes.presets import load_camera_preset
    from av_perception.params import from_mapping, load_param_yaml

    values: dict[str, Any] = {}
    if args.params:
        values.update(load_param_yaml(args.params))
    camera = None
    if args.camera:
        preset = load_camera_preset(args.camera)
        camera = preset.camera
        values.update(preset.detector_overrides)
    for item in args.set:
        name, sep, text = item.partition('=')
        if not sep:
            from av_perception.lanes.errors import LaneError
            raise LaneError(f'--set {item!r}: expected NAME=VALUE')
        values[name.strip()] = yaml.safe_load(text)
    # The node's parameter file also holds input/output settings: validate them all, keep the
    # detector's.
    return from_mapping(LaneDetectorNodeConfig, values).detector_config(), camera


def run_lanes(args: argparse.Namespace) -> int:
    """Detect lanes in every frame; write JSON lines and optional overlays."""
    import json
    import time

    from tqdm import tqdm

    from av_perception.lanes.detector import LaneDetector
    from av_perception.lanes.errors import LaneError
    from av_perception.lanes.overlay import render_overlay
    from av_perception.lanes.presets import preset_names
    from av_perception.lanes.tusimple import default_h_samples, parse_h_samples
    from av_perception.media import count_frames, FrameStats, IMAGE_SUFFIXES, iter_frames

    if args.list_cameras:
        print('\n'.join(preset_names()))
        return 0
    if not args.json and not args.annotate:
        raise LaneError('nothing to write: give --json OUT and/or --annotate DIR')
    config, camera = _detector_config(args)
    detector = LaneDetector(config, camera)
    fixed_rows = parse_h_samples(args.h_samples) if args.h_samples else None
    annotate = Path(args.annotate) if args.annotate else None
    if annotate is not None:
        annotate.mkdir(parents=True, exist_ok=True)
    output = open(args.json, 'w') if args.json else None
    stats = FrameStats()
    writers: dict[str, Any] = {}
    previous_source = None
    frames = valid = 0
    total_ms = 0.0
    try:
        progress = tqdm(iter_frames(args.inputs, args.topic, stats),
                        total=count_frames(args.inputs, args.topic), unit='frame',
                        file=sys.stderr, disable=None)
        for frame in progress:
            is_image = Path(frame.source).suffix.lower() in IMAGE_SUFFIXES
            if frame.source != previous_source and not (is_image and args.track_images):
                detector.reset()  # unrelated pictures or a new stream
            previous_source = frame.source
            start = time.perf_counter()
            estimate = detector.process(frame.image, frame.stamp_ns)
            elapsed_ms = (time.perf_counter() - start) * 1000.0
            frames += 1
            valid += estimate.valid
            total_ms += elapsed_ms
            rows = fixed_rows or default_h_samples(frame.image.shape[0])
            if output is not None:
                record = {
                    'raw_file': _raw_name(frame.source, frame.index, is_image, args.raw_root),
                    'h_samples': rows,
                    'lanes': estimate.ego_rows(rows),
                    'lateral_offset_m': _finite(estimate.lateral_offset_m),
                    'heading_error_rad': _finite(estimate.heading_error_rad),
                    'curvature_per_m': _finite(estimate.curvature_per_m),
                    'confidence': [round(estimate.left.confidence, 3),
                                   round(estimate.right.confidence, 3)],
                    'valid': estimate.valid,
                    'run_time': round(elapsed_ms, 3),
                }
                output.write(json.dumps(record) + '\n')
            if annotate is not None:
                overlay = render_overlay(frame.image, estimate,
                                         detector.last_debug if args.birdseye else None)
                _write_overlay(annotate, frame, is_image, overlay, writers, args.raw_root)
    finally:
        if output is not None:
            output.close()
        for writer in writers.values():
            writer.release()
    print(f'{frames} frames, {valid} with a valid lane ({100.0 * valid / max(frames, 1):.1f} %),'
          f' {total_ms / max(frames, 1):.2f} ms per frame; {stats.skipped} skipped',
          file=sys.stderr)
    if stats.skipped:
        for reason in stats.reasons[:5]:
            print(f'  skipped: {reason}', file=sys.stderr)
    return 0


def _finite(value: float) -> float | None:
    return None if not math.isfinite(value) else round(float(value), 5)


def _write_overlay(directory: Path, frame, is_image: bool, overlay, writers: dict,
                   raw_root: str | None) -> None:
    import cv2

    from av_perception.lanes.errors import LaneError

    if is_image:
        name = _raw_name(frame.source, frame.index, True, raw_root)
        # Flatten the path: TuSimple clips all name their frames 1.jpg .. 20.jpg.
        flat = name.replace(os.sep, '__').replace('/', '__').lstrip('._')
        target = directory / (Path(flat).with_suffix('').name + '.png')
        if not cv2.imwrite(str(target), overlay):
            raise LaneError(f'cannot write overlay {target}')
        return
    writer = writers.get(frame.source)
    if writer is None:
        target = directory / f'{Path(frame.source).stem or Path(frame.source).name}_lanes.mp4'
        height, width = overlay.shape[:2]
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*'mp4v'), 25.0,
                                 (width, height))
        if not writer.isOpened():
            raise LaneError(f'cannot write video {target}')
        writers[frame.source] = writer
    writer.write(overlay)


def run_eval(args: argparse.Namespace) -> int:
    """Print the TuSimple accuracy, FP and FN rates."""
    from av_perception.lanes.tusimple import evaluate, read_json_lines

    score = evaluate(read_json_lines(args.pred), read_json_lines(args.gt), ego_only=args.ego,
                     image_width=args.image_width)
    if args.json_out:
        print(score.as_official_json())
        return 0
    if args.per_frame:
        for frame in score.frames:
            print(f'{frame.raw_file}: accuracy {frame.accuracy:.4f}  FP {frame.false_positive:.3f}'
                  f'  FN {frame.false_negative:.3f}  (gt {frame.gt_lanes}, pred '
                  f'{frame.pred_lanes} lanes)')
    scope = 'ego boundaries' if args.ego else 'all lanes'
    print(f'{len(score.frames)} frames, {scope}: accuracy {score.accuracy:.4f}  '
          f'FP {score.false_positive:.4f}  FN {score.false_negative:.4f}')
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """Calibrate from chessboard images and write a camera_info YAML."""
    import cv2

    from av_perception.lanes.camera import calibrate_chessboard
    from av_perception.lanes.errors import LaneError

    board = _parse_board(args.board)
    paths = _expand(args.images, ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff'))
    if not paths:
        raise LaneError('no images given')

    def images():
        from tqdm import tqdm
        for path in tqdm(paths, unit='image', file=sys.stderr, disable=None):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise LaneError(f'{path}: cannot read image')
            yield str(path), image

    result = calibrate_chessboard(images(), board, args.square, args.model, args.camera_name)
    result.camera.save_yaml(args.out)
    k, d = result.camera.k, result.camera.d
    print(f'board {board[0]}x{board[1]} found in {len(result.used_images)} of {len(paths)} '
          f'images; rms {result.rms_px:.3f} px')
    print(f'fx {k[0, 0]:.1f}  fy {k[1, 1]:.1f}  cx {k[0, 2]:.1f}  cy {k[1, 2]:.1f}  '
          f'{args.model} D = [{", ".join(f"{v:.4f}" for v in d)}]')
    for name in result.rejected_images:
        print(f'  no board: {name}')
    print(f'wrote {args.out}')
    return 0


def run_tusimple_gt(args: argparse.Namespace) -> int:
    """Convert instance masks to TuSimple ground truth JSON lines."""
    import cv2

    from av_perception.lanes.errors import LaneError
    from av_perception.lanes.tusimple import (default_h_samples, lanes_from_instance_mask,
                                              parse_h_samples, write_json_lines)

    masks = _expand(args.masks, ('.png',))
    if not masks:
        raise LaneError('no mask images given')
    records = []
    for mask_path in masks:
        mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise LaneError(f'{mask_path}: cannot read mask image')
        if mask.ndim == 3:
            if not (mask[:, :, 0] == mask[:, :, 1]).all():
                raise LaneError(f'{mask_path}: an instance mask must be grey (one level per '
                                'lane)')
            mask = mask[:, :, 0]
        rows = (parse_h_samples(args.h_samples) if args.h_samples
                else default_h_samples(mask.shape[0]))
        image_dir = (Path(args.image_dir) if args.image_dir
                     else mask_path.parent.parent / 'image')
        image_path = image_dir / mask_path.name
        if not image_path.exists():
            image_path = mask_path
        raw = str(image_path)
        if args.raw_root:
            raw = os.path.relpath(os.path.abspath(raw), os.path.abspath(args.raw_root))
        records.append({'raw_file': raw, 'h_samples': rows,
                        'lanes': lanes_from_instance_mask(mask, rows)})
    write_json_lines(args.out, records)
    lane_count = sum(len(r['lanes']) for r in records)
    print(f'{len(records)} frames, {lane_count} lanes -> {args.out}')
    return 0
