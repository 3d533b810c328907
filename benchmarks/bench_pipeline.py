#!/usr/bin/env python3
"""Pipeline throughput and latency: lockstep and real-time replays of one simulated drive.

    python benchmarks/bench_pipeline.py [--seconds 15] [--realtime-seconds 30]

One run measures, on the same 640x360 drive with YOLOX-Nano (the shared model; a generated
stand-in of the same input size when absent) and the shipped controller:

* lockstep frames/s (every frame through every node, target >= 20 on a 2-core machine);
* real-time at the bag's 20 Hz: end-to-end latency p50/p95 (target p95 <= 100 ms), drops, and
  whether latency grows from the first to the last third (queue growth);
* the ratio of end-to-end latency to the sum of the nodes' own processing times (the cost of
  the ROS plumbing, target <= 1.3);
* resident memory before and after the real-time run.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import resource
import sys
import tempfile

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA')
os.environ.setdefault('ROS_DOMAIN_ID', str(120 + os.getpid() % 50))


def rss_mb() -> float:
    """Return the current resident set size in MB (Linux)."""
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


def main() -> int:
    """Record a drive, replay it twice, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=15.0, help='lockstep drive length')
    parser.add_argument('--realtime-seconds', type=float, default=30.0,
                        help='real-time drive length (600 for the 10-minute memory check)')
    parser.add_argument('--preset', default='traffic')
    args = parser.parse_args()
    from av_perception.cli.replay import default_controller_dir, default_detector_model
    from av_perception.replay_report import compute_metrics
    from av_perception.ros.replay import (default_model_arguments, ReplayOptions, run_replay,
                                          to_replay_data)
    from av_perception.sim import Simulator
    from av_perception.sim.export import record_drive
    detector = default_detector_model()
    with tempfile.TemporaryDirectory() as tmp:
        if detector is None:
            from av_perception.detection.synthetic import make_random_model
            detector = make_random_model(Path(tmp) / 'stand_in.onnx', 'yolox', (416, 416))
            print('YOLOX-Nano not found: a random-weight model of its input size stands in')
        arguments = default_model_arguments(detector, default_controller_dir())
        lockstep_bag, realtime_bag = Path(tmp) / 'lockstep', Path(tmp) / 'realtime'
        record_drive(Simulator(args.preset, seed=1), int(args.seconds * 20), lockstep_bag)
        record_drive(Simulator(args.preset, seed=2), int(args.realtime_seconds * 20),
                     realtime_bag)
        lockstep = compute_metrics(to_replay_data(run_replay(ReplayOptions(
            str(lockstep_bag), 'lockstep', launch_arguments=arguments))))
        memory_before = rss_mb()
        recording = run_replay(ReplayOptions(str(realtime_bag), 'realtime',
                                             launch_arguments=arguments))
        memory_after = rss_mb()
    data = to_replay_data(recording)
    realtime = compute_metrics(data)
    e2e = [f.end_to_end_ms for f in data.frames if f.end_to_end_ms is not None]
    third = max(1, len(e2e) // 3)
    print(f'nodes: {", ".join(lockstep["nodes"])}; detector {Path(detector).name}')
    print(f'lockstep  {lockstep["frames"]} frames: {lockstep["frames_per_second"]:.1f} frames/s '
          f'(target >= 20)')
    for node, values in lockstep['processing_ms'].items():
        print(f'  {node:20s} own p50 {values["p50"]:6.1f} ms  p95 {values["p95"]:6.1f} ms')
    print(f'  end to end p50 {lockstep["end_to_end_ms"]["p50"]:.1f} ms; end-to-end / sum of '
          f'own processing: {lockstep["plumbing_ratio"]:.2f} (target <= 1.3)')
    print(f'realtime  {realtime["frames"]} frames at 20 Hz: end to end p50 '
          f'{realtime["end_to_end_ms"]["p50"]:.1f} ms, p95 {realtime["end_to_end_ms"]["p95"]:.1f}'
          f' ms (target <= 100); drops {realtime["drops"]}')
    if e2e:
        print(f'  latency first third p50 {np.median(e2e[:third]):.1f} ms, last third '
              f'{np.median(e2e[-third:]):.1f} ms (queue growth would raise the last)')
    print(f'  end-to-end / sum of own processing: {realtime["plumbing_ratio"]:.2f}')
    print(f'  resident memory {memory_before:.0f} MB before, {memory_after:.0f} MB after')
    return 0


if __name__ == '__main__':
    sys.exit(main())
