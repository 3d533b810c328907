#!/usr/bin/env python3
"""Soak test: the launched pipeline fed live simulator frames for a long time.

    python benchmarks/soak.py [--minutes 10] [--rate 20] [--report-every 30] [--json OUT]

perception.launch.xml runs as separate processes (our launch runner, respawn on). This process
drives the simulator and publishes its frames and camera_info at ``--rate`` Hz, stamped with the
wall clock, and listens to every node's output. A warm-up (frames until every node has
answered one: discovery, model loading) comes first and is not counted. It prints, every
``--report-every`` seconds and at the end: frames in, outputs out per node, frames without
output (drops), end-to-end latency p50/p95 (receive time minus the frame's stamp) over the last
window, and the resident memory of every node process. The verdict at the end compares the
first and last windows.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
import json
import os
from pathlib import Path
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA')
os.environ.setdefault('ROS_DOMAIN_ID', str(170 + os.getpid() % 50))

OUTPUTS = {'lane_detector': ('/perception/lanes/center_line', 'nav_msgs.msg', 'Path'),
           'object_detector': ('/perception/objects/detections', 'vision_msgs.msg',
                               'Detection2DArray'),
           'temporal_controller': ('/control/command', 'ackermann_msgs.msg',
                                   'AckermannDriveStamped')}


def rss_mb(pid: int) -> float:
    """Return the resident memory of a process in MB (NaN when it is gone)."""
    try:
        with open(f'/proc/{pid}/status') as status:
            for line in status:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float('nan')


class Window:
    """Latencies and counts since the last report."""

    def __init__(self) -> None:
        self.latency_ms: dict[str, list[float]] = defaultdict(list)
        self.outputs: dict[str, int] = defaultdict(int)


def main() -> int:
    """Run the soak from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--rate', type=float, default=20.0)
    parser.add_argument('--report-every', type=float, default=30.0)
    parser.add_argument('--preset', default='traffic')
    parser.add_argument('--reliability', default='best_effort',
                        choices=('best_effort', 'reliable'),
                        help="the nodes' image input QoS (default best_effort, as for sensors)")
    parser.add_argument('--json', type=Path, help='also write the summary to this JSON file')
    args = parser.parse_args()
    summary = run_soak(args)
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


