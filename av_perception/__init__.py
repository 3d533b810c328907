"""av_perception: camera-based perception nodes for ROS 2 (lanes, objects, temporal control).

Everything outside ``av_perception.ros`` is plain Python + numpy/OpenCV/ONNX Runtime and never
imports rclpy; ``av_perception.ros`` is the thin ROS 2 edge.
"""

__version__ = '0.1.0'
