"""launch_testing test of perception.launch.xml, for machines with ROS 2 installed.

Run with ``colcon test --packages-select av_perception`` (or ``launch_test`` on this file) on a
ROS 2 Humble/Jazzy/Kilted machine. Where ``launch_testing`` is not installable (PyPI wheels)
the module is skipped; the same graph is tested there by test/system with our launch runner.
"""

import os
from pathlib import Path
import sys
import tempfile
import unittest

import pytest

launch_testing = pytest.importorskip(
    'launch_testing', reason='launch_testing is not installed (ROS 2 launch is not on PyPI); '
                             'test/system runs the same launch files with our runner')
launch = pytest.importorskip('launch')
launch_ros = pytest.importorskip('launch_ros')

from launch import LaunchDescription  # noqa: E402, I100
from launch.actions import ExecuteProcess, IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import AnyLaunchDescriptionSource  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import rclpy  # noqa: E402

LAUNCH_DIR = Path(__file__).resolve().parents[2] / 'launch'
BAG_DIR = Path(tempfile.mkdtemp(prefix='av_perception_launch_test_'))
FRAMES = 60


def _record_bag() -> Path:
    from av_perception.sim import Simulator
    from av_perception.sim.export import record_drive
    bag = BAG_DIR / 'drive'
    record_drive(Simulator('highway_curvy', seed=8), FRAMES, bag)
    return bag


@pytest.mark.launch_test
def generate_test_description():
    """Start the pipeline (no detector model needed) and our player on a simulated drive."""
    bag = _record_bag()
    pipeline = IncludeLaunchDescription(
        AnyLaunchDescriptionSource(str(LAUNCH_DIR / 'perception.launch.xml')),
        launch_arguments={'run_detector': 'false', 'use_sim_time': 'true',
                          'input_qos_reliability': 'reliable'}.items())
    player = ExecuteProcess(
        cmd=[sys.executable, '-m', 'av_perception.ros.bag_player', '--ros-args',
             '-p', f'bag:={bag}', '-p', 'clock:=true', '-p', 'wait_for_subscribers:=3',
             '-p', 'wait_timeout:=30.0'],
        additional_env={'FASTDDS_BUILTIN_TRANSPORTS': 'LARGE_DATA'}, output='screen')
    return LaunchDescription([pipeline, player, launch_testing.actions.ReadyToTest()]), {
        'player': player}


class TestPipelineOutputs(unittest.TestCase):
    """While the graph runs: the player finishes and every node produces outputs."""

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('launch_test_probe')

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def test_lane_paths_and_commands_arrive(self, player, proc_info):
        from ackermann_msgs.msg import AckermannDriveStamped
        from nav_msgs.msg import Path as PathMsg
        received = {'lanes': [], 'command': []}
        self.node.create_subscription(PathMsg, '/perception/lanes/center_line',
                                      received['lanes'].append, 10)
        self.node.create_subscription(AckermannDriveStamped, '/control/command',
                                      received['command'].append, 10)
        end = self.node.get_clock().now() + rclpy.duration.Duration(seconds=60)
        while self.node.get_clock().now() < end and (
                len(received['lanes']) < FRAMES // 2 or not received['command']):
            rclpy.spin_once(self.node, timeout_sec=0.1)
        self.assertGreaterEqual(len(received['lanes']), FRAMES // 2)
        self.assertTrue(received['command'])
        proc_info.assertWaitForShutdown(process=player, timeout=60)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    """After shutdown: every process exited cleanly."""

    def test_exit_codes(self, proc_info):
        # SIGINT from launch is a clean exit for our nodes (0); some rmw report -2
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
        self.assertTrue(os.path.isdir(BAG_DIR))
