"""Reading rosbag2 bags (sqlite3 and mcap, metadata versions 1-9) with ``rosbags``.

Why not ``rosbags.highlevel.AnyReader`` directly: on bags recorded by real ``ros2 bag record``
(e.g. rosbag2's ``talker`` test bags) the offered-QoS strings in metadata.yaml and inside the
storage file differ, and AnyReader, which matches connections on them, yields 0 messages. This
reader opens every storage file on its own (``rosbags.rosbag2.Reader`` on the file), takes the
topic table from the storage itself and uses metadata.yaml only for what the storage cannot
tell (compression, file list, distro), so every stored message is delivered.

Damage is reported, not fatal: a missing or unreadable storage file, a truncated file, a topic
in a serialization format other than CDR, an unknown message type or a message that does not
deserialize becomes a :class:`BagProblem` naming bag, topic and message index (also logged as a
warning), and the good messages are still delivered. A bag with nothing readable at all raises
:class:`BagError`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
import heapq
import logging
from pathlib import Path
import re
import shutil
import tempfile
from typing import Any, Iterable, Iterator

from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import Reader as StorageFileReader
from rosbags.rosbag2.metadata import parse_qos
from rosbags.typesys import get_types_from_idl, get_types_from_msg, Stores
import yaml

from av_perception.bag.salvage import salvage_reader, SalvageError
from av_perception.bag.typestore import build_typestore, default_typestore

try:  # Python >= 3.14 ships zstd; rosbags depends on the backport otherwise
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the interpreter
    from backports import zstd  # type: ignore[no-redef]

LOGGER = logging.getLogger('av_perception.bag')
STORAGE_SUFFIXES = {'.mcap': 'mcap', '.db3': 'sqlite3'}
_MAX_LOGGED_PER_TOPIC = 5
_MAX_KEPT_PROBLEMS = 1000


class BagError(ValueError):
    """A bag cannot be opened or read at all; the message names the bag and the reason."""


@dataclass(frozen=True)
class BagProblem:
    """One thing wrong in a bag that was skipped while the rest was read."""

    bag: str
    topic: str | None
    index: int | None
    reason: str

    def __str__(self) -> str:
        where = self.bag
        if self.topic is not None:
            where += f' topic {self.topic}'
        if self.index is not None:
            where += f' message #{self.index}'
        return f'{where}: {self.reason}'


@dataclass(frozen=True)
class TopicInfo:
    """A topic as stored: name, type, message count, format and offered QoS profiles."""

    name: str
    type: str
    count: int
    serialization_format: str = 'cdr'
    offered_qos: tuple = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form used by ``av-perception bag info --json``."""
        return {'name': self.name, 'type': self.type, 'count': self.count}


@dataclass(frozen=True)
class BagInfo:
    """Summary of a bag: storage, time span, per-topic counts."""

    path: str
    storage: str
    files: tuple[str, ...]
    start_ns: int
    end_ns: int
    message_count: int
    topics: tuple[TopicInfo, ...]
    metadata_version: int | None = None
    ros_distro: str | None = None
    compression: str = ''

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last message (0 for an empty bag)."""
        return max(0, self.end_ns - self.start_ns) / 1e9 if self.message_count else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of ``av-perception bag info --json``."""
        return {
            'path': self.path,
            'storage': self.storage,
            'duration_s': self.duration_s,
            'message_count': self.message_count,
            'start_ns': self.start_ns if self.message_count else None,
            'end_ns': self.end_ns if self.message_count else None,
            'metadata_version': self.metadata_version,
            'ros_distro': self.ros_distro,
            'compression': self.compression,
            'files': list(self.files),
            'topics': [topic.to_dict() for topic in self.topics],
        }


@dataclass(frozen=True)
class BagMessage:
    """One stored message: raw CDR bytes plus where and when it was recorded."""

    topic: str
    msgtype: str
    timestamp_ns: int
    data: bytes | memoryview
    index: int  # 0-based position among this iteration's messages on the topic