def run_soak(args: argparse.Namespace) -> dict:
    """Run the soak; print periodic lines and a summary; return the summary per node."""
    import importlib
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo, Image
    from av_perception.cli.replay import default_controller_dir, default_detector_model
    from av_perception.launch_xml import LaunchRunner, load_launch, package_share
    from av_perception.ros.image_bridge import bgr_to_image_msg
    from av_perception.ros.qos import output_qos
    from av_perception.ros.replay import default_model_arguments
    from av_perception.sim import SimulationError, Simulator

    tmp = tempfile.TemporaryDirectory()
    detector = default_detector_model()
    if detector is None:
        from av_perception.detection.synthetic import make_random_model
        detector = make_random_model(Path(tmp.name) / 'stand_in.onnx', 'yolox', (416, 416))
    arguments = {**default_model_arguments(detector, default_controller_dir()),
                 'input_qos_reliability': getattr(args, 'reliability', 'best_effort')}
    plan = load_launch(package_share('av_perception') / 'launch' / 'perception.launch.xml',
                       arguments)
    runner = LaunchRunner(plan, Path(tmp.name) / 'logs')
    runner.start()
    nodes = [p.executable for p in plan.processes]

    rclpy.init(args=[])
    probe = rclpy.create_node('soak_driver')
    lock = threading.Lock()
    window, totals = Window(), Window()

    sent_stamps: set[tuple[int, int]] = set()
    warmup_stamps: set[tuple[int, int]] = set()
    warmed_up: set[str] = set()

    def on_output(node: str, msg) -> None:
        received = time.time()
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with lock:
            if key in warmup_stamps:
                warmed_up.add(node)
            if key not in sent_stamps:  # warm-up, or the controller's watchdog at start-up
                return
            for target in (window, totals):
                target.outputs[node] += 1
                target.latency_ms[node].append((received - stamp) * 1e3)
    for node in nodes:
        topic, module, name = OUTPUTS[node]
        msg_type = getattr(importlib.import_module(module), name)
        probe.create_subscription(msg_type, topic, lambda m, n=node: on_output(n, m),
                                  output_qos(50))
    images = probe.create_publisher(Image, '/camera/image_raw', output_qos(1))
    infos = probe.create_publisher(CameraInfo, '/camera/camera_info', output_qos(1))
    executor = SingleThreadedExecutor()
    executor.add_node(probe)
    threading.Thread(target=executor.spin, daemon=True).start()

    deadline = time.monotonic() + 60
    while images.get_subscription_count() < len(nodes) and time.monotonic() < deadline:
        time.sleep(0.1)  # discovery of separate processes: no callback to wait on
    seed, sim = 1, Simulator(args.preset, seed=1)
    info = sim.camera_info
    info_msg = CameraInfo(width=info.width, height=info.height,
                          distortion_model=info.distortion_model)
    info_msg.k, info_msg.d, info_msg.p = list(info.k), list(info.d), list(info.p)
    period = 1.0 / args.rate

    def publish(image, stamps: set) -> None:
        now = time.time()
        msg = bgr_to_image_msg(image, info_msg.header)
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(now), int((now % 1) * 1e9)
        msg.header.frame_id = 'camera'
        info_msg.header = msg.header
        with lock:
            stamps.add((msg.header.stamp.sec, msg.header.stamp.nanosec))
        infos.publish(info_msg)
        images.publish(msg)

    # warm-up: frames until every node has answered one (discovery, model loading), not counted
    warmup_start = time.monotonic()
    warmup_frames = [sim.step().image for _ in range(20)]
    while time.monotonic() - warmup_start < 120:
        with lock:
            if warmed_up >= set(nodes):
                break
        publish(warmup_frames[int(time.monotonic() * args.rate) % 20], warmup_stamps)
        time.sleep(period)
    with lock:
        missing = sorted(set(nodes) - warmed_up)
    warmup_s = time.monotonic() - warmup_start
    print(f'warm-up: {warmup_s:.1f} s until every node answered'
          + (f'; never answered: {missing}' if missing else ''))
    time.sleep(1.0)  # let the warm-up answers drain before counting
    memory_start = {name: rss_mb(runner.pid(name)) for name in runner.processes}
    start = time.monotonic()
    next_frame, next_report = start, start + args.report_every
    frames_in = 0
    first_window, last_window = None, Window()
    memory_first_report: dict[str, float] = {}
    print(f'soak: {", ".join(nodes)} for {args.minutes} min at {args.rate} Hz')
    while time.monotonic() - start < args.minutes * 60:
        try:
            observation = sim.step()
        except SimulationError:  # the road ended: a new one
            seed += 1
            sim = Simulator(args.preset, seed=seed)
            continue
        publish(observation.image, sent_stamps)
        frames_in += 1
        next_frame += period
        if time.monotonic() >= next_report:
            with lock:
                line = _report_line(time.monotonic() - start, frames_in, totals, window,
                                    runner, nodes)
                if first_window is None:
                    first_window = window
                    memory_first_report = {name: rss_mb(runner.pid(name))
                                           for name in runner.processes}
                last_window, window = window, Window()
            print(line, flush=True)
            next_report += args.report_every
        delay = next_frame - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    with lock:
        if window.outputs:
            last_window = window
        print(_report_line(time.monotonic() - start, frames_in, totals, window, runner, nodes))
    memory_end = {name: rss_mb(runner.pid(name)) for name in runner.processes}
    respawns = {name: p.respawns for name, p in runner.processes.items()}
    executor.shutdown()
    probe.destroy_node()
    rclpy.try_shutdown()
    codes = runner.stop()
    print('summary')
    summary = {}
    for name in nodes:
        out = totals.outputs[name]
        latency = totals.latency_ms[name]
        summary[name] = {
            'frames_in': frames_in, 'frames_out': out, 'exit_code': codes[name],
            'warmup_s': warmup_s,
            'rss_first_report_mb': memory_first_report.get(name, float('nan')),
            'rss_end_mb': memory_end[name], 'respawns': respawns[name],
            'latency_p50_ms': float(np.percentile(latency, 50)) if latency else float('nan'),
            'latency_p95_ms': float(np.percentile(latency, 95)) if latency else float('nan')}
        print(f'  {name:20s} frames in {frames_in}, out {out}, without output '
              f'{frames_in - out}; RSS {memory_start[name]:.0f} MB at start, '
              f'{memory_first_report.get(name, float("nan")):.0f} MB at the first report, '
              f'{memory_end[name]:.0f} MB at the end; respawns {respawns[name]}; exit code '
              f'{codes[name]}')
        if first_window is not None and first_window.latency_ms[name] and \
                last_window.latency_ms[name]:
            first_p95 = np.percentile(first_window.latency_ms[name], 95)
            last_p95 = np.percentile(last_window.latency_ms[name], 95)
            summary[name].update(latency_p95_first_window_ms=float(first_p95),
                                 latency_p95_last_window_ms=float(last_p95))
            print(f'  {"":20s} latency p95 first window {first_p95:.1f} ms, last window '
                  f'{last_p95:.1f} ms')
    tmp.cleanup()
    return summary


def _report_line(elapsed: float, frames_in: int, totals: Window, window: Window,
                 runner, nodes: list[str]) -> str:
    parts = [f'{elapsed:7.1f} s  in {frames_in}']
    for node in nodes:
        latency = window.latency_ms[node]
        p95 = np.percentile(latency, 95) if latency else float('nan')
        p50 = np.percentile(latency, 50) if latency else float('nan')
        parts.append(f'{node.split("_")[0]}: out {totals.outputs[node]} drops '
                     f'{frames_in - totals.outputs[node]} p50 {p50:.0f} p95 {p95:.0f} ms '
                     f'RSS {rss_mb(runner.pid(node)):.0f} MB')
    return ' | '.join(parts)


if __name__ == '__main__':
    sys.exit(main())
