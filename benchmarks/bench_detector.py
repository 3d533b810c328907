#!/usr/bin/env python3
"""Detector overhead, cv2.dnn comparison and memory flatness, in one run.

1. Full per-frame cost: Image message -> BGR (conversion), letterbox, ONNX Runtime inference,
   decode + NMS, Detection2DArray message (by default the object_detector node's own rclpy
   conversion and builder; ``--messages rosbags`` for the rosbags messages), against the bare
   ``session.run`` on the same prepared tensor: the overhead ratio (target <= 1.15) and the
   overhead in ms. Bare and full runs alternate so a busy neighbour slows both alike.
2. The same model through ``cv2.dnn.readNetFromONNX`` (bare forward) for comparison.
3. Resident memory over ``--memory-frames`` frames of the full pipeline (``--long``: 5,000).

Prints ratios against baselines measured in this run; absolute times are context only (the
machine is shared). Usage:
    python benchmarks/bench_detector.py [--frames 200] [--long] [--messages rosbags]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import statistics
import sys
import time
from typing import Any, Callable

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from av_perception.assets import asset_path, yolox_nano_model  # noqa: E402
from av_perception.detection import Detector, DetectorConfig  # noqa: E402
from av_perception.detection.results import DetectionResult  # noqa: E402


def rss_mib() -> float:
    """Return the resident set size of this process in MiB (Linux /proc)."""
    with open('/proc/self/statm') as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def message_stages(kind: str = 'node') -> tuple[Callable[[np.ndarray, int], Any],
                                                Callable[[Any], np.ndarray],
                                                Callable[[Any, DetectionResult], Any], str]:
    """Return (make input message, message -> BGR, (input, result) -> output message, text).

    ``kind`` 'node': the object_detector node's own boundary (needs rclpy): its
    sensor_msgs/Image conversion (``image_msg_to_bgr``) and its vision_msgs builder
    (``DetectionArrayBuilder``, with the input header). 'rosbags' (and 'node' without rclpy):
    the rosbags messages of ``av_perception.bag.messages`` (the same fields). Without either,
    the stages are skipped.
    """
    missing = ''
    if kind == 'node':
        try:
            from std_msgs.msg import Header

            from av_perception.ros.image_bridge import bgr_to_image_msg, image_msg_to_bgr
            from av_perception.ros.object_detector import DetectionArrayBuilder
        except ImportError as err:
            missing = f' (no rclpy: {err})'
        else:
            def make_input(image: np.ndarray, stamp_ns: int) -> Any:
                header = Header(frame_id='camera')
                header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 10**9)
                return bgr_to_image_msg(image, header)

            builder = DetectionArrayBuilder()
            return (make_input, image_msg_to_bgr,
                    (lambda msg, result: builder.build(msg.header, result.detections)),
                    "rclpy sensor_msgs/Image in, vision_msgs/Detection2DArray out (the node's "
                    'own conversion and message builder)')
    try:
        from av_perception.bag import messages
        from av_perception.image.codec import to_bgr
    except ImportError as err:
        return ((lambda image, stamp: image), (lambda msg: msg), (lambda msg, result: None),
                f'conversion/message stages skipped ({err}){missing}')

    def to_output(msg: Any, result: DetectionResult) -> Any:
        dets = []
        for det in result.detections:
            cx, cy, w, h = det.center_size
            track = '' if det.track_id is None else str(det.track_id)
            dets.append(messages.Det(str(det.class_id), det.score, cx, cy, w, h, track))
        return messages.detection2d_array(dets, messages.stamp_to_ns(msg.header.stamp),
                                          msg.header.frame_id)

    return ((lambda image, stamp: messages.image(image, 'bgr8', stamp, 'camera')), to_bgr,
            to_output, f'rosbags sensor_msgs/Image in, vision_msgs/Detection2DArray out{missing}')


def load_image(path: str | None) -> np.ndarray:
    """Return the benchmark frame: the given file, the shared street photo, or noise."""
    candidates = [Path(path)] if path else [asset_path('images', 'street',
                                                       'hpc203_nanodet_street.png')]
    for candidate in candidates:
        image = cv2.imread(str(candidate))
        if image is not None:
            return image
    if path:
        raise SystemExit(f'cannot read image {path}')
    return np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)


def main() -> int:
    """Run the benchmark; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default=str(yolox_nano_model()),
                        help='ONNX model (default: the shared YOLOX-Nano)')
    parser.add_argument('--image', help='frame to run on (default: the shared street photo)')
    parser.add_argument('--frames', type=int, default=200, help='timed frames per variant')
    parser.add_argument('--threads', type=int, default=2, help='inference threads')
    parser.add_argument('--memory-frames', type=int, default=300,
                        help='frames of the memory check')
    parser.add_argument('--long', action='store_true', help='memory check over 5,000 frames')
    parser.add_argument('--no-cv2', action='store_true', help='skip the cv2.dnn comparison')
    parser.add_argument('--messages', choices=('node', 'rosbags'), default='node',
                        help="message stages: the node's rclpy conversion and builder "
                             '(default; rosbags without rclpy) or the rosbags messages')
    args = parser.parse_args()
    memory_frames = 5000 if args.long else args.memory_frames
    if not Path(args.model).is_file():
        print(f'model {args.model} not found (set AV_PERCEPTION_ASSETS or --model)')
        return 1

    detector = Detector.from_config(DetectorConfig(
        model_path=args.model, cpu_threads=args.threads, providers=('CPUExecutionProvider',)))
    image = load_image(args.image)
    make_input, convert, to_output, stages = message_stages(args.messages)
    message = make_input(image, 0)
    tensor, _ = detector.preprocess(image)
    backend = detector.backend
    print(f'model {Path(args.model).name} ({detector.model_info.format}, '
          f'{detector.model_info.input_width}x{detector.model_info.input_height}) on '
          f'{list(detector.providers)}, {args.threads} threads; frame {image.shape[1]}x'
          f'{image.shape[0]}; {stages}')

    def full_frame() -> Any:
        bgr = convert(message)
        result = detector.detect(bgr)
        return to_output(message, result), result

    for _ in range(10):
        backend.run(tensor)
        full_frame()
    bare, full, pairs, overheads = [], [], [], []
    stage_ms: dict[str, list[float]] = {'conversion': [], 'preprocess': [], 'inference': [],
                                        'postprocess': [], 'message': []}
    for index in range(args.frames):
        start = time.perf_counter()
        backend.run(tensor)
        bare_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        bgr = convert(message)
        converted = time.perf_counter()
        result = detector.detect(bgr)
        detected = time.perf_counter()
        to_output(message, result)
        done = time.perf_counter()
        full_ms = (done - start) * 1e3
        bare.append(bare_ms)
        full.append(full_ms)
        pairs.append(full_ms / bare_ms)
        overheads.append(full_ms - result.timings.inference_ms)
        stage_ms['conversion'].append((converted - start) * 1e3)
        stage_ms['preprocess'].append(result.timings.preprocess_ms)
        stage_ms['inference'].append(result.timings.inference_ms)
        stage_ms['postprocess'].append(result.timings.postprocess_ms)
        stage_ms['message'].append((done - detected) * 1e3)
    bare_median, full_median = statistics.median(bare), statistics.median(full)
    print(f'\n[1] overhead over bare session.run ({args.frames} alternating frames)')
    print(f'    bare session.run   median {bare_median:6.2f} ms')
    print(f'    full pipeline      median {full_median:6.2f} ms   '
          f'({len(result.detections)} detections)')
    for name, values in stage_ms.items():
        print(f'      {name:<12} median {statistics.median(values):6.2f} ms')
    extra = sum(statistics.median(v) for k, v in stage_ms.items() if k != 'inference')
    print(f'    overhead: {statistics.median(overheads):.2f} ms (median over frames of the full '
          'time less its own inference stage)')
    print(f'    ratio full/bare: {full_median / bare_median:.3f} (medians), '
          f'{statistics.median(pairs):.3f} (median of per-frame ratios), '
          f'{1 + extra / bare_median:.3f} (1 + non-inference stage medians / bare); '
          'target <= 1.15')

    if not args.no_cv2:
        cv2.setNumThreads(args.threads)
        net = cv2.dnn.readNetFromONNX(args.model)
        output_name = net.getUnconnectedOutLayersNames()
        net.setInput(tensor)
        cv_output = net.forward(output_name)
        cv_output = cv_output[0] if isinstance(cv_output, (list, tuple)) else cv_output
        ort_output = backend.run(tensor)
        difference = float(np.abs(np.asarray(cv_output).reshape(ort_output.shape)
                                  - ort_output).max())
        for _ in range(5):
            net.setInput(tensor)
            net.forward(output_name)
        cv_times, ort_times = [], []
        for _ in range(max(args.frames // 2, 10)):
            start = time.perf_counter()
            net.setInput(tensor)
            net.forward(output_name)
            cv_times.append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            backend.run(tensor)
            ort_times.append((time.perf_counter() - start) * 1e3)
        cv_median, ort_median = statistics.median(cv_times), statistics.median(ort_times)
        print(f'\n[2] cv2.dnn {cv2.__version__} vs ONNX Runtime, bare inference, same tensor')
        print(f'    cv2.dnn median {cv_median:6.2f} ms, ONNX Runtime median {ort_median:6.2f} ms'
              f' -> cv2.dnn / ONNX Runtime = {cv_median / ort_median:.2f} '
              f'(max output difference {difference:.2g})')

    print(f'\n[3] resident memory over {memory_frames} full frames')
    samples = []
    step = max(memory_frames // 10, 1)
    for index in range(memory_frames):
        full_frame()
        if index % step == 0 or index == memory_frames - 1:
            samples.append((index, rss_mib()))
    settled = [rss for index, rss in samples if index >= step]
    print('    RSS MiB at frame: ' + ', '.join(f'{i}: {r:.1f}' for i, r in samples))
    if settled:
        print(f'    growth after frame {step}: {settled[-1] - settled[0]:+.1f} MiB '
              f'(range {max(settled) - min(settled):.1f} MiB)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