@dataclass
class _Storage:
    """One opened storage file and the connections it holds."""

    path: Path
    reader: Any  # a rosbags storage-file Reader, or a salvage reader for damaged files
    connections: list = field(default_factory=list)


def _natural_key(path: Path) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r'(\d+)', path.name))


class BagReader:
    """Read a rosbag2 bag directory or a single ``.mcap``/``.db3`` storage file.

    Use as a context manager or call :meth:`close`. ``problems`` lists everything skipped.
    """

    def __init__(self, path: str | Path) -> None:
        """Open the bag at ``path``; raise :class:`BagError` if nothing in it is readable."""
        self.path = Path(path)
        self.name = str(path)
        self.problems: list[BagProblem] = []
        self.problem_counts: Counter = Counter()
        self._storages: list[_Storage] = []
        self._tempdir: tempfile.TemporaryDirectory | None = None
        self._typestores: list[tuple[str, Any]] | None = None
        self._store_for_type: dict[str, int] = {}
        self._metadata: dict[str, Any] = {}
        self._message_compression = False
        self._unreadable_topics: set[str] = set()
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # -- opening ------------------------------------------------------------------------------

    def _open(self) -> None:
        if not self.path.exists():
            raise BagError(f'{self.name}: no such bag (neither a directory nor a storage file)')
        if self.path.is_file():
            if self.path.suffix not in STORAGE_SUFFIXES:
                raise BagError(f'{self.name}: not a bag: expected a directory or a .mcap/.db3 '
                               'file')
            files = [self.path]
        else:
            files = self._files_from_metadata()
        if not files:
            raise BagError(f'{self.name}: no storage files (.mcap or .db3) found')
        for file in files:
            self._open_storage(file)
        if not self._storages:
            reasons = '; '.join(p.reason for p in self.problems) or 'no storage file readable'
            raise BagError(f'{self.name}: cannot read any storage file: {reasons}')
        self._check_topics()

    def _files_from_metadata(self) -> list[Path]:
        metadata_path = self.path / 'metadata.yaml'
        if not metadata_path.exists():
            self._problem(None, None, 'no metadata.yaml; reading the storage files directly')
            return self._scan_storage_files()
        try:
            document = yaml.safe_load(metadata_path.read_text())
            info = document['rosbag2_bagfile_information']
            relative = [Path(str(name)).name for name in info['relative_file_paths']]
        except (OSError, yaml.YAMLError, KeyError, TypeError) as err:
            self._problem(None, None, f'metadata.yaml unreadable ({type(err).__name__}: {err}); '
                                      'reading the storage files directly')
            return self._scan_storage_files()
        self._metadata = info
        mode = str(info.get('compression_mode') or '').lower()
        fmt = str(info.get('compression_format') or '').lower()
        if mode not in ('', 'none') and fmt != 'zstd':
            raise BagError(f'{self.name}: compression format {fmt!r} is not supported (zstd only)')
        self._message_compression = mode == 'message'
        files = []
        for name in relative:
            candidate = self.path / name
            if not candidate.exists():
                self._problem(None, None, f'storage file {name} listed in metadata.yaml is '
                                          'missing; its messages are lost')
                continue
            if mode == 'file':
                candidate = self._decompress_file(candidate)
            files.append(candidate)
        if not relative:
            files = self._scan_storage_files()
        return files

    def _scan_storage_files(self) -> list[Path]:
        found = [p for p in self.path.iterdir() if p.suffix in STORAGE_SUFFIXES and p.is_file()]
        # split bags are <name>_<N>.<ext>; several names (or storages) mean several bags
        groups = {(re.sub(r'_\d+$', '', p.stem), p.suffix) for p in found}
        if len(groups) > 1:
            names = ', '.join(sorted(p.name for p in found))
            raise BagError(f'{self.name}: no metadata.yaml and the storage files belong to '
                           f'{len(groups)} different bags ({names}); open one file directly')
        return sorted(found, key=_natural_key)

    def _decompress_file(self, path: Path) -> Path:
        if self._tempdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix='av_perception_bag_')
        target = Path(self._tempdir.name) / path.name.removesuffix('.zstd')
        with path.open('rb') as raw, zstd.open(raw, 'rb') as source, target.open('wb') as out:
            shutil.copyfileobj(source, out)
        return target

    def _open_storage(self, path: Path) -> None:
        try:
            reader = StorageFileReader(path)
            reader.open()
        except Exception as err:  # rosbags/apsw/mcap raise many types for damaged files
            cause = f'{type(err).__name__}: {err}'
            try:
                reader = salvage_reader(path)
            except SalvageError as salvage_err:
                self._problem(None, None, f'storage file {path.name} cannot be opened ({cause}) '
                                          f'and nothing could be salvaged: {salvage_err}')
                return
            self._problem(None, reader.message_count,
                          f'storage file {path.name} is damaged ({cause}); read '
                          f'{reader.message_count} message(s) before the damage'
                          + (f' ({reader.damage})' if reader.damage else ''))
        self._storages.append(_Storage(path, reader, list(reader.connections)))

    def _metadata_topics(self) -> dict[str, dict]:
        topics = {}
        for entry in self._metadata.get('topics_with_message_count') or []:
            meta = entry.get('topic_metadata') or {}
            if 'name' in meta:
                topics[meta['name']] = {**meta, 'message_count': entry.get('message_count')}
        return topics

    def _check_topics(self) -> None:
        meta_topics = self._metadata_topics()
        for topic in self.topics():
            declared = meta_topics.get(topic.name, {})
            fmt = str(declared.get('serialization_format') or topic.serialization_format)
            if fmt != 'cdr' or topic.serialization_format != 'cdr':
                bad = fmt if fmt != 'cdr' else topic.serialization_format
                self._unreadable_topics.add(topic.name)
                self._problem(topic.name, None,
                              f'serialization format {bad!r} is not supported (cdr only); '
                              f'its {topic.count} message(s) are skipped')
            expected = declared.get('message_count')
            if expected is not None and expected != topic.count:
                self._problem(topic.name, None, f'metadata.yaml says {expected} message(s), the '
                                                f'storage holds {topic.count}')

    # -- reporting ----------------------------------------------------------------------------

    def _problem(self, topic: str | None, index: int | None, reason: str) -> BagProblem:
        problem = BagProblem(self.name, topic, index, reason)
        self.problem_counts[topic] += 1
        if len(self.problems) < _MAX_KEPT_PROBLEMS:
            self.problems.append(problem)
        if self.problem_counts[topic] <= _MAX_LOGGED_PER_TOPIC:
            LOGGER.warning('%s', problem)
        elif self.problem_counts[topic] == _MAX_LOGGED_PER_TOPIC + 1:
            LOGGER.warning('%s topic %s: more problems, no longer logged one by one',
                           self.name, topic)
        return problem

    def report_problem(self, topic: str | None, index: int | None, reason: str) -> BagProblem:
        """Record a problem found by a caller (e.g. a bad image inside a good message)."""
        return self._problem(topic, index, reason)

    # -- metadata -----------------------------------------------------------------------------

    def topics(self) -> list[TopicInfo]:
        """Return every stored topic, merged over the storage files and sorted by name."""
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        meta_topics = self._metadata_topics()
        for storage in self._storages:
            for conn in storage.connections:
                entry = merged.setdefault((conn.topic, conn.msgtype), {
                    'count': 0, 'format': conn.ext.serialization_format, 'qos': []})
                entry['count'] += conn.msgcount
                entry['qos'].extend(conn.ext.offered_qos_profiles or [])
        infos = []
        for (name, msgtype), entry in merged.items():
            qos = entry['qos']
            if not qos and name in meta_topics:
                qos = parse_qos(meta_topics[name].get('offered_qos_profiles') or [])
            infos.append(TopicInfo(name, msgtype, entry['count'], entry['format'], tuple(qos)))
        return sorted(infos, key=lambda t: t.name)

    def info(self) -> BagInfo:
        """Return the bag summary (counts from the storage, not from metadata.yaml)."""
        starts, ends = [], []
        for storage in self._storages:
            if storage.reader.message_count:
                starts.append(storage.reader.start_time)
                ends.append(storage.reader.end_time - 1)  # rosbags' end is exclusive
        topics = tuple(self.topics())
        count = sum(t.count for t in topics)
        storage_ids = sorted({STORAGE_SUFFIXES[s.path.suffix] for s in self._storages})
        mode = str(self._metadata.get('compression_mode') or '').lower()
        return BagInfo(
            path=self.name,
            storage='+'.join(storage_ids),
            files=tuple(s.path.name for s in self._storages),
            start_ns=min(starts) if starts else 0,
            end_ns=max(ends) if ends else 0,
            message_count=count,
            topics=topics,
            metadata_version=self._metadata.get('version'),
            ros_distro=self._metadata.get('ros_distro'),
            compression=f'{mode}:zstd' if mode not in ('', 'none') else '',
        )

    # -- messages -----------------------------------------------------------------------------

    def raw_messages(self, topics: Iterable[str] | None = None, start_ns: int | None = None,
                     stop_ns: int | None = None) -> Iterator[BagMessage]:
        """Yield stored messages in time order as raw CDR, optionally filtered.

        ``topics``: names to keep (unknown names raise BagError); ``start_ns``/``stop_ns``:
        keep log times in [start, stop).
        """
        selected = self._select(topics)
        streams = [self._storage_stream(storage, selected, start_ns, stop_ns)
                   for storage in self._storages]
        per_topic: Counter = Counter()
        for timestamp, topic, msgtype, data in heapq.merge(*streams, key=lambda m: m[0]):
            index = per_topic[topic]
            per_topic[topic] += 1
            if self._message_compression:
                try:
                    data = zstd.decompress(bytes(data))
                except Exception as err:  # noqa: BLE001 - any codec error means a bad message
                    self._problem(topic, index, f'zstd decompression failed: {err}')
                    continue
            yield BagMessage(topic, msgtype, timestamp, data, index)

    def _select(self, topics: Iterable[str] | None) -> set[str]:
        available = {t.name for t in self.topics()}
        if topics is None:
            wanted = set(available)
        else:
            wanted = set(topics)
            unknown = sorted(wanted - available)
            if unknown:
                raise BagError(f'{self.name}: no topic(s) {unknown} in the bag; it has '
                               f'{sorted(available)}')
        return wanted - self._unreadable_topics

    def _storage_stream(self, storage: _Storage, selected: set[str], start_ns: int | None,
                        stop_ns: int | None) -> Iterator[tuple[int, str, str, Any]]:
        connections = [c for c in storage.connections if c.topic in selected]
        if not connections:
            return
        delivered = 0
        iterator = storage.reader.messages(connections, start_ns, stop_ns)
        while True:
            try:
                conn, timestamp, data = next(iterator)
            except StopIteration:
                return
            except Exception as err:  # noqa: BLE001 - damaged storage: keep what was read
                self._problem(None, delivered, f'storage file {storage.path.name} unreadable '
                                               f'after {delivered} message(s): '
                                               f'{type(err).__name__}: {err}')
                return
            delivered += 1
            yield timestamp, conn.topic, conn.msgtype, data

    def _stores(self) -> list[tuple[str, Any]]:
        """Candidate typestores, most trusted first: the bag's own definitions, then ours."""
        if self._typestores is None:
            self._typestores = [('stored', build_typestore(self._bag_definitions())),
                                ('built-in', default_typestore()),
                                ('Humble', build_typestore(base=Stores.ROS2_HUMBLE))]
        return self._typestores

    def _bag_definitions(self) -> dict[str, tuple]:
        definitions: dict[str, tuple] = {}
        for storage in self._storages:
            for conn in storage.connections:
                msgdef = conn.msgdef
                try:
                    if msgdef.format == MessageDefinitionFormat.MSG:
                        definitions.update(get_types_from_msg(msgdef.data, conn.msgtype))
                    elif msgdef.format == MessageDefinitionFormat.IDL:
                        definitions.update(_types_from_idl_bundle(msgdef.data))
                except Exception as err:  # noqa: BLE001 - the parser raises several types
                    self._problem(conn.topic, None, f'stored definition of {conn.msgtype} cannot '
                                                    f'be parsed ({type(err).__name__}); using the '
                                                    'built-in definition if there is one')
        return definitions

    def deserialize(self, message: BagMessage) -> Any:
        """Return the message object of a raw message or raise BagError naming it.

        The bag's stored definition is tried first; when the bytes do not fit it (some bags
        carry wrong definitions), the built-in definitions are tried and the one that fits is
        kept for that type.
        """
        where = f'{self.name} topic {message.topic} message #{message.index}'
        data = bytes(message.data)
        stores = self._stores()
        order = [self._store_for_type[message.msgtype]] if \
            message.msgtype in self._store_for_type else range(len(stores))
        known = False
        last_error: Exception | None = None
        for position in order:
            label, store = stores[position]
            if message.msgtype not in store.fielddefs:
                continue
            known = True
            try:
                decoded = store.deserialize_cdr(data, message.msgtype)
            except Exception as err:  # noqa: BLE001 - truncated CDR raises several types
                last_error = err
                continue
            if message.msgtype not in self._store_for_type:
                self._store_for_type[message.msgtype] = position
                if position > 0:
                    self._problem(message.topic, None, f'the stored definition of '
                                                       f'{message.msgtype} does not fit its data; '
                                                       f'using the {label} definition')
            return decoded
        if not known:
            raise BagError(f'{where}: message type {message.msgtype} has no definition in the '
                           'bag or the type store')
        raise BagError(f'{where}: cannot deserialize {len(data)} B of {message.msgtype}: '
                       f'{type(last_error).__name__}: {last_error}')

    def messages(self, topics: Iterable[str] | None = None, start_ns: int | None = None,
                 stop_ns: int | None = None) -> Iterator[tuple[BagMessage, Any]]:
        """Yield ``(raw message, message object)``; undeserialisable messages are reported."""
        undecodable: set[str] = set()
        for raw in self.raw_messages(topics, start_ns, stop_ns):
            if raw.topic in undecodable:
                continue
            try:
                yield raw, self.deserialize(raw)
            except BagError as err:
                reason = str(err).split(': ', 1)[-1]
                if 'has no definition' in reason:
                    # one report per topic, not one per message
                    undecodable.add(raw.topic)
                    reason += '; this topic is only available as raw CDR'
                self._problem(raw.topic, raw.index, reason)

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close every storage file and remove decompressed temporaries."""
        for storage in self._storages:
            try:
                storage.reader.close()
            except Exception:  # noqa: BLE001 - closing a damaged file must not mask the cause
                pass
        self._storages = []
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> BagReader:
        """Return the open reader."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the reader."""
        self.close()


def _types_from_idl_bundle(text: str) -> dict[str, tuple]:
    separator = '=' * 80 + '\n'
    if not text.startswith(separator + 'IDL: '):
        return dict(get_types_from_idl(text))
    definitions: dict[str, tuple] = {}
    for chunk in text.split(separator)[1:]:
        _, idl = chunk.split('\n', 1)
        definitions.update(get_types_from_idl(idl))
    return definitions


def read_bag_info(path: str | Path) -> tuple[BagInfo, list[BagProblem]]:
    """Open a bag, return its summary and the problems found while opening it."""
    with BagReader(path) as reader:
        return reader.info(), list(reader.problems)
