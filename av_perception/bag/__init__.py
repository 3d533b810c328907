"""rosbag2 reading and writing built on ``rosbags`` (pure Python, no ROS installation needed)."""

from av_perception.bag.reader import BagError, BagInfo, BagMessage, BagProblem, BagReader
from av_perception.bag.reader import read_bag_info, TopicInfo
from av_perception.bag.writer import BagWriter, offered_qos

__all__ = ['BagError', 'BagInfo', 'BagMessage', 'BagProblem', 'BagReader', 'BagWriter',
           'offered_qos', 'read_bag_info', 'TopicInfo']
