"""``bag_player`` node: publishes a bag's messages as recorded (a stand-in for ros2 bag play).

Raw CDR from the bag goes on the wire unchanged (no re-serialisation), with the original
timing scaled by ``rate``, optional loop, start offset, topic selection, remapping, /clock and
per-topic QoS. The process exits 0 when the bag is done (unless looping).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Mapping, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock

from av_perception.bag.playback import (load_qos_overrides, PlaybackSchedule, PlayerConfig,
                                        qos_from_recorded, QosSpec, remap_table)
from av_perception.bag.reader import BagReader
from av_perception.params import ConfigError
from av_perception.ros.message_types import message_class
from av_perception.ros.params import ParameterBinding
from av_perception.ros.qos import qos_profile
from av_perception.ros.runtime import init_ros, ns_to_stamp


class BagPlayer(Node):
    """Publishes the messages of one bag; call :meth:`play` (blocking) after construction."""

    def __init__(self, overrides: Mapping[str, Any] | None = None,
                 node_name: str = 'bag_player') -> None:
        """Declare parameters, open the bag and create one publisher per played topic."""
        super().__init__(node_name)
        self._params = ParameterBinding(self, PlayerConfig, overrides)
        config = self._params.config
        config.validate_for_playing()
        self.reader = BagReader(config.bag)
        remaps = remap_table(config.remap)
        qos_overrides = (load_qos_overrides(config.qos_profile_overrides_path)
                         if config.qos_profile_overrides_path else {})
        wanted = set(config.topics) if config.topics else None
        infos = {t.name: t for t in self.reader.topics()}
        if wanted is not None and wanted - set(infos):
            raise ConfigError(f'PlayerConfig.topics: {sorted(wanted - set(infos))} not in the bag '
                              f'{config.bag}; it has {sorted(infos)}')
        self._topic_publishers: dict[str, Any] = {}
        self._reliable: list[Any] = []
        for name, info in infos.items():
            if wanted is not None and name not in wanted:
                continue
            msg_cls = message_class(info.type)
            if msg_cls is None:
                self.get_logger().warning(f'topic {name}: message type {info.type} is not '
                                          'installed; not playing it')
                continue
            out_name = remaps.get(name, name)
            spec = qos_overrides.get(out_name) or qos_overrides.get(name) or \
                qos_from_recorded(info.offered_qos)
            self._topic_publishers[name] = self.create_publisher(msg_cls, out_name,
                                                                 qos_profile(spec))
            if spec.reliability == 'reliable':
                self._reliable.append(self._topic_publishers[name])
        self._clock_pub = self.create_publisher(Clock, '/clock', qos_profile(QosSpec(depth=1))) \
            if config.clock else None
        self.published = 0
        self.passes = 0
        self._stop = threading.Event()

    @property
    def config(self) -> PlayerConfig:
        """Return the current (validated) configuration."""
        return self._params.config

    def stop(self) -> None:
        """Ask :meth:`play` to return soon."""
        self._stop.set()

    def subscriber_count(self) -> int:
        """Return the number of subscriptions matched, summed over the played topics."""
        return sum(p.get_subscription_count() for p in self._topic_publishers.values())

    def _wait_for_subscribers(self) -> None:
        needed = self.config.wait_for_subscribers
        if not needed or not self._topic_publishers:
            return
        deadline = time.monotonic() + self.config.wait_timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            if self.subscriber_count() >= needed:
                return
            self._stop.wait(0.02)
        self.get_logger().warning(f'{self.subscriber_count()} of {needed} subscriber(s) matched '
                                  f'after {self.config.wait_timeout} s; playing anyway')

    def play(self) -> int:
        """Publish the bag (looping if configured); return the number of messages published."""
        self._wait_for_subscribers()
        if self.config.delay:
            self._stop.wait(self.config.delay)
        info = self.reader.info()
        if not info.message_count or not self._topic_publishers:
            self.get_logger().warning(f'nothing to play in {self.config.bag}')
            return 0
        start_ns = info.start_ns + int(self.config.start_offset * 1e9)
        while not self._stop.is_set():
            self._play_once(start_ns)
            self.passes += 1
            if not self.config.loop:
                break
        for publisher in self._reliable:
            publisher.wait_for_all_acked(rclpy.duration.Duration(seconds=1.0))
        self.report_problems()
        return self.published

    def report_problems(self) -> None:
        """Log what was skipped in the bag (damaged files, bad messages, unknown types)."""
        problems = self.reader.problems
        for problem in problems[:20]:
            self.get_logger().warning(f'skipped: {problem}')
        total = sum(self.reader.problem_counts.values())
        if total > 20:
            self.get_logger().warning(f'{total - 20} more problem(s) not listed')

    def _play_once(self, start_ns: int) -> None:
        schedule = PlaybackSchedule(start_ns, self.config.rate, time.monotonic())
        clock_period = 1.0 / self.config.clock_frequency
        for raw in self.reader.raw_messages(list(self._topic_publishers), start_ns=start_ns):
            if self.config.rate != schedule.rate:  # changed at runtime: re-anchor here
                schedule = PlaybackSchedule(raw.timestamp_ns, self.config.rate, time.monotonic())
            due = schedule.due(raw.timestamp_ns)
            while not self._stop.is_set():
                remaining = due - time.monotonic()
                if remaining <= 0:
                    break
                if self._clock_pub is not None:
                    self._publish_clock(schedule.bag_time(time.monotonic()))
                    self._stop.wait(min(remaining, clock_period))
                else:
                    self._stop.wait(remaining)
            if self._stop.is_set():
                return
            if self._clock_pub is not None:
                self._publish_clock(raw.timestamp_ns)
            self._topic_publishers[raw.topic].publish(bytes(raw.data))
            self.published += 1

    def _publish_clock(self, bag_ns: int) -> None:
        msg = Clock()
        msg.clock = ns_to_stamp(bag_ns, type(msg.clock))
        self._clock_pub.publish(msg)

    def destroy_node(self) -> None:
        """Close the bag, then the node."""
        if hasattr(self, 'reader'):
            self.reader.close()
        super().destroy_node()


def play_bag(overrides: Mapping[str, Any] | None = None,
             args: Sequence[str] | None = None) -> int:
    """Run a player to completion in this process; return the exit code."""
    if not init_ros(args):
        return 2
    node = None
    executor = None
    spinner = None
    try:
        node = BagPlayer(overrides)
        # SIGINT/SIGTERM shut the context down (rclpy's handlers): stop playing then
        rclpy.get_default_context().on_shutdown(node.stop)
        # spin in the background so parameter services (rate changes) stay responsive
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spinner = threading.Thread(target=_spin_quietly, args=(executor,), daemon=True)
        spinner.start()
        count = node.play()
        node.get_logger().info(f'played {count} message(s) in {node.passes} pass(es)')
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except ConfigError as err:
        rclpy.logging.get_logger('bag_player').fatal(f'invalid configuration: {err}')
        return 2
    except ValueError as err:  # BagError and friends: a clear one-line reason
        rclpy.logging.get_logger('bag_player').fatal(str(err))
        return 1
    finally:
        if node is not None:
            node.stop()
        rclpy.try_shutdown()  # wakes the spinning executor
        if spinner is not None:
            spinner.join(timeout=2.0)
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()


def _spin_quietly(executor: SingleThreadedExecutor) -> None:
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``ros2 run av_perception bag_player --ros-args -p bag:=...``."""
    return play_bag(args=args)


if __name__ == '__main__':
    raise SystemExit(main())
