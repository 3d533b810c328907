"""Temporal controller commands: train-controller, drive, eval-controller, controller-info.

``train-controller`` needs PyTorch (``pip install -r requirements/train.txt``); the others run
on ONNX Runtime only.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import shlex
import sys
from typing import Any

PRESETS = ('highway_straight', 'highway_curvy', 'rural_curvy', 'shadows', 'dusk', 'traffic')


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: expected WIDTHxHEIGHT, e.g. 160x64') \
            from None
    return width, height


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: expected comma-separated numbers') \
            from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the controller commands."""
    train = subparsers.add_parser(
        'train-controller', help='train the CNN+LSTM controller on drives (needs PyTorch)',
        description='Read frames and commands from bags (or an image folder with a steering '
                    'CSV), train the CNN+LSTM with truncated BPTT, and write encoder.onnx, '
                    'temporal.onnx, controller.yaml and training_curve.png to --out.')
    train.add_argument('inputs', nargs='*', metavar='BAG', help='rosbag2 bags with frames and '
                       'AckermannDriveStamped commands')
    train.add_argument('--out', required=True, metavar='DIR', help='model directory to write')
    train.add_argument('--image-csv', action='append', default=[], metavar='CSV',
                       help='also train on an image folder labelled by this CSV (filename + '
                            'steering in degrees, see --csv-straight-deg); no speed labels')
    train.add_argument('--epochs', type=int, help='passes over the data (default 6)')
    train.add_argument('--history', type=int, help='history N: windows of 2N frames '
                       '(default 16)')
    train.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    train.add_argument('--temporal', choices=('lstm', 'none'),
                       help='lstm (default) or none: the same CNN on single frames (ablation)')
    train.add_argument('--val-fraction', type=float,
                       help='last part of every drive held out (default 0.15)')
    train.add_argument('--input-size', type=_size, metavar='WxH',
                       help='network input (default 160x64)')
    train.add_argument('--crop', type=_floats, metavar='X0,Y0,X1,Y1',
                       help='road area as fractions of the image (default 0.05,0.4,0.95,1)')
    train.add_argument('--batch', type=int, help='windows per step (default 16)')
    train.add_argument('--lr', type=float, help='learning rate (default 2e-3)')
    train.add_argument('--threads', type=int, help='PyTorch threads (default 2)')
    train.add_argument('--speed-weight', type=float,
                       help='weight of the speed error against the steering error (default 0.3)')
    train.add_argument('--no-augment', action='store_true', help='train without augmentation')
    train.add_argument('--feature-skip', action='store_true',
                       help='feed the head the current frame feature next to the LSTM output')
    train.add_argument('--shift-px', type=int,
                       help='largest horizontal shift augmentation in pixels (default 3)')
    train.add_argument('--shift-steering-per-px', type=float,
                       help='steering correction per pixel of shift at 20 m/s (default '
                            '0.00215 rad; scales with 20 / speed)')
    train.add_argument('--image-topic', help='image topic of the bags (default: the first)')
    train.add_argument('--command-topic', default='/expert/command',
                       help='AckermannDriveStamped label topic (default /expert/command)')
    train.add_argument('--csv-straight-deg', type=float, default=90.0,
                       help='CSV angle meaning straight ahead (default 90; smaller = left)')
    train.add_argument('--csv-steering-column', help='CSV column with the angle (default: '
                       'the first whose name contains "steer" or "angle")')
    train.add_argument('--csv-frame-period', type=float, default=0.05,
                       help='seconds between CSV frames (default 0.05)')
    train.add_argument('--no-progress', action='store_true', help='no progress bars')
    train.set_defaults(func=run_train)

    drive = subparsers.add_parser(
        'drive', help='drive the simulator in closed loop with a controller',
        description='The controller steers the simulated car from its camera frames; prints '
                    'and optionally writes {"distance_m", "mean_abs_offset_m", '
                    '"max_abs_offset_m", "departures", "collisions", ...}.')
    drive.add_argument('--preset', required=True, choices=PRESETS, help='world preset')
    drive.add_argument('--seconds', type=float, required=True, help='longest simulated time')
    drive.add_argument('--seed', type=int, default=0, help='world seed (default 0)')
    drive.add_argument('--controller', metavar='DIR', default='',
                       help='model directory (default: the shipped model)')
    drive.add_argument('--expert', action='store_true',
                       help='let the simulator expert drive instead (reference numbers)')
    drive.add_argument('--distance', type=float, metavar='M',
                       help='stop once this distance is driven')
    drive.add_argument('--history', type=int, help="history N (default: the model's)")
    drive.add_argument('--max-speed', type=float, metavar='MPS',
                       help="the controller's max_speed_mps (default: the preset's legal speed "
                            'limit, which a car knows from its map, not from the camera; 0 = '
                            'the parameter default, 30 m/s)')
    drive.add_argument('--detector', metavar='MODEL.onnx',
                       help='object detector run on every frame in the loop; its boxes feed '
                            "the controller's speed governor (default: the shared YOLOX-Nano "
                            'when present)')
    drive.add_argument('--no-detector', action='store_true',
                       help='drive without a detector: no speed governor input')
    drive.add_argument('--no-lane-corridor', action='store_true',
                       help="the governor's corridor follows the steering angle, not the lane "
                            "detector's centre line (the lane detector does not run)")
    drive.add_argument('--json', metavar='OUT', help='write the result as JSON to OUT')
    drive.add_argument('--video', metavar='OUT.mp4', help='write an annotated video')
    drive.add_argument('--no-progress', action='store_true', help='no progress bar')
    drive.set_defaults(func=run_drive)

    evaluate = subparsers.add_parser(
        'eval-controller', help='open-loop steering/speed errors of a controller on drives',
        description='Predict the commands of recorded drives through the exported graphs '
                    '(inference history semantics) and compare them with the labels and with '
                    'the constant training-mean baseline.')
    evaluate.add_argument('inputs', nargs='*', metavar='BAG', help='bags with labels')
    evaluate.add_argument('--controller', metavar='DIR', default='',
                          help='model directory (default: the shipped model)')
    evaluate.add_argument('--image-csv', action='append', default=[], metavar='CSV',
                          help='an image folder labelled by a CSV (see train-controller)')
    evaluate.add_argument('--tail-fraction', type=float, default=1.0,
                          help='evaluate only the last fraction of every drive (default 1)')
    evaluate.add_argument('--image-topic', help='image topic of the bags (default: the first)')
    evaluate.add_argument('--command-topic', default='/expert/command')
    evaluate.add_argument('--csv-straight-deg', type=float, default=90.0)
    evaluate.add_argument('--csv-steering-column')
    evaluate.add_argument('--csv-frame-period', type=float, default=0.05)
    evaluate.add_argument('--json', metavar='OUT', help='write the result as JSON to OUT')
    evaluate.set_defaults(func=run_evaluate)

    info = subparsers.add_parser(
        'controller-info', help='print a controller model: layer table, training, validation',
        description='Print the layer table (output volume, parameters, MACs per layer) and '
                    'the training and validation records of a controller model directory.')
    info.add_argument('controller', nargs='?', default='', metavar='DIR',
                      help='model directory (default: the shipped model)')
    info.set_defaults(func=run_info)


