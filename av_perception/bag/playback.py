"""The ROS-free part of the bag player and recorder: configuration, timing and QoS choices.

The nodes in ``av_perception.ros`` only publish/subscribe; everything that decides *what* to
publish *when* lives here and is unit-tested without rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from av_perception.params import ConfigError, parameter, validate

RELIABILITIES = ('reliable', 'best_effort')
DURABILITIES = ('volatile', 'transient_local')


@dataclass(frozen=True)
class PlayerConfig:
    """Parameters of the ``bag_player`` node (``config/bag_player.param.yaml``)."""

    bag: str = parameter('', 'Path of the rosbag2 bag (directory, .mcap or .db3) to play.',
                         read_only=True)
    rate: float = parameter(1.0, 'Playback speed factor: 2.0 plays twice as fast.',
                            low=0.01, high=100.0)
    loop: bool = parameter(False, 'Start again from the beginning when the bag ends.')
    start_offset: float = parameter(0.0, 'Seconds into the bag at which playback starts.',
                                    low=0.0)
    delay: float = parameter(0.0, 'Seconds to wait after creating publishers before playing '
                                  '(lets subscribers discover them).', low=0.0, high=3600.0)
    wait_for_subscribers: int = parameter(
        0, 'Before playing, wait until this many subscriptions (summed over the played topics) '
           'have matched (0: do not wait).', low=0, high=1000)
    wait_timeout: float = parameter(10.0, 'Longest wait for subscribers, seconds.', low=0.0)
    topics: tuple = parameter((), 'Topics to play; empty plays every topic of the bag.',
                              item_type=str)
    remap: tuple = parameter((), 'Topic remappings as "from:=to" strings.', item_type=str)
    clock: bool = parameter(False, 'Publish /clock from bag time (for use_sim_time).')
    clock_frequency: float = parameter(100.0, 'Rate of /clock messages while playing, Hz.',
                                       low=1.0, high=10000.0)
    qos_profile_overrides_path: str = parameter(
        '', 'YAML file of per-topic QoS overrides (ros2 bag format); empty: the recorded QoS.')

    def __post_init__(self) -> None:
        """Validate ranges and the remap syntax."""
        validate(self)
        remap_table(self.remap)

    def validate_for_playing(self) -> None:
        """Check what is needed to start playing (the bag must be named and exist)."""
        if not self.bag:
            raise ConfigError('PlayerConfig.bag: no bag given (set the "bag" parameter)')
        if not Path(self.bag).exists():
            raise ConfigError(f'PlayerConfig.bag={self.bag!r}: no such file or directory')


@dataclass(frozen=True)
class RecorderConfig:
    """Parameters of the ``bag_recorder`` node (``config/bag_recorder.param.yaml``)."""

    output: str = parameter('', 'Directory of the bag to write (must not exist yet unless '
                                'overwrite is set).', read_only=True)
    storage: str = parameter('mcap', 'Storage format of the bag.', choices=('mcap', 'sqlite3'),
                             read_only=True)
    overwrite: bool = parameter(False, 'Replace an existing bag at output.', read_only=True)
    topics: tuple = parameter((), 'Topics to record; empty records every topic discovered.',
                              item_type=str)
    exclude: tuple = parameter(('/rosout', '/parameter_events'),
                               'Topics never recorded when recording all topics.', item_type=str)
    discovery_period: float = parameter(0.5, 'How often to look for new topics, seconds.',
                                        low=0.05, high=60.0)
    reliability: str = parameter(
        'auto', 'Subscription reliability: auto adapts to the publishers (best_effort if any '
                'publisher is best effort), or force reliable / best_effort.',
        choices=('auto',) + RELIABILITIES)
    queue_depth: int = parameter(1000, 'Subscription queue depth (messages kept per topic while '
                                       'the writer is busy).', low=1, high=100000)

    def __post_init__(self) -> None:
        """Validate ranges and choices."""
        validate(self)

    def validate_for_recording(self) -> None:
        """Check what is needed to start recording."""
        if not self.output:
            raise ConfigError('RecorderConfig.output: no output bag given (set "output")')
        if Path(self.output).exists() and not self.overwrite:
            raise ConfigError(f'RecorderConfig.output={self.output!r}: exists already '
                              '(set overwrite to replace it)')


def remap_table(remaps: Sequence[str]) -> dict[str, str]:
    """Parse ``from:=to`` strings into a mapping, raising ConfigError on bad syntax."""
    table: dict[str, str] = {}
    for item in remaps:
        source, sep, target = str(item).partition(':=')
        if not sep or not source.strip() or not target.strip():
            raise ConfigError(f'remap {item!r}: expected "from:=to"')
        table[source.strip()] = target.strip()
    return table


@dataclass(frozen=True)
class QosSpec:
    """A QoS profile in plain terms, converted to rclpy's QoSProfile at the ROS edge."""

    reliability: str = 'reliable'
    durability: str = 'volatile'
    depth: int = 10

    def __post_init__(self) -> None:
        """Reject unknown policies."""
        if self.reliability not in RELIABILITIES:
            raise ConfigError(f'QoS reliability {self.reliability!r}: use one of '
                              f'{list(RELIABILITIES)}')
        if self.durability not in DURABILITIES:
            raise ConfigError(f'QoS durability {self.durability!r}: use one of '
                              f'{list(DURABILITIES)}')
        if self.depth < 1:
            raise ConfigError(f'QoS depth {self.depth}: must be >= 1')


