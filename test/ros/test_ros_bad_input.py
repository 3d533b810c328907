"""Every perception node rejects bad images by name, publishes nothing for them, keeps serving."""

from __future__ import annotations


import numpy as np
import pytest

from av_perception.detection.synthetic import make_constant_model, yolox_output_for_boxes

GOOD = np.full((120, 160, 3), 90, np.uint8)


def bad_images():
    """Yield (name, message, expected words in the error) for every class of bad frame."""
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from av_perception.ros.image_bridge import bgr_to_image_msg

    def frame(**changes):
        msg = bgr_to_image_msg(GOOD, Header(frame_id='camera'))
        for key, value in changes.items():
            setattr(msg, key, value)
        return msg
    yield 'unknown encoding', frame(encoding='bgr9'), 'unsupported image encoding'
    yield 'step too small', frame(step=100), 'step 100 is smaller than one row'
    yield 'truncated data', frame(data=bytes(GOOD.tobytes()[:5000])), 'data holds 5000 B'
    yield 'height too large', frame(height=121), 'expected step x height'
    yield 'zero size', frame(width=0, step=0, data=b''), 'zero-size image'
    depth = Image(height=2, width=2, encoding='32FC1', step=8,
                  data=np.array([[np.nan, 1], [np.inf, 2]], np.float32).tobytes())
    yield 'float depth with NaN', depth, 'is not a camera image'
    yield 'an 8K frame', frame(width=7680, height=4320, step=7680 * 3), 'exceeds'


@pytest.fixture(scope='module')
def detector_model(tmp_path_factory):
    """Write a constant YOLOX model."""
    output = yolox_output_for_boxes([(8, 8, 40, 40)], [2], [0.9], (64, 64))
    return make_constant_model(tmp_path_factory.mktemp('m') / 'm.onnx', output, (64, 64),
                               metadata={'format': 'yolox'})


@pytest.mark.parametrize('node_module,output_topic,output_type,extra', [
    ('av_perception.ros.lane_detector', '~/output/center_line', 'nav_msgs.msg:Path', []),
    ('av_perception.ros.object_detector', '~/output/detections',
     'vision_msgs.msg:Detection2DArray', ['model']),
    ('av_perception.ros.temporal_controller', '~/output/command',
     'ackermann_msgs.msg:AckermannDriveStamped', []),
])
def test_bad_frames_are_rejected_and_the_next_frame_is_served(
        wait_until, node_module, output_topic, output_type, extra, detector_model, ros_node,
        collect, processes):
    import importlib
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from av_perception.ros.image_bridge import bgr_to_image_msg
    from av_perception.ros.qos import output_qos
    module, _, name = output_type.partition(':')
    outputs = collect(getattr(importlib.import_module(module), name), '/bad_input/out')
    diagnostics = collect(DiagnosticArray, '/diagnostics')
    node_name = node_module.rsplit('.', 1)[1] + '_bad_input'
    args = ['-r', f'__node:={node_name}', '-p', 'input_qos_reliability:=reliable',
            '-r', '~/input/image:=/bad_input/image', '-r', f'{output_topic}:=/bad_input/out']
    if extra:
        args += ['-p', f'model_path:={detector_model}']
    node = processes(node_module, *args)
    publisher = ros_node.create_publisher(Image, '/bad_input/image', output_qos())
    assert wait_until(lambda: publisher.get_subscription_count() >= 1, 20.0)

    def statuses():
        return [s for m in diagnostics.messages() for s in m.status if s.name == f'/{node_name}']

    def status():
        found = statuses()
        return found[-1] if found else None

    def rejected():
        current = status()
        return int({kv.key: kv.value for kv in current.values}.get('frames_rejected', 0)) \
            if current else 0
    # /diagnostics is volatile: an error published before the node's diagnostics writer has
    # matched our reader is lost. A periodic status arriving proves the match.
    assert wait_until(lambda: status() is not None, 20.0)
    for count, (label, msg, words) in enumerate(bad_images(), start=1):
        publisher.publish(msg)
        assert wait_until(lambda: rejected() >= count, 30.0), f'{label} was not rejected'
        # the error names the problem (the controller's watchdog may report after it)
        assert wait_until(lambda: any(words in s.message for s in statuses()), 10.0), \
            (label, [s.message for s in statuses()][-3:])
    # nothing was published for the bad frames (the controller's watchdog commands stop in
    # the vehicle frame while no good frame comes: that is its job, not an answer to a frame)
    assert [m for m in outputs.messages() if m.header.frame_id == 'camera'] == []
    header = Header(frame_id='camera')
    header.stamp.sec = 42
    publisher.publish(bgr_to_image_msg(GOOD, header))
    assert wait_until(lambda: any(m.header.stamp.sec == 42 for m in outputs.messages()), 20.0)
    assert all(m.header.frame_id == 'base_link' and m.drive.speed == 0.0
               for m in outputs.messages() if m.header.stamp.sec != 42)
    assert node.poll() is None
