#!/usr/bin/env python3
"""Per-frame cost of the temporal controller at history 4, 16 and 64, and the naive way.

O(1) path: ``TemporalController.step`` (preprocess, CNN once, one two-lane LSTM step, limits).
Naive path: the same commands by re-running the CNN over every frame of the window the command
summarises (N+1..2N frames; preprocessed inputs are cached, which favours the naive path) and
the LSTM over them from a zero state, every frame. Histories and paths alternate in short
blocks so a busy neighbour slows all of them alike; per-frame times are medians over blocks.

Prints ratios against history 4 of the O(1) path measured in this run (target: history 64 at
most 1.2x of history 4); absolute times are context only (the machine is shared). Usage:
    python benchmarks/bench_controller.py [--controller DIR] [--frames 60] [--long]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from av_perception.control import TemporalController, TemporalControllerConfig  # noqa: E402
from av_perception.control.history import StaggeredLstmState  # noqa: E402
from av_perception.control.preprocess import preprocess_frame  # noqa: E402

HISTORIES = (4, 16, 64)
PERIOD_NS = 50_000_000


def camera_frames(count: int, seed: int = 0) -> list[np.ndarray]:
    """Return simulator frames (noise of the same size without the simulator)."""
    try:
        from av_perception.sim import Simulator
        sim = Simulator('highway_curvy', seed=seed)
        frames = [sim.reset().image]
        while len(frames) < count:
            frames.append(sim.step(None).image)
        return frames
    except ImportError:
        rng = np.random.default_rng(seed)
        return [rng.integers(0, 256, (360, 640, 3), np.uint8) for _ in range(count)]


class NaiveController:
    """Recomputes each command from scratch over its window: CNN on every frame, then LSTM."""

    def __init__(self, controller: TemporalController) -> None:
        """Share the model of ``controller`` and its history length."""
        self.model = controller.model
        self.windows = StaggeredLstmState(controller.history_length, 1, 1)
        self.cache: list[np.ndarray] = []

    def step(self, image: np.ndarray) -> float:
        """Return the steering command of the next frame."""
        self.cache.append(preprocess_frame(image, self.model.metadata.input))
        window = self.windows.window(len(self.cache) - 1)
        frames = np.concatenate(self.cache[-window:])
        features = self.model.encode(frames)
        h, c = self.model.zero_state(1)
        command, _, _ = self.model.run_temporal(features[None], h, c)
        return float(command[0, -1, 0])


def main() -> int:
    """Run the benchmark; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--controller', default='', help='model directory (default: shipped)')
    parser.add_argument('--frames', type=int, default=60, help='timed frames per history')
    parser.add_argument('--block', type=int, default=10, help='frames per alternating block')
    parser.add_argument('--long', action='store_true', help='1,000 timed frames per history')
    parser.add_argument('--threads', type=int, default=1, help='ONNX Runtime threads')
    args = parser.parse_args()
    frames_per_history = 1000 if args.long else args.frames
    images = camera_frames(32)
    paths = {}
    for history in HISTORIES:
        config = TemporalControllerConfig(model_dir=args.controller, history_length=history,
                                          cpu_threads=args.threads)
        controller = TemporalController.from_dir(None, config)
        naive = NaiveController(TemporalController.from_dir(None, config))
        paths[history] = (controller, naive, [0])
        # warm up past the first re-basing so both paths run at their steady-state window
        for index in range(2 * history + 2):
            image = images[index % len(images)]
            controller.step(image, index * PERIOD_NS)
            naive.step(image)
        paths[history][2][0] = 2 * history + 2
    times = {(h, kind): [] for h in HISTORIES for kind in ('o1', 'naive')}
    check = {h: [] for h in HISTORIES}
    for _ in range(max(1, frames_per_history // args.block)):
        for history in HISTORIES:
            controller, naive, counter = paths[history]
            for kind in ('o1', 'naive'):
                start_index = counter[0]
                started = time.perf_counter()
                for offset in range(args.block):
                    index = start_index + offset
                    image = images[index % len(images)]
                    if kind == 'o1':
                        result = controller.step(image, index * PERIOD_NS)
                        check[history].append(result.raw_steering_rad)
                    else:
                        value = naive.step(image)
                        check[history].append(value)
                times[(history, kind)].append((time.perf_counter() - started) / args.block)
            counter[0] += args.block
    base = statistics.median(times[(HISTORIES[0], 'o1')])
    print(f'controller: {paths[4][0].model.model_dir}  (ONNX Runtime {args.threads} thread(s), '
          f'{frames_per_history} timed frames per history and path)')
    print(f'{"history":>7}  {"window":>8}  {"O(1) ms/frame":>13}  {"vs history 4":>12}  '
          f'{"naive ms/frame":>14}  {"naive / O(1)":>12}')
    for history in HISTORIES:
        o1 = statistics.median(times[(history, 'o1')])
        naive = statistics.median(times[(history, 'naive')])
        print(f'{history:>7}  {f"{history + 1}..{2 * history}":>8}  {o1 * 1e3:>13.3f}  '
              f'{o1 / base:>11.2f}x  {naive * 1e3:>14.3f}  {naive / o1:>11.1f}x')
    ratio = statistics.median(times[(64, 'o1')]) / base
    print(f'history 64 costs {ratio:.2f}x history 4 per frame (target <= 1.2x): '
          f'{"PASS" if ratio <= 1.2 else "FAIL"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
