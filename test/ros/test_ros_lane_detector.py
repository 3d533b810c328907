"""lane_detector node in its own process, fed simulator frames with their camera_info."""

from __future__ import annotations


import pytest

from av_perception.sim import Simulator


@pytest.fixture(scope='module')
def frames():
    """Return 5 simulator observations of a curvy highway."""
    sim = Simulator('highway_curvy', seed=5)
    return [sim.step() for _ in range(5)]


def camera_info_msg(info):
    """Return a sensor_msgs/CameraInfo of the simulator's camera info."""
    from sensor_msgs.msg import CameraInfo
    msg = CameraInfo(width=info.width, height=info.height,
                     distortion_model=info.distortion_model)
    msg.k, msg.d, msg.p = list(info.k), list(info.d), list(info.p)
    msg.header.frame_id = 'camera'
    return msg


def test_lane_paths_in_the_vehicle_frame_with_the_input_stamp(
        wait_until, frames, ros_node, collect, processes):
    from nav_msgs.msg import Path
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header
    from visualization_msgs.msg import MarkerArray
    from av_perception.ros.image_bridge import bgr_to_image_msg
    from av_perception.ros.qos import output_qos
    centre = collect(Path, '/lanes/center_line')
    left = collect(Path, '/lanes/left')
    markers = collect(MarkerArray, '/lanes/markers')
    debug = collect(Image, '/lanes/debug')
    node = processes('av_perception.ros.lane_detector', '-p', 'input_qos_reliability:=reliable',
                     '-r', '~/input/image:=/cam/image', '-r', '~/input/camera_info:=/cam/info',
                     '-r', '~/output/center_line:=/lanes/center_line',
                     '-r', '~/output/left_boundary:=/lanes/left',
                     '-r', '~/output/markers:=/lanes/markers', '-r', '~/debug/image:=/lanes/debug')
    images = ros_node.create_publisher(Image, '/cam/image', output_qos())
    infos = ros_node.create_publisher(CameraInfo, '/cam/info', output_qos())
    assert wait_until(lambda: images.get_subscription_count() >= 1 and
                      infos.get_subscription_count() >= 1, 20.0)
    infos.publish(camera_info_msg(frames[0].camera_info))
    for index, observation in enumerate(frames):
        header = Header(frame_id='camera')
        header.stamp.sec, header.stamp.nanosec = divmod(observation.stamp_ns, 10**9)
        images.publish(bgr_to_image_msg(observation.image, header))
        assert centre.wait_for(index + 1, timeout=10)
    paths = centre.messages()
    assert [p.header.stamp.sec * 10**9 + p.header.stamp.nanosec for p in paths] == \
        [o.stamp_ns for o in frames]
    last = paths[-1]
    assert last.header.frame_id == 'base_link' and len(last.poses) > 10
    # the centre line at the vehicle is where the simulator says the lane centre is
    nearest = min(last.poses, key=lambda pose: abs(pose.pose.position.x - 5.0)).pose.position
    truth = frames[-1].truth.center_line
    truth_y = truth[abs(truth[:, 0] - nearest.x).argmin(), 1]
    assert abs(nearest.y - truth_y) < 0.15
    assert left.wait_for(5, timeout=5) and left.messages()[-1].poses[0].pose.position.y > 1.0
    assert markers.wait_for(1, timeout=5) and len(markers.messages()[-1].markers) == 3
    assert debug.wait_for(1, timeout=5) and debug.messages()[0].width == 640
    # a corrupt frame is rejected; the node keeps serving
    bad = bgr_to_image_msg(frames[0].image, Header())
    bad.step = 7
    images.publish(bad)
    header = Header(frame_id='camera')
    header.stamp.sec = 99
    images.publish(bgr_to_image_msg(frames[0].image, header))
    assert centre.wait_for(6, timeout=10)
    assert centre.messages()[-1].header.stamp.sec == 99
    assert node.poll() is None
