"""Parameter declaration/validation on a real node, and Image message conversion with rclpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from rclpy.parameter import Parameter

from av_perception.params import ConfigError, parameter, validate


@dataclass(frozen=True)
class DemoConfig:
    rate: float = parameter(5.0, 'Processing rate, Hz.', low=0.5, high=50.0)
    depth: int = parameter(1, 'Queue depth.', low=1, high=10)
    mode: str = parameter('fast', 'Mode.', choices=('fast', 'exact'))
    names: tuple = parameter((), 'Names.', item_type=str)
    frozen: str = parameter('x', 'Cannot change at runtime.', read_only=True)

    def __post_init__(self):
        validate(self)


@pytest.fixture
def demo_node(ros_node):
    import rclpy
    node = rclpy.create_node('param_demo', context=ros_node.context,
                             parameter_overrides=[Parameter('depth', value=3)])
    yield node
    node.destroy_node()


def test_declared_with_descriptions_ranges_and_overrides(demo_node):
    from av_perception.ros.params import ParameterBinding
    changes = []
    binding = ParameterBinding(demo_node, DemoConfig, on_change=changes.append)
    assert binding.config.depth == 3 and binding.config.names == ()
    descriptor = demo_node.describe_parameter('rate')
    assert descriptor.description == 'Processing rate, Hz.'
    assert descriptor.floating_point_range[0].from_value == 0.5
    assert demo_node.describe_parameter('depth').integer_range[0].to_value == 10
    assert 'One of: fast, exact.' in demo_node.describe_parameter('mode').description

    result = demo_node.set_parameters([Parameter('mode', value='slow')])[0]
    assert not result.successful and "DemoConfig.mode='slow'" in result.reason
    assert binding.config.mode == 'fast' and changes == []

    result = demo_node.set_parameters([Parameter('names', value=['a', 'b'])])[0]
    assert result.successful and binding.config.names == ('a', 'b')
    assert changes[-1].names == ('a', 'b')

    result = demo_node.set_parameters([Parameter('rate', value=100.0)])[0]
    assert not result.successful  # rclpy's range check or ours: either names the problem
    assert binding.config.rate == 5.0
    assert not demo_node.set_parameters([Parameter('frozen', value='y')])[0].successful


def test_invalid_start_values_raise_config_error(ros_node):
    import rclpy
    from av_perception.ros.params import ParameterBinding
    node = rclpy.create_node('param_demo_bad', context=ros_node.context,
                             parameter_overrides=[Parameter('mode', value='slow')])
    try:
        with pytest.raises(ConfigError, match="DemoConfig.mode='slow'"):
            ParameterBinding(node, DemoConfig)
    finally:
        node.destroy_node()


def test_image_messages_round_trip_through_rclpy_serialisation():
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import CompressedImage, Image
    from std_msgs.msg import Header
    from av_perception.ros.image_bridge import (bgr_to_compressed_msg, bgr_to_image_msg,
                                                image_msg_to_bgr)
    frame = np.random.default_rng(1).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    header = Header(frame_id='camera')
    header.stamp.sec, header.stamp.nanosec = 12, 34
    msg = bgr_to_image_msg(frame, header)
    again = deserialize_message(serialize_message(msg), Image)
    assert again.header.frame_id == 'camera' and again.header.stamp.nanosec == 34
    np.testing.assert_array_equal(image_msg_to_bgr(again), frame)
    compressed = deserialize_message(serialize_message(bgr_to_compressed_msg(frame, header,
                                                                             'png')),
                                     CompressedImage)
    np.testing.assert_array_equal(image_msg_to_bgr(compressed), frame)
