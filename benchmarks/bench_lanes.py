"""Speed of the lane detector against a Canny + HoughLinesP baseline on the same frames.

Both run on the same frames in the same process, interleaved frame by frame (in a rotating
order) so that load from other processes hits both alike; the ratio is what to read, absolute
milliseconds are context. Frames: the Udacity solidWhiteRight.mp4 video (shared assets)
resized to each size, or synthetic road frames when the assets are absent. The detector runs
as in a node (tracking across frames) and, separately, with a reset before every frame
(sliding-window search each time, the cost of a cold start).

The baseline is the classic "finding lane lines" pipeline: grey, 5x5 Gaussian, Canny 50/150,
trapezoid region of interest, probabilistic Hough, slope split and averaging into one left and
one right line.

    python benchmarks/bench_lanes.py               # ~3 s per size
    python benchmarks/bench_lanes.py --seconds 20  # longer, steadier
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from av_perception.assets import asset_path  # noqa: E402
from av_perception.lanes import LaneDetector, LaneDetectorConfig  # noqa: E402
from av_perception.lanes.presets import load_camera_preset  # noqa: E402
from av_perception.params import from_mapping  # noqa: E402


def canny_hough_lanes(image: np.ndarray) -> list[tuple[float, float]]:
    """Return (slope, intercept) of the averaged left and right lines (x = m y + b)."""
    height, width = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), 50, 150)
    region = np.zeros_like(edges)
    polygon = np.array([[(0, height), (int(0.45 * width), int(0.6 * height)),
                         (int(0.55 * width), int(0.6 * height)), (width, height)]], np.int32)
    cv2.fillPoly(region, polygon, 255)
    lines = cv2.HoughLinesP(cv2.bitwise_and(edges, region), 2, np.pi / 180, 20,
                            minLineLength=max(10, width // 40), maxLineGap=width // 8)
    if lines is None:
        return []
    segments = lines.reshape(-1, 4).astype(np.float64)  # (N, 1, 4) in OpenCV 4, (N, 4) in 5
    dx = segments[:, 2] - segments[:, 0]
    dy = segments[:, 3] - segments[:, 1]
    slope = np.divide(dy, dx, out=np.zeros_like(dy), where=dx != 0)
    result = []
    for side in (slope < -0.4, slope > 0.4):
        if np.any(side):
            xs = np.concatenate([segments[side, 0], segments[side, 2]])
            ys = np.concatenate([segments[side, 1], segments[side, 3]])
            result.append(tuple(np.polyfit(ys, xs, 1)))
    return result


def load_frames(count: int) -> tuple[list[np.ndarray], str]:
    """Return BGR frames of the real video, or synthetic ones without the assets."""
    video = asset_path('lanes', 'udacity_p1', 'solidWhiteRight.mp4')
    frames = []
    if video.exists():
        capture = cv2.VideoCapture(str(video))
        while len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
    if frames:
        return frames, f'{video.name} ({len(frames)} frames)'
    from av_perception.lanes.synthetic import RoadScene, render_road_scene
    scene = RoadScene()
    frames = [render_road_scene(scene.replace(lateral_offset_m=0.3 * np.sin(k / 10.0)))[0]
              for k in range(min(count, 30))]
    return frames, f'synthetic road frames ({len(frames)})'


def detector_for(size: tuple[int, int], reset_each: bool) -> LaneDetector:
    """Return the detector with the P1 camera preset (intrinsics scale to the size)."""
    preset = load_camera_preset('udacity_p1')
    config = from_mapping(LaneDetectorConfig, preset.detector_overrides)
    detector = LaneDetector(config, preset.camera)
    detector.birdseye_for(*size)  # build the maps outside the timing
    return detector


def measure(frames: list[np.ndarray], size: tuple[int, int], seconds: float) -> dict:
    """Interleave the three pipelines over the frames for about ``seconds``."""
    resized = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    tracking = detector_for(size, False)
    cold = detector_for(size, True)
    times: dict[str, list[float]] = {'tracking': [], 'cold': [], 'baseline': []}
    # warm-up: caches, lazy allocations
    for frame in resized[:3]:
        tracking.process(frame, 0)
        canny_hough_lanes(frame)
    tracking.reset()
    deadline = time.perf_counter() + seconds
    stamp = 0
    index = 0

    def run_tracking(frame: np.ndarray) -> None:
        tracking.process(frame, stamp)

    def run_baseline(frame: np.ndarray) -> None:
        canny_hough_lanes(frame)

    def run_cold(frame: np.ndarray) -> None:
        cold.process(frame, 0)

    pipelines = [('tracking', run_tracking), ('baseline', run_baseline), ('cold', run_cold)]
    while time.perf_counter() < deadline or index < len(resized):
        frame = resized[index % len(resized)]
        if index % len(resized) == 0:
            tracking.reset()
        stamp += 40_000_000
        cold.reset()
        # Rotate the order each frame: a preemption pattern on a shared machine (a time slice
        # ending every few milliseconds) then hits every pipeline in every position alike.
        shift = index % len(pipelines)
        index += 1
        for name, run in pipelines[shift:] + pipelines[:shift]:
            start = time.perf_counter()
            run(frame)
            times[name].append(time.perf_counter() - start)
    return {name: np.array(values) * 1000.0 for name, values in times.items()}


def main() -> int:
    """Run the benchmark and print ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=3.0, help='per image size')
    parser.add_argument('--frames', type=int, default=120, help='distinct frames to cycle')
    parser.add_argument('--threads', type=int, default=0,
                        help="cv2.setNumThreads (0: leave OpenCV's default)")
    args = parser.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)
    frames, source = load_frames(args.frames)
    print(f'frames: {source}; OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads')
    print(f'{"size":>9s} {"pipeline":<26s} {"median ms":>9s} {"p90 ms":>7s} '
          f'{"baseline / this":>15s}')
    for size in ((640, 360), (1280, 720)):
        result = measure(frames, size, args.seconds)
        base = float(np.median(result['baseline']))
        rows = (('lane detector (tracking)', result['tracking']),
                ('lane detector (cold/frame)', result['cold']),
                ('Canny + HoughLinesP', result['baseline']))
        for name, values in rows:
            median = float(np.median(values))
            print(f'{size[0]}x{size[1]:<4d} {name:<26s} {median:9.2f} '
                  f'{np.percentile(values, 90):7.2f} {base / median:15.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
