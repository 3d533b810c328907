"""The ROS 2 edge of av_perception: the only subpackage that imports rclpy and message types.

Nodes here declare parameters into validated config objects, convert messages to arrays once,
call the pure core and publish with the input header.
"""
