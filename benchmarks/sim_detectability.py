"""How many simulated road users the real YOLOX-Nano detects (IoU >= 0.5, right class).

Drives the expert through the presets, renders every ``--every``-th frame and runs the shared
YOLOX-Nano model on it (through ``av_perception.detection`` when it is importable, otherwise
with ONNX Runtime directly). A ground-truth vehicle counts when it is at least ``--min-height``
pixels tall and at least ``--min-visible`` unoccluded/untruncated; it is detected when a
car/bus/truck detection (persons: person) overlaps it with IoU >= 0.5.

    python benchmarks/sim_detectability.py [--frames 300] [--every 10] [--save /tmp/det]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
import sys

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from av_perception.assets import yolox_nano_model  # noqa: E402
from av_perception.sim import preset_names, Simulator  # noqa: E402

VEHICLE_CLASSES = {2, 5, 7}  # car, bus, truck
INPUT = 416


class _DirectYolox:
    """Minimal YOLOX-Nano runner: top-left letterbox, BGR 0-255, decode, per-class NMS."""

    def __init__(self, path: Path, threshold: float) -> None:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = ort.InferenceSession(str(path), options,
                                            providers=['CPUExecutionProvider'])
        self.threshold = threshold
        grids, strides = [], []
        for stride in (8, 16, 32):
            n = INPUT // stride
            yy, xx = np.meshgrid(np.arange(n), np.arange(n), indexing='ij')
            grids.append(np.stack([xx.ravel(), yy.ravel()], axis=1))
            strides.append(np.full(n * n, stride))
        self.grid = np.concatenate(grids).astype(np.float32)
        self.stride = np.concatenate(strides).astype(np.float32)[:, None]

    def detect(self, image: np.ndarray) -> list[tuple[int, float, tuple]]:
        h, w = image.shape[:2]
        scale = min(INPUT / w, INPUT / h)
        canvas = np.full((INPUT, INPUT, 3), 114, np.uint8)
        resized = cv2.resize(image, (int(w * scale), int(h * scale)),
                             interpolation=cv2.INTER_LINEAR)
        canvas[:resized.shape[0], :resized.shape[1]] = resized
        tensor = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        out = self.session.run(None, {'images': tensor})[0][0]
        xy = (out[:, :2] + self.grid) * self.stride
        wh = np.exp(out[:, 2:4]) * self.stride
        scores = out[:, 4:5] * out[:, 5:]
        cls = scores.argmax(axis=1)
        best = scores[np.arange(len(cls)), cls]
        keep = best >= self.threshold
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)[keep] / scale
        best, cls = best[keep], cls[keep]
        result = []
        for c in np.unique(cls):
            idx = np.flatnonzero(cls == c)
            xywh = [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in boxes[idx]]
            chosen = cv2.dnn.NMSBoxes(xywh, best[idx].tolist(), self.threshold, 0.45)
            for k in np.array(chosen).reshape(-1):
                result.append((int(c), float(best[idx[k]]), tuple(boxes[idx[k]].tolist())))
        return result


def make_detector(threshold: float):
    """Return a callable image -> [(class_id, score, xyxy)] and a description."""
    model = yolox_nano_model()
    if not model.exists():
        raise SystemExit(f'YOLOX-Nano not found at {model} (set AV_PERCEPTION_ASSETS)')
    try:
        from av_perception.detection import Detector, DetectorConfig
        detector = Detector.from_config(DetectorConfig(
            model_path=str(model), score_threshold=threshold, cpu_threads=2))

        def run(image):
            return [(d.class_id, d.score, d.bbox_xyxy) for d in detector.detect(image).detections]
        return run, 'av_perception.detection.Detector'
    except Exception as err:  # the package may be unfinished; the direct path needs nothing
        print(f'(av_perception.detection unavailable: {err}; using ONNX Runtime directly)')
        return _DirectYolox(model, threshold).detect, 'direct ONNX Runtime'


def iou(a, b) -> float:
    """Intersection over union of two xyxy boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main() -> int:
    """Measure and print detection rates per preset and class."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--presets', nargs='*', default=list(preset_names()))
    parser.add_argument('--seeds', type=int, nargs='*', default=[0, 1])
    parser.add_argument('--frames', type=int, default=300, help='frames driven per seed')
    parser.add_argument('--every', type=int, default=10, help='detect on every n-th frame')
    parser.add_argument('--min-height', type=float, default=40.0)
    parser.add_argument('--min-visible', type=float, default=0.9)
    parser.add_argument('--threshold', type=float, default=0.3)
    parser.add_argument('--save', type=Path, default=None, help='write annotated frames here')
    args = parser.parse_args()
    cv2.setNumThreads(2)
    detect, how = make_detector(args.threshold)
    print(f'detector: {how}, score >= {args.threshold}, boxes >= {args.min_height} px tall, '
          f'visible >= {args.min_visible:.0%}')
    counts = defaultdict(lambda: [0, 0])  # (preset, class) -> [detected, total]
    scores = []
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    for preset in args.presets:
        for seed in args.seeds:
            sim = Simulator(preset, seed=seed, render=False)
            for frame in range(1, args.frames + 1):
                render = frame % args.every == 0
                obs = sim.step(render=render)
                if not render:
                    continue
                targets = [o for o in obs.truth.objects
                           if o.bbox_xyxy[3] - o.bbox_xyxy[1] >= args.min_height
                           and o.visible_fraction >= args.min_visible]
                if not targets:
                    continue
                found = detect(obs.image)
                for target in targets:
                    wanted = VEHICLE_CLASSES if target.class_id != 0 else {0}
                    best = max((iou(target.bbox_xyxy, box) if cid in wanted else 0.0, score)
                               for cid, score, box in found) if found else (0.0, 0.0)
                    hit = best[0] >= 0.5
                    key = (preset, target.class_name)
                    counts[key][0] += int(hit)
                    counts[key][1] += 1
                    if hit:
                        scores.append(best[1])
                if args.save:
                    image = obs.image.copy()
                    for target in targets:
                        x0, y0, x1, y1 = (int(v) for v in target.bbox_xyxy)
                        cv2.rectangle(image, (x0, y0), (x1, y1), (0, 255, 0), 1)
                    for cid, score, box in found:
                        x0, y0, x1, y1 = (int(v) for v in box)
                        cv2.rectangle(image, (x0, y0), (x1, y1), (0, 0, 255), 1)
                        cv2.putText(image, f'{cid}:{score:.2f}', (x0, max(10, y0 - 2)),
                                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 255), 1)
                    cv2.imwrite(str(args.save / f'{preset}_{seed}_{frame:04d}.png'), image)
    total = defaultdict(lambda: [0, 0])
    print(f'{"preset":>17} {"class":>7} {"detected":>9} {"total":>6} {"rate":>6}')
    for (preset, name), (hit, n) in sorted(counts.items()):
        print(f'{preset:>17} {name:>7} {hit:9d} {n:6d} {hit / n:6.0%}')
        total[name][0] += hit
        total[name][1] += n
    for name, (hit, n) in sorted(total.items()):
        print(f'{"all":>17} {name:>7} {hit:9d} {n:6d} {hit / n:6.0%}')
    vehicles = [total[k] for k in ('car', 'truck') if k in total]
    if vehicles:
        hit = sum(v[0] for v in vehicles)
        n = sum(v[1] for v in vehicles)
        print(f'vehicles taller than {args.min_height:.0f} px detected: {hit}/{n} = '
              f'{hit / n:.0%} (median score of hits {np.median(scores):.2f})')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
