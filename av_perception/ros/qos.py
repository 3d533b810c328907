"""QoS profiles from plain settings (REP-2003: publish reliable, subscribe as configured)."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from av_perception.bag.playback import QosSpec


def qos_profile(spec: QosSpec) -> QoSProfile:
    """Return the rclpy profile of a :class:`QosSpec`."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=spec.depth,
        reliability=(ReliabilityPolicy.RELIABLE if spec.reliability == 'reliable'
                     else ReliabilityPolicy.BEST_EFFORT),
        durability=(DurabilityPolicy.TRANSIENT_LOCAL if spec.durability == 'transient_local'
                    else DurabilityPolicy.VOLATILE))


def sensor_input_qos(reliability: str, depth: int = 1) -> QoSProfile:
    """Return the subscription profile of a sensor input (latest frame wins with depth 1)."""
    return qos_profile(QosSpec(reliability, 'volatile', depth))


def output_qos(depth: int = 10) -> QoSProfile:
    """Return the profile of our outputs: reliable, volatile."""
    return qos_profile(QosSpec('reliable', 'volatile', depth))


def is_reliable(profile: QoSProfile) -> bool:
    """Return whether a profile is reliable."""
    return profile.reliability == ReliabilityPolicy.RELIABLE


def is_transient_local(profile: QoSProfile) -> bool:
    """Return whether a profile is transient local."""
    return profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
