"""object_detector lifecycle node in its own process: detections out, bad input survived."""

from __future__ import annotations

import numpy as np
import pytest

from av_perception.detection.synthetic import make_constant_model, yolox_output_for_boxes

INPUT = (64, 64)
BOXES = [(8.0, 8.0, 24.0, 40.0), (30.0, 20.0, 60.0, 50.0)]


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    """Write a constant YOLOX model decoding to two known boxes (car, person)."""
    output = yolox_output_for_boxes(BOXES, [2, 0], [0.9, 0.8], INPUT)
    return make_constant_model(tmp_path_factory.mktemp('model') / 'const.onnx', output, INPUT,
                               metadata={'format': 'yolox'})


def image_msg(value: int, sec: int, encoding: str = 'bgr8', width: int = 64, height: int = 64):
    """Return an Image message filled with ``value``."""
    from std_msgs.msg import Header
    from av_perception.ros.image_bridge import bgr_to_image_msg
    header = Header(frame_id='camera')
    header.stamp.sec = sec
    msg = bgr_to_image_msg(np.full((height, width, 3), value, np.uint8), header)
    msg.encoding = encoding
    return msg


def test_detections_with_the_input_header_and_bad_frames_survived(
        wait_until, model, ros_node, collect, processes):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray
    from av_perception.ros.qos import output_qos
    detections = collect(Detection2DArray, '/objects')
    debug = collect(Image, '/objects_debug')
    diagnostics = collect(DiagnosticArray, '/diagnostics')
    node = processes('av_perception.ros.object_detector', '-p', f'model_path:={model}',
                     '-p', 'input_qos_reliability:=reliable', '-p', 'score_threshold:=0.5',
                     '-r', '~/input/image:=/camera', '-r', '~/output/detections:=/objects',
                     '-r', '~/debug/image:=/objects_debug')
    publisher = ros_node.create_publisher(Image, '/camera', output_qos())
    # wait for the node to be up (it subscribes once active) rather than sleeping
    deadline_ok = wait_until(lambda: publisher.get_subscription_count() >= 1, 20.0)
    assert deadline_ok, node.stdout.read() if node.poll() is not None else 'no subscriber'
    publisher.publish(image_msg(10, 1))
    assert detections.wait_for(1, timeout=10)
    first = detections.messages()[0]
    assert first.header.stamp.sec == 1 and first.header.frame_id == 'camera'
    got = sorted((d.results[0].hypothesis.class_id, round(d.bbox.center.position.x),
                  round(d.bbox.size_y)) for d in first.detections)
    assert got == [('0', 45, 30), ('2', 16, 32)]
    assert first.detections[0].results[0].hypothesis.score == pytest.approx(0.9, abs=1e-4) or \
        first.detections[1].results[0].hypothesis.score == pytest.approx(0.9, abs=1e-4)
    assert debug.wait_for(1, timeout=5)  # subscribed, so the overlay is drawn
    assert debug.messages()[0].header.stamp.sec == 1 and debug.messages()[0].width == 64
    # a truncated frame and an unknown encoding: each rejected with a reason, no output for
    # them, and the next frame works (one at a time: the newest frame wins otherwise)
    bad = image_msg(10, 2)
    bad.data = bad.data[:100]
    for rejected, msg in enumerate((bad, image_msg(10, 3, encoding='bgr17')), start=1):
        publisher.publish(msg)
        assert wait_until(lambda: _detector_values(diagnostics).get('frames_rejected') == str(
            rejected), 10.0)
    status = _detector_status(diagnostics)
    assert "unsupported image encoding 'bgr17'" in status.message
    publisher.publish(image_msg(10, 4))
    assert detections.wait_for(2, timeout=10)
    assert [m.header.stamp.sec for m in detections.messages()] == [1, 4]
    assert _detector_values(diagnostics)['provider'] == 'CPUExecutionProvider'
    assert node.poll() is None


