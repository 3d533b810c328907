"""Writing rosbag2 bags (mcap by default, or sqlite3) that ``ros2 bag`` reads.

A thin layer over ``rosbags.rosbag2.Writer``: topics are added by name and type, messages are
written either as rosbags message objects (serialised here) or as raw CDR bytes (the recorder's
case: what arrived on the wire goes to disk unchanged). The metadata.yaml is the standard one;
version 8 (the newest Humble and later can read: version 9 changed the QoS encoding).
"""

from __future__ import annotations

import logging
from pathlib import Path
import shutil
from typing import Any, Sequence

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability
from rosbags.interfaces import QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

from av_perception.bag.reader import BagError
from av_perception.bag.typestore import default_typestore

LOGGER = logging.getLogger('av_perception.bag')
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
_INFINITE = QosTime(sec=2147483647, nsec=4294967295)


def offered_qos(reliable: bool = True, transient_local: bool = False, depth: int = 10) -> Qos:
    """Return an offered QoS profile to store with a topic (what ``ros2 bag play`` adapts to)."""
    return Qos(
        history=QosHistory.KEEP_LAST, depth=depth,
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=_INFINITE, lifespan=_INFINITE, liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=_INFINITE, avoid_ros_namespace_conventions=False)


class BagWriter:
    """Write a new bag directory; use as a context manager (closing writes metadata.yaml)."""

    def __init__(self, path: str | Path, storage: str = 'mcap', *, overwrite: bool = False,
                 compression: str | None = None, version: int = 8) -> None:
        """Create the bag at ``path``.

        ``storage``: 'mcap' or 'sqlite3'; ``overwrite`` removes an existing bag directory
        first; ``compression``: None or 'message' (zstd per message).
        """
        if storage not in STORAGES:
            raise BagError(f'unknown bag storage {storage!r}; use one of {sorted(STORAGES)}')
        self.path = Path(path)
        if self.path.exists():
            if not overwrite:
                raise BagError(f'{self.path} exists already; remove it or pass overwrite')
            if self.path.is_dir() and not (self.path / 'metadata.yaml').exists() and \
                    any(self.path.iterdir()):
                raise BagError(f'{self.path} is a non-empty directory that is not a bag; '
                               'refusing to delete it')
            if self.path.is_dir():
                shutil.rmtree(self.path)
            else:
                self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        self.typestore = default_typestore()
        self._writer = Writer(self.path, version=version, storage_plugin=STORAGES[storage])
        if compression == 'message':
            self._writer.set_compression(CompressionMode.MESSAGE, CompressionFormat.ZSTD)
        elif compression:
            raise BagError(f'unsupported compression {compression!r}; use None or "message"')
        self._writer.open()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def add_topic(self, name: str, msgtype: str, qos: Sequence[Qos] | None = None,
                  msgdef: str | None = None, rihs01: str | None = None) -> None:
        """Declare a topic; its definition comes from the type store unless given."""
        if name in self._connections:
            if self._connections[name].msgtype != msgtype:
                raise BagError(f'topic {name} already added with type '
                               f'{self._connections[name].msgtype}, not {msgtype}')
            return
        if msgdef is None and msgtype not in self.typestore.fielddefs:
            raise BagError(f'topic {name}: message type {msgtype} is unknown to the type store; '
                           'its definition is needed to write the bag')
        kwargs: dict[str, Any] = {'offered_qos_profiles': list(qos or [offered_qos()])}
        if msgdef is not None:
            kwargs.update(msgdef=msgdef, rihs01=rihs01 or '')
        else:
            kwargs['typestore'] = self.typestore
        self._connections[name] = self._writer.add_connection(name, msgtype, **kwargs)
        self.counts[name] = 0

    def write(self, topic: str, timestamp_ns: int, message: Any) -> None:
        """Serialise a rosbags message object and write it at ``timestamp_ns``."""
        connection = self._connection(topic)
        data = self.typestore.serialize_cdr(message, connection.msgtype)
        self._writer.write(connection, int(timestamp_ns), data)
        self.counts[topic] += 1

    def write_raw(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Write already-serialised CDR bytes (as received from DDS) at ``timestamp_ns``."""
        self._writer.write(self._connection(topic), int(timestamp_ns), data)
        self.counts[topic] += 1

    def _connection(self, topic: str) -> Any:
        try:
            return self._connections[topic]
        except KeyError:
            raise BagError(f'topic {topic} was not added to the bag {self.path}') from None

    @property
    def message_count(self) -> int:
        """Messages written so far."""
        return sum(self.counts.values())

    def close(self) -> None:
        """Finish the storage file and write metadata.yaml (idempotent)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def __enter__(self) -> BagWriter:
        """Return the open writer."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the writer, also when the block raised (what was written is kept)."""
        self.close()
