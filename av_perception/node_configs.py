"""Which configuration class holds the parameters of which node (and parameter file).

``config/<node>.param.yaml`` must list exactly the fields of the class registered here; the
unit tests and the launch-file checks use this table.
"""

from __future__ import annotations

import importlib

NODE_CONFIGS = {
    'bag_player': 'av_perception.bag.playback:PlayerConfig',
    'bag_recorder': 'av_perception.bag.playback:RecorderConfig',
    'object_detector': 'av_perception.detection.config:ObjectDetectorConfig',
    'lane_detector': 'av_perception.lanes.config:LaneDetectorNodeConfig',
    'temporal_controller': 'av_perception.control.config:TemporalControllerConfig',
}


def config_class(node: str) -> type:
    """Return the config dataclass of ``node`` (KeyError if the node has none)."""
    module, _, name = NODE_CONFIGS[node].partition(':')
    return getattr(importlib.import_module(module), name)