def qos_from_recorded(profiles: Sequence[Any]) -> QosSpec:
    """Choose the publisher QoS for a played topic from the recorded offered profiles.

    As ``ros2 bag play`` does: reliable/transient-local only if every recorded publisher
    offered it, so that no subscriber that matched during recording fails to match now.
    """
    if not profiles:
        return QosSpec()
    reliable = all(getattr(p.reliability, 'name', str(p.reliability)).upper() == 'RELIABLE'
                   for p in profiles)
    transient = all(getattr(p.durability, 'name', str(p.durability)).upper() == 'TRANSIENT_LOCAL'
                    for p in profiles)
    depths = [int(p.depth) for p in profiles if int(p.depth) > 0]
    return QosSpec('reliable' if reliable else 'best_effort',
                   'transient_local' if transient else 'volatile',
                   max(depths) if depths else 10)


def load_qos_overrides(path: str | Path) -> dict[str, QosSpec]:
    """Read a ``--qos-profile-overrides-path`` style YAML: ``{topic: {reliability: ...}}``."""
    try:
        document = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f'QoS overrides file {path}: {err}') from err
    if not isinstance(document, dict):
        raise ConfigError(f'QoS overrides file {path}: expected a mapping of topic -> profile')
    overrides = {}
    for topic, profile in document.items():
        if not isinstance(profile, Mapping):
            raise ConfigError(f'QoS overrides file {path}: topic {topic}: expected a mapping')
        unknown = set(profile) - {'reliability', 'durability', 'depth', 'history'}
        if unknown:
            raise ConfigError(f'QoS overrides file {path}: topic {topic}: unknown keys '
                              f'{sorted(unknown)}')
        overrides[str(topic)] = QosSpec(str(profile.get('reliability', 'reliable')),
                                        str(profile.get('durability', 'volatile')),
                                        int(profile.get('depth', 10)))
    return overrides


class PlaybackSchedule:
    """Maps bag time to wall-clock time for a playback at ``rate``.

    ``due(bag_ns)`` is the wall time (same clock as ``wall_start``) at which a message recorded
    at ``bag_ns`` should be published. ``restart`` begins a new pass (loop).
    """

    def __init__(self, bag_start_ns: int, rate: float, wall_start: float) -> None:
        """Anchor bag time ``bag_start_ns`` to wall time ``wall_start`` (seconds)."""
        if rate <= 0:
            raise ConfigError(f'playback rate {rate}: must be > 0')
        self.rate = rate
        self.restart(bag_start_ns, wall_start)

    def restart(self, bag_start_ns: int, wall_start: float) -> None:
        """Re-anchor for a new pass over the bag."""
        self.bag_start_ns = int(bag_start_ns)
        self.wall_start = float(wall_start)

    def due(self, bag_ns: int) -> float:
        """Return the wall time at which the message at ``bag_ns`` is due."""
        return self.wall_start + (int(bag_ns) - self.bag_start_ns) / 1e9 / self.rate

    def bag_time(self, wall_now: float) -> int:
        """Return the bag time (ns) that corresponds to ``wall_now`` (for /clock)."""
        return self.bag_start_ns + int((wall_now - self.wall_start) * self.rate * 1e9)
