"""Frames per second of the driving simulator, against a plain cv2.warpPerspective.

For each frame size the script times, in the same run:

* ``step``: ``Simulator.step()`` with rendering (physics, expert, traffic and the frame);
* ``fps+truth``: the same plus computing the ground truth of every frame;
* ``baseline``: one ``cv2.warpPerspective`` of a frame of that size (the cheapest way to make
  a perspective ground image), so the printed ratio says how many warps one frame costs.

Absolute numbers depend on the machine; the ratios are what to compare between runs.

    python benchmarks/bench_sim.py [--seconds 2] [--preset traffic|all] [--threads 2]
                                   [--sizes 640x360 1280x720]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from av_perception.sim import preset_names, Simulator  # noqa: E402


def _block(function, count: int) -> float:
    """Seconds per call of ``function`` over ``count`` calls."""
    start = time.perf_counter()
    for _ in range(count):
        function()
    return (time.perf_counter() - start) / count


def bench_size(preset: str, size: tuple[int, int], seconds: float, seed: int) -> dict:
    """Time simulator steps and the warpPerspective baseline at one frame size.

    The three measurements alternate in short blocks and the medians are reported, so load
    from other processes hits all of them alike.
    """
    width, height = size
    sim = Simulator(preset, seed=seed, size=size)
    truth_sim = Simulator(preset, seed=seed, size=size)
    rng = np.random.default_rng(0)
    source = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    homography = np.array([[1.0, 0.3, -50.0], [0.0, 1.2, -20.0], [0.0, 0.0008, 1.0]])

    def warp():
        cv2.warpPerspective(source, homography, (width, height))

    sim.step()  # warm-up: first texture chunks, caches
    truth_sim.step().truth
    steps, truths, warps = [], [], []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(steps) < 3:
        steps.append(_block(sim.step, 10))
        truths.append(_block(lambda: truth_sim.step().truth, 10))
        warps.append(_block(warp, 20))
    step, truth, base = (float(np.median(v)) for v in (steps, truths, warps))
    return {'size': f'{width}x{height}', 'step_ms': step * 1e3, 'fps': 1.0 / step,
            'truth_fps': 1.0 / truth, 'warp_ms': base * 1e3, 'ratio': step / base}


def main() -> int:
    """Run the benchmark and print one line per preset and frame size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=3.0,
                        help='timing duration per frame size (default 3)')
    parser.add_argument('--preset', default='traffic',
                        help="simulator preset, or 'all' for every preset (traffic)")
    parser.add_argument('--sizes', nargs='+', default=['640x360', '1280x720'],
                        help='frame sizes WIDTHxHEIGHT (640x360 1280x720)')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2, help='OpenCV threads (2)')
    args = parser.parse_args()
    presets = list(preset_names()) if args.preset == 'all' else [args.preset]
    try:
        sizes = [tuple(int(v) for v in size.lower().split('x')) for size in args.sizes]
    except ValueError:
        sizes = []
    if not sizes or any(len(size) != 2 for size in sizes):
        parser.error(f'--sizes {" ".join(args.sizes)}: expected WIDTHxHEIGHT')
    cv2.setNumThreads(args.threads)
    print(f'seed {args.seed}, OpenCV threads {args.threads}')
    print(f'{"preset":>17} {"size":>10} {"step ms":>8} {"fps":>7} {"fps+truth":>9} '
          f'{"warp ms":>8} {"step/warp":>9}')
    for preset in presets:
        for size in sizes:
            r = bench_size(preset, size, args.seconds, args.seed)
            print(f'{preset:>17} {r["size"]:>10} {r["step_ms"]:8.2f} {r["fps"]:7.1f} '
                  f'{r["truth_fps"]:9.1f} {r["warp_ms"]:8.3f} {r["ratio"]:9.1f}', flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
