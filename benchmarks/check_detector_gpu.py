#!/usr/bin/env python3
"""GPU check of issue 5: CUDA and TensorRT give the CPU's detections, and how fast.

For each provider set (CPU alone, CUDA, TensorRT + CUDA) the same model runs on the same
images; every CPU detection scoring >= ``--compare-score`` must be found by the GPU run with the
same class and IoU >= 0.95, and vice versa. Latency is the median of ``--repeat`` detect calls
per image after warm-up. Writes a JSON report (``--out``) and prints a summary; exit code 1 when
a provider that is available disagrees with CPU, 2 when no GPU provider is available.

On a device machine the shared assets do not travel with the repository: copy the model and a
few images into an ignored folder of the checkout, carry it, and point --model/--images at it.
Needs onnxruntime-gpu (CUDA 12) there; TensorRT's first engine build can take a minute.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from av_perception.assets import asset_path, yolox_nano_model  # noqa: E402
from av_perception.detection import Detector, DetectorConfig, DetectorError  # noqa: E402
from av_perception.detection.tracker import iou_matrix  # noqa: E402

PROVIDER_SETS = {
    'cpu': ('CPUExecutionProvider',),
    'cuda': ('CUDAExecutionProvider', 'CPUExecutionProvider'),
    'tensorrt': ('TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider'),
}
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')


def unmatched(reference, candidate, min_score: float, min_iou: float) -> list[str]:
    """Describe detections of ``reference`` (score >= min_score) absent from ``candidate``."""
    missing = []
    for det in reference:
        if det.score < min_score:
            continue
        same = [c.bbox_xyxy for c in candidate if c.class_id == det.class_id]
        best = float(iou_matrix(np.array(det.bbox_xyxy), np.array(same)).max()) if same else 0.0
        if best < min_iou:
            missing.append(f'{det.class_name} {det.score:.3f} {[round(v) for v in det.bbox_xyxy]}'
                           f' (best IoU {best:.3f})')
    return missing


def main() -> int:
    """Run the check; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default=str(yolox_nano_model()))
    parser.add_argument('--images', default=str(asset_path('images')),
                        help='folder searched recursively for .jpg/.png')
    parser.add_argument('--repeat', type=int, default=30, help='timed runs per image')
    parser.add_argument('--compare-score', type=float, default=0.35,
                        help='detections above this must agree (0.3 is the detector threshold;'
                             ' a margin keeps FP16 score jitter at the threshold out)')
    parser.add_argument('--min-iou', type=float, default=0.95)
    parser.add_argument('--out', default=os.path.join(os.environ.get('OUT', '.'),
                                                      'detector_gpu_check.json'))
    args = parser.parse_args()
    images = sorted(p for p in Path(args.images).rglob('*') if p.suffix.lower()
                    in IMAGE_SUFFIXES)
    frames = [(p.name, cv2.imread(str(p))) for p in images]
    frames = [(name, image) for name, image in frames if image is not None]
    if not frames:
        print(f'no images under {args.images}')
        return 1
    import onnxruntime
    report = {'onnxruntime': onnxruntime.__version__, 'device': onnxruntime.get_device(),
              'available': onnxruntime.get_available_providers(), 'model': args.model,
              'images': [name for name, _ in frames], 'runs': {}}
    cache = tempfile.mkdtemp(prefix='trt_cache_')
    results = {}
    for label, providers in PROVIDER_SETS.items():
        if providers[0] not in report['available']:
            report['runs'][label] = {'skipped': f'{providers[0]} not available'}
            continue
        start = time.perf_counter()
        try:
            detector = Detector.from_config(DetectorConfig(
                model_path=args.model, providers=providers, trt_engine_cache_path=cache,
                warmup_runs=3))
        except DetectorError as err:
            report['runs'][label] = {'error': str(err)}
            continue
        load_s = time.perf_counter() - start
        latencies, stages, detections = [], {'pre': [], 'inf': [], 'post': []}, {}
        for name, image in frames:
            detections[name] = detector.detect(image).detections
            for _ in range(args.repeat):
                result = detector.detect(image)
                latencies.append(result.timings.total_ms)
                stages['pre'].append(result.timings.preprocess_ms)
                stages['inf'].append(result.timings.inference_ms)
                stages['post'].append(result.timings.postprocess_ms)
        results[label] = detections
        report['runs'][label] = {
            'providers_in_use': list(detector.providers), 'load_s': round(load_s, 2),
            'median_total_ms': round(statistics.median(latencies), 3),
            'median_stage_ms': {k: round(statistics.median(v), 3) for k, v in stages.items()},
            'detections': sum(len(d) for d in detections.values())}
    disagreements = 0
    for label in ('cuda', 'tensorrt'):
        if label not in results or 'cpu' not in results:
            continue
        problems = {}
        for name, _ in frames:
            missing = unmatched(results['cpu'][name], results[label][name], args.compare_score,
                                args.min_iou)
            extra = unmatched(results[label][name], results['cpu'][name], args.compare_score,
                              args.min_iou)
            if missing or extra:
                problems[name] = {'missing_vs_cpu': missing, 'extra_vs_cpu': extra}
        report['runs'][label]['agrees_with_cpu'] = not problems
        report['runs'][label]['disagreements'] = problems
        disagreements += len(problems)
    Path(args.out).write_text(json.dumps(report, indent=1))
    for label, run in report['runs'].items():
        print(f'{label:9s} {json.dumps(run)[:300]}')
    print(f'report: {args.out}')
    if not any(label in results for label in ('cuda', 'tensorrt')):
        return 2
    return 1 if disagreements else 0


if __name__ == '__main__':
    sys.exit(main())
