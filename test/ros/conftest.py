"""Fixtures for tests that run nodes over real DDS: an rclpy context and message collectors."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')


class Collector:
    """Collects messages of one subscription with their arrival time; wait for a count."""

    def __init__(self, node: Any, msg_type: Any, topic: str, qos: Any = 10) -> None:
        self.items: list[tuple[float, Any]] = []
        self._lock = threading.Condition()
        self.subscription = node.create_subscription(msg_type, topic, self._on_message, qos)
        self._node = node

    def _on_message(self, msg: Any) -> None:
        with self._lock:
            self.items.append((time.monotonic(), msg))
            self._lock.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until ``count`` messages arrived or ``timeout`` seconds passed."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.items) >= count, timeout)

    def messages(self) -> list[Any]:
        """Return the messages received so far."""
        with self._lock:
            return [msg for _, msg in self.items]

    def close(self) -> None:
        """Destroy the subscription."""
        self._node.destroy_subscription(self.subscription)


@pytest.fixture
def collect(ros_node):
    """Provide a factory of :class:`Collector` objects (message type, topic, QoS)."""
    collectors = []

    def factory(msg_type: Any, topic: str, qos: Any = 10) -> Collector:
        collector = Collector(ros_node, msg_type, topic, qos)
        collectors.append(collector)
        return collector
    yield factory
    for collector in collectors:
        collector.close()


def node_process(module: str, *ros_args: str, **popen: Any) -> subprocess.Popen:
    """Start ``python -m <module> --ros-args <ros_args>`` with the test environment."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO_ROOT), env.get('PYTHONPATH', '')])
    env['PYTHONUNBUFFERED'] = '1'
    command = [sys.executable, '-m', module]
    if ros_args:
        command += ['--ros-args', *ros_args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **popen)


@pytest.fixture
def processes():
    """Start node processes; any still running at the end are interrupted, then killed."""
    started: list[subprocess.Popen] = []

    def start(module: str, *ros_args: str) -> subprocess.Popen:
        process = node_process(module, *ros_args)
        started.append(process)
        return process
    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