def test_detections_to_message_fills_every_field():
    from rclpy.serialization import deserialize_message, serialize_message
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2DArray
    from av_perception.detection import Detection
    from av_perception.ros.object_detector import detections_to_message
    header = Header(frame_id='camera')
    header.stamp.sec, header.stamp.nanosec = 7, 5
    detections = [Detection(2, 'car', 0.75, (10.0, 20.0, 50.0, 80.0)),
                  Detection(0, 'person', 0.5, (1.5, 2.5, 4.5, 10.5), track_id=12)]
    # Through CDR and back: what a subscriber receives.
    message = deserialize_message(serialize_message(detections_to_message(header, detections)),
                                  Detection2DArray)
    assert (message.header.frame_id, message.header.stamp.sec) == ('camera', 7)
    got = [(d.header.stamp.nanosec, d.results[0].hypothesis.class_id,
            d.results[0].hypothesis.score, d.bbox.center.position.x, d.bbox.center.position.y,
            d.bbox.size_x, d.bbox.size_y, d.id, len(d.results)) for d in message.detections]
    assert got == [(5, '2', 0.75, 30.0, 50.0, 40.0, 60.0, '', 1),
                   (5, '0', 0.5, 3.0, 6.5, 3.0, 8.0, '12', 1)]
    assert detections_to_message(header, []).detections == []


def test_the_message_builder_refills_its_messages_without_leftovers():
    from rclpy.serialization import deserialize_message, serialize_message
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2DArray
    from av_perception.detection import Detection
    from av_perception.ros.object_detector import DetectionArrayBuilder, detections_to_message
    builder = DetectionArrayBuilder()
    first = [Detection(2, 'car', 0.75, (10.0, 20.0, 50.0, 80.0), track_id=3),
             Detection(0, 'person', 0.5, (1.5, 2.5, 4.5, 10.5), track_id=12),
             Detection(1, 'bicycle', 0.4, (0.0, 0.0, 2.0, 2.0))]
    second = [Detection(7, 'truck', 0.9, (100.0, 50.0, 300.0, 150.0))]
    wire = []
    for stamp, detections in ((1, first), (2, second), (3, []), (4, first)):
        header = Header(frame_id='camera')
        header.stamp.sec = stamp
        built = builder.build(header, detections)
        # What publish sends: serialised before the next build refills the pool.
        wire.append(serialize_message(built))
        # compared as messages: CDR alignment padding bytes are not guaranteed to be zeroed
        assert deserialize_message(wire[-1], Detection2DArray) == \
            detections_to_message(header, detections)
    received = [deserialize_message(data, Detection2DArray) for data in wire]
    assert [len(m.detections) for m in received] == [3, 1, 0, 3]
    only = received[1].detections[0]
    assert (only.header.stamp.sec, only.id, only.results[0].hypothesis.class_id,
            only.bbox.size_x, len(only.results)) == (2, '', '7', 200.0, 1)
    assert [d.id for d in received[3].detections] == ['3', '12', '']


def _detector_status(diagnostics):
    """Return the newest /object_detector status received."""
    statuses = [s for m in diagnostics.messages() for s in m.status
                if s.name == '/object_detector']
    return statuses[-1] if statuses else None


def _detector_values(diagnostics) -> dict:
    """Return the key/values of the newest /object_detector status."""
    status = _detector_status(diagnostics)
    return {kv.key: kv.value for kv in status.values} if status else {}


def test_missing_model_keeps_the_node_alive_and_reports(wait_until, tmp_path, collect, processes):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    diagnostics = collect(DiagnosticArray, '/diagnostics')
    node = processes('av_perception.ros.object_detector',
                     '-p', f'model_path:={tmp_path / "missing.onnx"}',
                     '-r', '__node:=detector_without_model')
    assert wait_until(lambda: any(
        s.name.endswith('detector_without_model') and s.level == DiagnosticStatus.ERROR
        for m in diagnostics.messages() for s in m.status), 20.0)
    status = [s for m in diagnostics.messages() for s in m.status
              if s.name.endswith('detector_without_model')][-1]
    assert 'model not loaded' in status.message and 'missing.onnx' in status.message
    assert node.poll() is None  # alive, unconfigured
