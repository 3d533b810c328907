"""``bag_recorder`` node: records topics, raw, into a bag (a stand-in for ros2 bag record).

Messages are taken as serialised CDR (``raw=True``) and written unchanged, stamped with their
receive time on the node's clock (sim time when ``use_sim_time``). Every message handed to the
callback is written before the callback returns, and the bag is closed (metadata.yaml written)
on shutdown, SIGINT and SIGTERM included: count received == count written.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
import sys
import threading
from typing import Any, Mapping, Sequence

from rclpy.node import Node

from av_perception.bag.playback import QosSpec, RecorderConfig
from av_perception.bag.writer import BagWriter, offered_qos
from av_perception.ros.message_types import message_class
from av_perception.ros.params import ParameterBinding
from av_perception.ros.qos import is_reliable, is_transient_local, qos_profile
from av_perception.ros.runtime import run_node


class BagRecorder(Node):
    """Subscribes to the configured (or all discovered) topics and writes them to a bag."""

    def __init__(self, overrides: Mapping[str, Any] | None = None,
                 node_name: str = 'bag_recorder') -> None:
        """Declare parameters, create the bag and start discovering topics."""
        super().__init__(node_name)
        self._params = ParameterBinding(self, RecorderConfig, overrides)
        config = self._params.config
        config.validate_for_recording()
        self.writer: BagWriter | None = BagWriter(config.output, config.storage,
                                                  overwrite=config.overwrite)
        self.received: Counter = Counter()
        self._written = threading.Condition()
        self._topic_subscriptions: dict[str, Any] = {}
        self._skipped: set[str] = set()
        self._discovery_timer = self.create_timer(config.discovery_period, self.discover_topics)
        self.discover_topics()
        self.get_logger().info(f'recording to {config.output} ({config.storage})')

    def _wanted(self, topic: str) -> bool:
        config = self._params.config
        if config.topics:
            return topic in config.topics
        return topic not in config.exclude

    def discover_topics(self) -> None:
        """Subscribe to wanted topics that appeared since the last look."""
        for topic, types in self.get_topic_names_and_types():
            known = topic in self._topic_subscriptions or topic in self._skipped
            if known or not self._wanted(topic):
                continue
            msg_cls = message_class(types[0])
            if msg_cls is None or len(types) > 1:
                self._skipped.add(topic)
                self.get_logger().warning(f'not recording {topic}: type {types} is not installed '
                                          'or not unique')
                continue
            publishers = self.get_publishers_info_by_topic(topic)
            if not publishers:
                continue  # only subscribers so far: wait until someone publishes
            self._subscribe(topic, types[0], msg_cls, [p.qos_profile for p in publishers])

    def _subscribe(self, topic: str, type_name: str, msg_cls: Any, offered: list) -> None:
        config = self._params.config
        if config.reliability == 'auto':
            reliable = all(is_reliable(q) for q in offered)
        else:
            reliable = config.reliability == 'reliable'
        transient = bool(offered) and all(is_transient_local(q) for q in offered)
        spec = QosSpec('reliable' if reliable else 'best_effort',
                       'transient_local' if transient else 'volatile', config.queue_depth)
        stored = [offered_qos(is_reliable(q), is_transient_local(q), max(1, q.depth))
                  for q in offered]
        try:
            self.writer.add_topic(topic, type_name, qos=stored)
        except ValueError as err:
            self._skipped.add(topic)
            self.get_logger().warning(f'not recording {topic}: {err}')
            return
        self._topic_subscriptions[topic] = self.create_subscription(
            msg_cls, topic, partial(self._on_message, topic), qos_profile(spec), raw=True)
        self.get_logger().info(f'recording {topic} [{type_name}]')

    def _on_message(self, topic: str, data: bytes) -> None:
        if self.writer is None:
            return
        self.writer.write_raw(topic, self.get_clock().now().nanoseconds, data)
        with self._written:
            self.received[topic] += 1
            self._written.notify_all()

    def wait_for_messages(self, count: int, timeout: float) -> bool:
        """Block until ``count`` messages (all topics) were written or ``timeout`` passed."""
        with self._written:
            return self._written.wait_for(lambda: sum(self.received.values()) >= count, timeout)

    def close_bag(self) -> None:
        """Finish the bag (idempotent); nothing received is lost."""
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.close()
            text = f'wrote {writer.message_count} message(s) to {writer.path}'
            if self.context.ok():
                self.get_logger().info(text)
            else:  # after a signal the context (and /rosout) is gone already
                print(f'[bag_recorder] {text}', file=sys.stderr)

    def destroy_node(self) -> None:
        """Close the bag, then the node."""
        self.close_bag()
        super().destroy_node()


def record_bag(overrides: Mapping[str, Any] | None = None,
               args: Sequence[str] | None = None) -> int:
    """Record until shutdown (Ctrl-C, SIGTERM); return the exit code."""
    return run_node(lambda: BagRecorder(overrides), args)


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``ros2 run av_perception bag_recorder --ros-args -p output:=...``."""
    return record_bag(args=args)


if __name__ == '__main__':
    raise SystemExit(main())