def _read_drives(args: argparse.Namespace, spec: Any, margin: int) -> list:
    from tqdm import tqdm

    from av_perception.control.dataset import read_bag_drive, read_csv_drive

    drives = []
    with tqdm(unit='frame', desc='read', file=sys.stderr,
              disable=getattr(args, 'no_progress', False)) as bar:
        for path in args.inputs:
            drives.append(read_bag_drive(path, spec, margin, args.image_topic,
                                         args.command_topic, progress=bar.update))
        for path in args.image_csv:
            drives.append(read_csv_drive(path, spec, margin, args.csv_steering_column,
                                         args.csv_straight_deg, args.csv_frame_period,
                                         progress=bar.update))
    if not drives:
        raise ValueError('no input: give bags and/or --image-csv')
    return drives


def run_train(args: argparse.Namespace) -> int:
    """Train a controller and write the model directory."""
    from av_perception.control.errors import ControllerError
    from av_perception.params import from_mapping, to_mapping
    from av_perception.training.config import TrainConfig

    try:
        from av_perception.training.trainer import input_spec, train_controller
    except ImportError as err:
        raise ControllerError(f'train-controller needs PyTorch ({err}); install it with '
                              '`pip install -r requirements/train.txt`') from err

    values = to_mapping(TrainConfig())
    overrides = {'epochs': args.epochs, 'history_length': args.history,
                 'temporal': args.temporal, 'val_fraction': args.val_fraction,
                 'batch_windows': args.batch, 'learning_rate': args.lr, 'threads': args.threads,
                 'speed_loss_weight': args.speed_weight,
                 'crop': args.crop, 'shift_px': args.shift_px,
                 'shift_steering_per_px': args.shift_steering_per_px}
    if args.input_size:
        overrides['input_width'], overrides['input_height'] = args.input_size
    if args.no_augment:
        overrides['augment'] = False
    if args.feature_skip:
        overrides['feature_skip'] = True
    values.update({k: v for k, v in overrides.items() if v is not None})
    config = from_mapping(TrainConfig, values)
    drives = _read_drives(args, input_spec(config), config.shift_px)
    command = 'av-perception ' + shlex.join(sys.argv[1:]) if sys.argv[1:] else ''
    result = train_controller(drives, config, args.out, seed=args.seed,
                              sources=[str(p) for p in args.inputs + args.image_csv],
                              command_line=command, progress=not args.no_progress)
    from av_perception.control.layer_table import format_layer_table

    validation = result.metadata.validation
    print(format_layer_table(result.metadata.layers, 'layers (per frame)'))
    print(f'{result.out_dir}: trained on {result.metadata.training["frames_train"]} frames in '
          f'{result.seconds:.0f} s')
    if validation:
        print(_open_loop_text(validation))
    return 0


