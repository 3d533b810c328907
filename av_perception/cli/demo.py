"""``av-perception demo``: the main job on a built-in default.

A simulated drive with traffic (made on the fly, deterministic) is written to a rosbag2 bag and
replayed in lockstep through the whole pipeline (lane detector, object detector with the real
YOLOX-Nano where the shared assets are present, temporal controller with the shipped model);
the annotated video, metrics and HTML report land in ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command."""
    parser = subparsers.add_parser('demo', help='simulate a drive and replay it through the '
                                                'pipeline: video, metrics, report')
    parser.add_argument('--out', default='out/demo', help='output directory (default out/demo)')
    parser.add_argument('--seconds', type=float, default=15.0, help='drive length (default 15)')
    parser.add_argument('--preset', default='traffic', help='simulator preset (default traffic)')
    parser.add_argument('--seed', type=int, default=7, help='simulator seed (default 7)')
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Simulate, replay, report; print where the video and the report are."""
    from tqdm import tqdm
    from av_perception.cli.replay import (default_controller_dir, default_detector_model,
                                          write_outputs)
    from av_perception.ros.replay import (default_model_arguments, ReplayOptions, run_replay,
                                          to_replay_data)
    from av_perception.sim import Simulator
    from av_perception.sim.export import record_drive

    out = Path(args.out)
    frames = int(round(args.seconds * 20))
    bag = out / 'drive'
    with tqdm(total=frames, desc=f'simulate {args.preset}', unit='frame') as bar:
        summary = record_drive(Simulator(args.preset, seed=args.seed), frames, bag,
                               overwrite=True, progress=bar.update)
    drive = summary.metrics
    print(f'drive: {bag.resolve()} ({summary.frames} frames, {drive.distance_m:.0f} m, expert '
          f'mean |offset| {drive.mean_abs_lateral_offset_m:.3f} m)')
    detector, controller = default_detector_model(), default_controller_dir()
    if detector is None:
        print('the shared YOLOX-Nano is not here (AV_PERCEPTION_ASSETS): no object detector')
    with tqdm(total=frames, desc='replay (lockstep)', unit='frame') as bar:
        recording = run_replay(ReplayOptions(
            str(bag), 'lockstep', launch_arguments=default_model_arguments(detector, controller),
            progress=bar.update))
    return write_outputs(out / 'replay', recording, to_replay_data(recording))
