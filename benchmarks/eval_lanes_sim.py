"""Lane detector accuracy on the simulator presets (ego boundaries, TuSimple metric).

For each preset and seed the expert drives; every ``--every``-th frame the detector's ego
boundaries (at the simulator's h_samples) are scored against the ground truth with the TuSimple
metric, and its lateral offset against the true one. The detector sees what a node would:
the image, its stamp, the CameraInfo intrinsics and the mounting from the (known) vehicle
configuration.

    python benchmarks/eval_lanes_sim.py                       # all presets, ~15 s
    python benchmarks/eval_lanes_sim.py --seeds 0 1 2 --frames 300   # the reported numbers
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from av_perception.lanes import CameraModel, LaneDetector, LaneDetectorConfig  # noqa: E402
from av_perception.lanes.tusimple import ABSENT, score_frame  # noqa: E402


def detector_for(sim, overrides: dict) -> LaneDetector:
    """Build the detector a node would: CameraInfo intrinsics, mounting from the vehicle."""
    info = sim.camera_info
    camera = CameraModel.from_camera_info(info.width, info.height, info.k, info.d,
                                          info.distortion_model, info.p)
    config = sim.config
    values = {'camera_height_m': config.camera_height_m,
              'camera_pitch_deg': config.camera_pitch_deg, 'camera_x_m': config.camera_x_m}
    values.update(overrides)
    return LaneDetector(LaneDetectorConfig(**values), camera)


def _tusimple_lane(xs: np.ndarray, width: int) -> list[float]:
    return [float(x) if np.isfinite(x) and 0 <= x < width else float(ABSENT) for x in xs]


def evaluate_preset(preset: str, seeds: list[int], frames: int, every: int, overrides: dict,
                    size: tuple[int, int], worst: list) -> dict:
    """Drive each seed; return accuracy, FP, FN and lateral offset errors of the preset."""
    from av_perception.sim import Simulator

    accuracies, fps, fns, offset_errors = [], [], [], []
    valid = scored = 0
    runtime = []
    for seed in seeds:
        sim = Simulator(preset, seed=seed, size=size)
        obs = sim.reset()
        detector = detector_for(sim, overrides)
        for index in range(frames):
            start = time.perf_counter()
            estimate = detector.process(obs.image, obs.stamp_ns)
            runtime.append((time.perf_counter() - start) * 1000.0)
            if index % every == 0:
                truth = obs.truth
                rows = truth.h_samples
                gt = [_tusimple_lane(truth.left_x, size[0]), _tusimple_lane(truth.right_x,
                                                                            size[0])]
                gt = [lane for lane in gt if any(x >= 0 for x in lane)]
                pred = estimate.ego_rows(rows)
                score = score_frame(pred, gt, list(rows))
                accuracies.append(score.accuracy)
                fps.append(score.false_positive)
                fns.append(score.false_negative)
                scored += 1
                valid += estimate.valid
                if estimate.valid:
                    offset_errors.append(abs(estimate.lateral_offset_m
                                             - truth.lateral_offset_m))
                worst.append((score.accuracy, preset, seed, index))
            obs = sim.step(None)
    return {
        'accuracy': float(np.mean(accuracies)), 'fp': float(np.mean(fps)),
        'fn': float(np.mean(fns)), 'valid': valid / max(scored, 1), 'frames': scored,
        'offset_median': float(np.median(offset_errors)) if offset_errors else math.nan,
        'offset_p95': float(np.percentile(offset_errors, 95)) if offset_errors else math.nan,
        'ms_median': float(np.median(runtime)),
    }


def main() -> int:
    """Evaluate and print one line per preset."""
    from av_perception.sim import preset_names

    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--presets', nargs='*', default=None)
    parser.add_argument('--seeds', nargs='*', type=int, default=[0])
    parser.add_argument('--frames', type=int, default=60, help='frames per seed (20 fps)')
    parser.add_argument('--every', type=int, default=5, help='score every n-th frame')
    parser.add_argument('--size', default='640x360')
    parser.add_argument('--set', action='append', default=[], metavar='NAME=VALUE')
    parser.add_argument('--worst', type=int, default=0, help='list the n worst frames')
    args = parser.parse_args()
    import yaml
    overrides = {k: yaml.safe_load(v) for k, _, v in (s.partition('=') for s in args.set)}
    width, height = (int(v) for v in args.size.split('x'))
    worst: list = []
    print(f'{"preset":18s} {"acc":>7s} {"FP":>6s} {"FN":>6s} {"valid":>6s} '
          f'{"|off err| med":>14s} {"p95":>6s} {"ms":>6s}')
    for preset in args.presets or preset_names():
        result = evaluate_preset(preset, args.seeds, args.frames, args.every, overrides,
                                 (width, height), worst)
        print(f'{preset:18s} {result["accuracy"]:7.4f} {result["fp"]:6.3f} {result["fn"]:6.3f} '
              f'{result["valid"]:6.3f} {result["offset_median"]:14.3f} '
              f'{result["offset_p95"]:6.3f} {result["ms_median"]:6.2f}', flush=True)
    for accuracy, preset, seed, index in sorted(worst)[:args.worst]:
        print(f'  worst: {preset} seed {seed} frame {index}: accuracy {accuracy:.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