def _open_loop_text(report: dict) -> str:
    text = (f'open loop on {report["frames"]} frames: steering RMSE '
            f'{math.degrees(report["steering_rmse_rad"]):.3f} deg vs constant mean '
            f'{math.degrees(report["baseline_steering_rmse_rad"]):.3f} deg (ratio '
            f'{report["steering_rmse_ratio"]:.3f})')
    if report.get('speed_rmse_mps') is not None:
        text += (f'; speed RMSE {report["speed_rmse_mps"]:.3f} m/s vs constant mean '
                 f'{report["baseline_speed_rmse_mps"]:.3f} m/s')
    return text


def _write_json(path: str | None, document: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(document, indent=2) + '\n')


def run_drive(args: argparse.Namespace) -> int:
    """Drive the simulator in closed loop; print and optionally write the JSON result."""
    from tqdm import tqdm

    from av_perception.control.closed_loop import drive_closed_loop, sim_camera_mounting
    from av_perception.control.config import TemporalControllerConfig
    from av_perception.control.controller import TemporalController

    from av_perception.sim import preset_config

    controller = detector = None
    max_speed = args.max_speed
    if max_speed is None:
        max_speed = preset_config(args.preset).speed_limit_mps
    if not args.expert:
        overrides = {'model_dir': args.controller, 'history_length': args.history or 0,
                     **sim_camera_mounting(args.preset)}
        if max_speed > 0:
            overrides['max_speed_mps'] = max_speed
        config = TemporalControllerConfig(**overrides)
        controller = TemporalController.from_dir(None, config)
        detector = _drive_detector(args)
    frames = int(round(args.seconds * 20))
    with tqdm(total=frames, unit='frame', desc='drive', file=sys.stderr,
              disable=args.no_progress) as bar:
        report = drive_closed_loop(controller, args.preset, args.seed, args.seconds,
                                   args.distance, video_path=args.video, progress=bar.update,
                                   detector=detector, lane_corridor=(
                                       detector is not None and not args.no_lane_corridor))
    document = report.to_dict()
    if controller is not None:
        document['controller'] = str(controller.model.model_dir)
        document['history_length'] = controller.history_length
        document['max_speed_mps'] = controller.config.max_speed_mps
        document['detector'] = str(detector.model_info.path) if detector is not None else None
    _write_json(args.json, document)
    print(json.dumps(document))
    return 0


def _drive_detector(args: argparse.Namespace) -> Any:
    """Return the detector of ``drive`` (None with --no-detector or no default model)."""
    from av_perception.assets import yolox_nano_model
    from av_perception.detection import Detector, DetectorConfig

    if args.no_detector:
        if args.detector:
            raise ValueError('--detector and --no-detector exclude each other')
        return None
    path = args.detector
    if not path:
        default = yolox_nano_model()
        if not default.exists():
            print(f'drive: no detector ({default} is missing; give --detector): the speed '
                  'governor gets no input', file=sys.stderr)
            return None
        path = str(default)
    return Detector.from_config(DetectorConfig(model_path=path, cpu_threads=1))


def run_evaluate(args: argparse.Namespace) -> int:
    """Open-loop evaluation of a controller on labelled drives."""
    import numpy as np

    from av_perception.control.config import resolve_model_dir
    from av_perception.control.evaluation import open_loop_report, predict_drive
    from av_perception.control.model import ControllerModel

    if not 0.0 < args.tail_fraction <= 1.0:
        raise ValueError(f'--tail-fraction {args.tail_fraction}: must be in (0, 1]')
    model = ControllerModel(resolve_model_dir(args.controller))
    drives = _read_drives(args, model.metadata.input, 0)
    predictions, steering, speed, names = [], [], [], []
    for drive in drives:
        start = len(drive) - int(round(len(drive) * args.tail_fraction))
        drive = drive.slice(start, len(drive))
        predictions.append(predict_drive(model, drive.pixels, stamps_ns=drive.stamps_ns))
        steering.append(drive.steering)
        speed.append(drive.speed)
        names.append(drive.name)
    training = model.metadata.training
    report = open_loop_report(np.concatenate(predictions), np.concatenate(steering),
                              np.concatenate(speed), training.get('steering_mean_rad'),
                              training.get('speed_mean_mps'))
    document = {'controller': str(model.model_dir), 'drives': names, **report.to_dict()}
    _write_json(args.json, document)
    print(_open_loop_text(document))
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print the layer table and the records of a controller model."""
    from av_perception.control.config import resolve_model_dir
    from av_perception.control.layer_table import format_layer_table
    from av_perception.control.metadata import read_metadata

    directory = resolve_model_dir(args.controller)
    meta = read_metadata(directory)
    spec = meta.input
    print(f'{directory}: {meta.temporal_type} controller, input {spec.width}x{spec.height} '
          f'{spec.channel_order} crop {list(spec.crop)}, feature {meta.feature_size}, hidden '
          f'{meta.hidden_size} x{meta.lstm_layers}, history {meta.history_length}')
    print(format_layer_table(meta.layers, 'per frame (the LSTM runs one step per frame for '
                                          'each of its 2 history lanes: its MACs count twice '
                                          'at inference)'))
    training = meta.training
    if training.get('command'):
        print(f'trained with: {training["command"]}')
    if meta.validation:
        print(_open_loop_text(dict(meta.validation)))
    return 0
