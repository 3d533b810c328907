"""What every perception node shares at the ROS edge: stamps, diagnostics, debug, error logs."""

from __future__ import annotations

from collections import OrderedDict
import threading
import time
import traceback
from typing import Any, Callable, Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import Float64

from av_perception.node_stats import FrameCounters, LatencyWindow, RateEstimator
from av_perception.ros.qos import output_qos
from av_perception.ros.runtime import stamp_to_ns

LEVELS = {'ok': DiagnosticStatus.OK, 'warn': DiagnosticStatus.WARN,
          'error': DiagnosticStatus.ERROR, 'stale': DiagnosticStatus.STALE}


class NodeHealth:
    """Counters, latency and rate of one node, published as /diagnostics and timing topics.

    A node calls :meth:`frame_received` on each input, :meth:`frame_done` with its processing
    time, :meth:`reject` for bad input (one rate-limited error per reason class) and
    :meth:`set_status` with its own level, message and values. Diagnostics go out every
    ``period_s``, and at once for each new error.
    """

    def __init__(self, node: Node, hardware_id: str, period_s: float = 1.0) -> None:
        """Create the /diagnostics and ~/debug/processing_time_ms publishers and the timer."""
        self._node = node
        self.hardware_id = hardware_id
        self.counters = FrameCounters()
        self.latency = LatencyWindow()
        self.rate = RateEstimator()
        self.processing_ms_by_stamp: OrderedDict[int, float] = OrderedDict()
        self._level, self._message, self._values = 'stale', 'no input yet', {}
        self._published = ('', '')  # level and message of the last diagnostics sent
        self._diagnostics = node.create_publisher(DiagnosticArray, '/diagnostics', output_qos())
        self._timing = node.create_publisher(Float64, '~/debug/processing_time_ms',
                                             output_qos())
        self._timer = node.create_timer(period_s, self.publish_diagnostics)

    def frame_received(self) -> float:
        """Count an input frame; return a start time for :meth:`frame_done`."""
        self.counters.received += 1
        now = time.perf_counter()
        self.rate.tick(now)
        return now

    def frame_done(self, started: float, stamp_ns: int | None = None) -> float:
        """Count a processed frame, publish and return its processing time in ms.

        With ``stamp_ns`` the time is also kept per frame stamp (the last 1000) for tools that
        compose nodes in one process, such as the replay.
        """
        milliseconds = (time.perf_counter() - started) * 1e3
        self.counters.processed += 1
        self.latency.add(milliseconds)
        if stamp_ns is not None:
            self.processing_ms_by_stamp[stamp_ns] = milliseconds
            while len(self.processing_ms_by_stamp) > 1000:
                self.processing_ms_by_stamp.popitem(last=False)
        self._timing.publish(Float64(data=milliseconds))
        return milliseconds

    def reject(self, reason: str, error: Exception) -> None:
        """Count a bad input and log it (rate-limited per reason): the node keeps serving."""
        self.counters.rejected += 1
        self._node.get_logger().error(f'{reason}: {error}', throttle_duration_sec=5.0)
        self.set_status('error', f'{reason}: {error}')

    def fail(self, reason: str, error: Exception) -> None:
        """Count a processing failure and log it (rate-limited)."""
        self.counters.failed += 1
        self._node.get_logger().error(f'{reason}: {error}', throttle_duration_sec=5.0)
        self.set_status('error', f'{reason}: {error}')

    def set_status(self, level: str, message: str,
                   values: Mapping[str, Any] | None = None) -> None:
        """Set what the next diagnostics message reports."""
        self._level, self._message = level, message
        if values is not None:
            self._values = dict(values)
        if level == 'error' and (level, message) != self._published:
            self.publish_diagnostics()  # at once: the next status must not hide a short error

    @property
    def values(self) -> dict[str, Any]:
        """Return the status values the node set last (provider, model, ...)."""
        return dict(self._values)

    def publish_diagnostics(self) -> None:
        """Publish one DiagnosticArray with the status and the standard values."""
        self._published = (self._level, self._message)
        status = DiagnosticStatus(level=LEVELS[self._level],
                                  name=self._node.get_fully_qualified_name(),
                                  message=self._message, hardware_id=self.hardware_id)
        values = {
            'frames_received': self.counters.received,
            'frames_processed': self.counters.processed,
            'frames_rejected': self.counters.rejected,
            'frames_failed': self.counters.failed,
            'time_jumps': self.counters.time_jumps,
            'input_rate_hz': f'{self.rate.hz:.2f}',
            'latency_p50_ms': f'{self.latency.percentile(50):.2f}',
            'latency_p95_ms': f'{self.latency.percentile(95):.2f}',
            **self._values,
        }
        status.values = [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self._node.get_clock().now().to_msg()
        self._diagnostics.publish(array)


def header_stamp_ns(msg: Any) -> int:
    """Return the header stamp of a message in nanoseconds."""
    return stamp_to_ns(msg.header.stamp)


def wants(publisher: Any) -> bool:
    """Return whether anybody subscribes to ``publisher`` (debug output only then)."""
    return publisher.get_subscription_count() > 0


class LatestFrameWorker:
    """Processes the newest frame on its own thread; frames that arrive meanwhile replace it.

    The subscription callback only stores the message (microseconds), so a slow model never
    makes the executor queue stale frames: when processing is slower than the input, the frames
    in between are dropped and counted in ``dropped``. With ``threaded=False`` the message is
    processed inside the callback (deterministic lockstep replay).
    """

    def __init__(self, process: Callable[[Any], None], threaded: bool = True,
                 name: str = 'frame_worker') -> None:
        """Call ``process(msg)`` for the latest message."""
        self._process = process
        self._threaded = threaded
        self._pending: Any = None
        self._condition = threading.Condition()
        self._running = True
        self._busy = False
        self.dropped = 0
        self._thread = None
        if threaded:
            self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
            self._thread.start()

    def submit(self, msg: Any) -> None:
        """Offer a new message (replaces one not yet started)."""
        if not self._threaded:
            self._process(msg)
            return
        with self._condition:
            if self._pending is not None:
                self.dropped += 1
            self._pending = msg
            self._condition.notify_all()

    def _loop(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending is not None or not self._running)
                if not self._running:
                    return
                msg, self._pending = self._pending, None
                self._busy = True
            try:
                self._process(msg)
            except Exception:  # noqa: BLE001 - a frame must never kill the worker
                if self._running:  # during shutdown rclpy refuses to publish: expected
                    traceback.print_exc()
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending or processing (tests, lockstep)."""
        with self._condition:
            return self._condition.wait_for(
                lambda: self._pending is None and not self._busy, timeout)

    def stop(self) -> None:
        """Stop the thread after the frame in progress."""
        with self._condition:
            self._running = False
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
