"""Image encodings and conversion between ROS image messages and numpy."""
