"""Executables of the package: the single table read by setup.py and the launch runner.

Kept free of imports so ``setup.py`` can read it without importing the package.
"""

# name -> 'module:function'; installed into lib/av_perception for `ros2 run av_perception NAME`
CONSOLE_SCRIPTS = {
    'av-perception': 'av_perception.cli.main:main',
    'bag_player': 'av_perception.ros.bag_player:main',
    'bag_recorder': 'av_perception.ros.bag_recorder:main',
    'lane_detector': 'av_perception.ros.lane_detector:main',
    'object_detector': 'av_perception.ros.object_detector:main',
    'temporal_controller': 'av_perception.ros.temporal_controller:main',
}

# executable -> 'module:NodeClass', for composing nodes in one process (replay)
NODE_CLASSES = {
    'lane_detector': 'av_perception.ros.lane_detector:LaneDetectorNode',
    'object_detector': 'av_perception.ros.object_detector:ObjectDetectorNode',
    'temporal_controller': 'av_perception.ros.temporal_controller:TemporalControllerNode',
}
