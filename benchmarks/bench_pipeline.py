#!/usr/bin/env python3
"""Pipeline throughput and latency: lockstep and real-time replays of one simulated drive.

    python benchmarks/bench_pipeline.py [--seconds 15] [--realtime-seconds 30]

One run measures, on the same 640x360 drive with YOLOX-Nano (the shared model; a generated
stand-in of the same input size when absent) and the shipped controller:

* lockstep frames/s (every frame through every node, target >= 20 on a 2-core machine) and
  the ratio of end-to-end latency to the sum of the nodes' own processing times (the cost of
  the ROS plumbing, target <= 1.3), the nodes composed in one process;
* real time: the launched graph as separate processes (perception.launch.xml, as deployed) fed
  live simulator frames at 20 Hz (``soak.py``): end-to-end latency p50/p95 per node (target
  p95 <= 100 ms), frames without output, latency of the first vs the last window (queue
  growth), resident memory of every node from the first report to the end (``--realtime-minutes
  10`` for the ten-minute check).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import sys
import tempfile


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA')
os.environ.setdefault('ROS_DOMAIN_ID', str(120 + os.getpid() % 50))


def main() -> int:
    """Record a drive, replay it twice, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=15.0, help='lockstep drive length')
    parser.add_argument('--realtime-minutes', type=float, default=1.0,
                        help='real-time run length (10 for the ten-minute memory check)')
    parser.add_argument('--preset', default='traffic')
    args = parser.parse_args()
    from av_perception.cli.replay import default_controller_dir, default_detector_model
    from av_perception.replay_report import compute_metrics
    from av_perception.ros.replay import (default_model_arguments, ReplayOptions, run_replay,
                                          to_replay_data)
    from av_perception.sim import Simulator
    from av_perception.sim.export import record_drive
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from soak import run_soak
    detector = default_detector_model()
    with tempfile.TemporaryDirectory() as tmp:
        if detector is None:
            from av_perception.detection.synthetic import make_random_model
            detector = make_random_model(Path(tmp) / 'stand_in.onnx', 'yolox', (416, 416))
            print('YOLOX-Nano not found: a random-weight model of its input size stands in')
        arguments = default_model_arguments(detector, default_controller_dir())
        bag = Path(tmp) / 'lockstep'
        record_drive(Simulator(args.preset, seed=1), int(args.seconds * 20), bag)
        lockstep = compute_metrics(to_replay_data(run_replay(ReplayOptions(
            str(bag), 'lockstep', launch_arguments=arguments))))
    print(f'nodes: {", ".join(lockstep["nodes"])}; detector {Path(detector).name}')
    print(f'lockstep  {lockstep["frames"]} frames: {lockstep["frames_per_second"]:.1f} frames/s '
          f'(target >= 20)')
    for node, values in lockstep['processing_ms'].items():
        print(f'  {node:20s} own p50 {values["p50"]:6.1f} ms  p95 {values["p95"]:6.1f} ms')
    print(f'  end to end p50 {lockstep["end_to_end_ms"]["p50"]:.1f} ms; end-to-end / sum of '
          f'own processing: {lockstep["plumbing_ratio"]:.2f} (target <= 1.3)')
    print('real time: the launched graph as processes, live simulator frames at 20 Hz')
    summary = run_soak(argparse.Namespace(minutes=args.realtime_minutes, rate=20.0,
                                          report_every=max(10.0, args.realtime_minutes * 20),
                                          preset=args.preset))
    worst = max(values['latency_p95_ms'] for values in summary.values())
    print(f'real time: worst node end-to-end p95 {worst:.1f} ms (target <= 100)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
