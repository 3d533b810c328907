"""Process entry points and small helpers shared by every node (Humble to Kilted)."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Sequence

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node

from av_perception.bag.messages import stamp_to_ns  # noqa: F401 - one definition, re-exported
from av_perception.params import ConfigError

# Large images need FastDDS' LARGE_DATA transport (UDP discovery, TCP/SHM data); the default
# transports drop most 640x480 frames at 30 Hz. Set it before the first participant exists.
os.environ.setdefault('FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA')


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """Create the node from ``factory``, spin it until shutdown, clean up; return exit code.

    A :class:`ConfigError` while constructing (bad parameter) is logged as one clear line and
    gives exit code 2. Follows the Humble-compatible pattern (no ``with rclpy.init()``).
    """
    if not init_ros(args):
        return 2
    node = None
    code = 0
    try:
        node = factory()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ConfigError as err:
        rclpy.logging.get_logger('av_perception').fatal(f'invalid configuration: {err}')
        code = 2
    except ValueError as err:  # our error types (bag, model, image) name the bad input
        rclpy.logging.get_logger('av_perception').fatal(str(err))
        code = 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


def run_lifecycle_node(factory: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """Run a lifecycle node like :func:`run_node`, configuring and activating it on autostart.

    Without ``autostart`` the node waits for a lifecycle manager. A failed configure leaves
    the node alive (unconfigured, reporting on /diagnostics), so the
    reason can be read and the transition retried after fixing the parameter.
    """
    def factory_with_autostart() -> Node:
        node = factory()
        if node.config.autostart:
            if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                node.trigger_activate()
            else:
                node.get_logger().error('configure failed; the node stays unconfigured (fix '
                                        'the parameters, then call the configure transition)')
        return node
    return run_node(factory_with_autostart, args)


def init_ros(args: Sequence[str] | None = None) -> bool:
    """Initialise rclpy; a malformed command line (e.g. a bad ``-p``) is one clear line."""
    try:
        rclpy.init(args=list(args) if args is not None else None)
    except RCLError as err:
        print(f'[av_perception] cannot start: {err}', file=sys.stderr)
        return False
    return True


def ns_to_stamp(stamp_ns: int, msg_type: Any) -> Any:
    """Return a builtin_interfaces/Time of ``msg_type`` for nanoseconds."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return msg_type(sec=sec, nanosec=nanosec)
