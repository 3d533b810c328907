"""``av-perception replay BAG --out DIR``: run the pipeline over a bag and write a report."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

LOGGER = logging.getLogger('av_perception.replay')


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``replay`` command."""
    parser = subparsers.add_parser(
        'replay', help='replay a bag through the perception nodes; write outputs bag, '
                       'annotated video, metrics.json and report.html')
    parser.add_argument('bag', help='bag directory, .mcap or .db3 file')
    parser.add_argument('--out', required=True, help='output directory')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--lockstep', dest='mode', action='store_const', const='lockstep',
                      help='every frame passes every node before the next (default; '
                           'deterministic)')
    mode.add_argument('--realtime', dest='mode', action='store_const', const='realtime',
                      help='play at the bag rate; slow nodes drop frames')
    parser.set_defaults(mode='lockstep')
    parser.add_argument('--rate', type=float, default=1.0, help='realtime speed factor')
    parser.add_argument('--detector-model', default=None,
                        help='ONNX detector (default: the shared YOLOX-Nano if present)')
    parser.add_argument('--no-detector', action='store_true', help='do not run the detector')
    parser.add_argument('--controller', default=None,
                        help='controller model directory (default: models/controller)')
    parser.add_argument('--no-controller', action='store_true',
                        help='do not run the temporal controller')
    parser.add_argument('--no-lanes', action='store_true', help='do not run the lane detector')
    parser.add_argument('--topic', default=None, help='image topic (default: the first)')
    parser.add_argument('--max-frames', type=int, default=0, help='stop after N frames')
    parser.add_argument('--no-video', action='store_true', help='skip annotated.mp4')
    parser.set_defaults(func=run_replay_command)


def default_detector_model() -> Path | None:
    """Return the shared YOLOX-Nano when it is there."""
    from av_perception.assets import yolox_nano_model
    path = yolox_nano_model()
    return path if path.exists() else None


def default_controller_dir() -> Path | None:
    """Return the shipped controller model directory when it holds a model."""
    from av_perception.launch_xml import package_share
    path = package_share('av_perception') / 'models' / 'controller'
    return path if (path / 'temporal.onnx').exists() else None


def run_replay_command(args: argparse.Namespace) -> int:
    """Replay, then write the outputs bag, video, metrics and report into ``--out``."""
    from tqdm import tqdm
    from av_perception.bag.reader import BagReader
    from av_perception.ros.replay import (default_model_arguments, ReplayOptions, run_replay,
                                          to_replay_data)
    detector = None if args.no_detector else (
        Path(args.detector_model) if args.detector_model else default_detector_model())
    if detector is None and not args.no_detector:
        LOGGER.warning('no detector model given and the shared YOLOX-Nano is absent: the '
                       'object detector does not run')
    controller = None if args.no_controller else (
        Path(args.controller) if args.controller else default_controller_dir())
    if controller is None and not args.no_controller:
        LOGGER.warning('no controller model: the temporal controller does not run')
    arguments = default_model_arguments(detector, controller)
    if args.no_lanes:
        arguments['run_lanes'] = 'false'
    with BagReader(args.bag) as reader:
        total = max((t.count for t in reader.topics()
                     if t.type.startswith('sensor_msgs/msg/') and 'Image' in t.type),
                    default=None)
    if args.max_frames and total:
        total = min(total, args.max_frames)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tqdm(total=total, desc=f'replay ({args.mode})', unit='frame') as bar:
        recording = run_replay(ReplayOptions(
            bag=args.bag, mode=args.mode, rate=args.rate, launch_arguments=arguments,
            max_frames=args.max_frames, image_topic=args.topic, progress=bar.update))
    data = to_replay_data(recording)
    return write_outputs(out, recording, data, video=not args.no_video)


def write_outputs(out: Path, recording, data, video: bool = True) -> int:
    """Write outputs bag, metrics.json, annotated.mp4 and report.html; print where."""
    from av_perception.bag import BagWriter
    from av_perception.media import iter_frames
    from av_perception.replay_report import (annotate_frame, compute_metrics, make_plots,
                                             write_report, write_video)
    from av_perception.ros.replay import serialize_outputs
    with BagWriter(out / 'outputs', overwrite=True) as writer:
        for topic, type_name, stamp_ns, data_bytes in serialize_outputs(recording):
            writer.add_topic(topic, type_name)
            writer.write_raw(topic, stamp_ns, data_bytes)
    metrics = compute_metrics(data)
    (out / 'metrics.json').write_text(json.dumps(metrics, indent=2))
    video_name = None
    if video and data.frames:
        projection = recording.camera_projection
        to_image = projection.ground_to_image if projection is not None else None
        from av_perception.detection.model import coco_class_names
        names = list(coco_class_names())
        frames = iter_frames([recording.bag], topic=recording.image_topic)
        images = (annotate_frame(frame.image, result, to_image, names)
                  for frame, result in zip(frames, data.frames))
        duration = (data.frames[-1].stamp_ns - data.frames[0].stamp_ns) / 1e9
        fps = (len(data.frames) - 1) / duration if duration > 0 else 20.0
        write_video(out / 'annotated.mp4', images, fps)
        video_name = 'annotated.mp4'
    write_report(out / 'report.html', data, metrics, make_plots(data), video_name)
    print(f'{metrics["frames"]} frames, {metrics["frames_per_second"] or 0:.1f} frames/s')
    for key in ('lanes', 'detection', 'control'):
        if key in metrics:
            values = [f'{k}={v:.3f}' if isinstance(v, float) else f'{k}={v}'
                      for k, v in metrics[key].items() if not isinstance(v, str)]
            print(f'{key}: ' + ', '.join(values))
    print(f'report: {(out / "report.html").resolve()}')
    if video_name:
        print(f'video:  {(out / video_name).resolve()}')
    return 0
