"""``av-perception simulate``: drive the simulator with the expert and record a rosbag2 bag."""

from __future__ import annotations

import argparse
import sys

PRESETS = ('highway_straight', 'highway_curvy', 'rural_curvy', 'shadows', 'dusk', 'night',
           'traffic')


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WIDTHxHEIGHT`` (e.g. 640x360)."""
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'--size {text!r}: expected WIDTHxHEIGHT, e.g. '
                                         '640x360') from None
    if not (32 <= width <= 8192 and 32 <= height <= 8192):
        raise argparse.ArgumentTypeError(f'--size {text!r}: width and height must be 32..8192')
    return width, height


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` command."""
    parser = subparsers.add_parser(
        'simulate', help='record a simulated drive (camera, ground truth, expert) to a bag',
        description='Drive a preset world with the expert driver and write camera frames, '
                    'CameraInfo, ground truth (ego lane centre line, objects) and the expert '
                    'command to a rosbag2 bag, stamped with simulation time.')
    parser.add_argument('--preset', required=True, choices=PRESETS, help='world preset')
    parser.add_argument('--seconds', type=float, required=True, help='simulated duration')
    parser.add_argument('--seed', type=int, default=0, help='world seed (default 0)')
    parser.add_argument('--out', required=True, metavar='BAG', help='bag directory to create')
    parser.add_argument('--fps', type=float, default=20.0, help='camera rate (default 20)')
    parser.add_argument('--size', type=parse_size, default=(640, 360), metavar='WxH',
                        help='image size (default 640x360)')
    parser.add_argument('--compressed', action='store_true',
                        help='write /camera/image_raw/compressed (JPEG) instead of raw bgr8')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing bag')
    parser.add_argument('--tusimple', metavar='OUT.json', default=None,
                        help='also write TuSimple lane labels (one JSON line per frame)')
    parser.add_argument('--tusimple-images', action='store_true',
                        help='with --tusimple: also write the frames as JPEG files (the '
                             'raw_file of each label)')
    parser.add_argument('--perturb', type=float, default=0.0, metavar='HZ',
                        help='DAgger-style perturbations per second (default 0: clean)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    """Record the drive; print a summary line."""
    from tqdm import tqdm

    from av_perception.sim import preset_config, SimConfig, Simulator
    from av_perception.sim.export import record_drive

    if not args.seconds > 0 or not args.fps > 0:
        raise ValueError(f'--seconds {args.seconds} and --fps {args.fps} must be positive')
    if args.tusimple_images and not args.tusimple:
        raise ValueError('--tusimple-images needs --tusimple OUT.json')
    frames = max(1, int(round(args.seconds * args.fps)))
    base = preset_config(args.preset)
    # the road must outlast the drive (plus what the camera sees beyond its end)
    needed = args.seconds * base.speed_limit_mps * 1.1 + base.max_render_distance_m + 300.0
    config: SimConfig = preset_config(
        args.preset, road_length_m=max(base.road_length_m, needed),
        perturbation_rate_hz=args.perturb)
    sim = Simulator(config, seed=args.seed, fps=args.fps, size=args.size)
    with tqdm(total=frames, unit='frame', desc='simulate', file=sys.stderr,
              disable=args.no_progress) as bar:
        summary = record_drive(sim, frames, args.out, storage=args.storage,
                               compressed=args.compressed, overwrite=args.overwrite,
                               tusimple_path=args.tusimple,
                               tusimple_images=args.tusimple_images, progress=bar.update)
    metrics = summary.metrics
    print(f'{summary.bag_path}: {summary.frames} frames, {summary.messages} messages, '
          f'{metrics.distance_m:.0f} m driven, mean |offset| '
          f'{metrics.mean_abs_lateral_offset_m:.3f} m, departures {metrics.lane_departures}, '
          f'collisions {metrics.collisions}')
    if summary.tusimple_path is not None:
        print(f'{summary.tusimple_path}: TuSimple labels for {summary.frames} frames')
    return 0
