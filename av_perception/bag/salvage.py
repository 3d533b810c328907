"""Reading what is left of damaged storage files (a recorder killed hard, a copy cut short).

``rosbags`` opens an mcap file from its summary at the end and a sqlite3 file by counting all
rows first, so a truncated file is refused whole. These readers stream the file from the start
instead and stop at the damage: every message before it is delivered. They offer the small
part of the rosbags storage-reader interface that :class:`~av_perception.bag.reader.BagReader`
uses (``connections``, ``messages``, ``message_count``, ``start_time``, ``end_time``,
``close``).
"""

from __future__ import annotations

from pathlib import Path
import shutil
import sqlite3
import struct
import tempfile
from typing import Any, Iterator

from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.interfaces import (Connection, ConnectionExtRosbag2, MessageDefinition,
                                MessageDefinitionFormat)


class SalvageError(ValueError):
    """Nothing at all could be recovered from a storage file."""


class _SalvagedStorage:
    """Connections and counts gathered by one streaming pass; ``damage`` says where it ended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connections: list[Connection] = []
        self.message_count = 0
        self.start_time = 2**63 - 1
        self.end_time = 0
        self.damage: str | None = None

    def _account(self, timestamp: int) -> None:
        self.message_count += 1
        self.start_time = min(self.start_time, timestamp)
        self.end_time = max(self.end_time, timestamp + 1)

    def close(self) -> None:
        """Nothing to release: every pass opens and closes the file itself."""


class McapSalvageReader(_SalvagedStorage):
    """Stream an mcap file record by record up to the first damaged record."""

    def __init__(self, path: Path) -> None:
        """Scan the file once for channels, counts and the point of damage."""
        super().__init__(path)
        counts: dict[int, int] = {}
        channels: dict[int, Channel] = {}
        schemas: dict[int, Schema] = {}
        for record in self._records():
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                channels[record.id] = record
            elif isinstance(record, Message) and record.channel_id in channels:
                counts[record.channel_id] = counts.get(record.channel_id, 0) + 1
                self._account(record.log_time)
        if not channels:
            raise SalvageError(f'{path.name}: no readable channel before the damage '
                               f'({self.damage})')
        for channel_id, channel in sorted(channels.items()):
            schema = schemas.get(channel.schema_id)
            msgdef = MessageDefinition(MessageDefinitionFormat.NONE, '')
            if schema is not None and schema.encoding in ('ros2msg', 'ros2idl'):
                fmt = (MessageDefinitionFormat.MSG if schema.encoding == 'ros2msg'
                       else MessageDefinitionFormat.IDL)
                msgdef = MessageDefinition(fmt, schema.data.decode())
            self.connections.append(Connection(
                id=channel_id, topic=channel.topic,
                msgtype=schema.name if schema is not None else '',
                msgdef=msgdef, digest='', msgcount=counts.get(channel_id, 0),
                ext=ConnectionExtRosbag2(channel.message_encoding, []), owner=self))

    def _records(self) -> Iterator[Any]:
        with self.path.open('rb') as stream:
            reader = StreamReader(stream, skip_magic=False, emit_chunks=False)
            try:
                yield from reader.records
            except Exception as err:  # noqa: BLE001 - the stream reader raises many types
                self.damage = f'{type(err).__name__}: {err}'

    def messages(self, connections: list[Connection], start: int | None = None,
                 stop: int | None = None) -> Iterator[tuple[Connection, int, bytes]]:
        """Yield ``(connection, log time, data)`` of the wanted connections, in file order."""
        wanted = {c.id: c for c in connections}
        for record in self._records():
            if not isinstance(record, Message) or record.channel_id not in wanted:
                continue
            if (start is not None and record.log_time < start) or (
                    stop is not None and record.log_time >= stop):
                continue
            yield wanted[record.channel_id], record.log_time, record.data


class Sqlite3SalvageReader(_SalvagedStorage):
    """Read a damaged rosbag2 sqlite3 file row by row up to the first unreadable page.

    SQLite refuses a file shorter than the page count in its header, even the pages that are
    there; a temporary copy with the header's page count set to the pages present makes the
    intact B-tree pages readable again.
    """

    def __init__(self, path: Path) -> None:
        """Read the topic table and scan the messages once for counts and the damage."""
        super().__init__(path)
        self._tempdir = tempfile.TemporaryDirectory(prefix='av_perception_salvage_')
        self._copy = Path(self._tempdir.name) / path.name
        try:
            _copy_with_consistent_header(path, self._copy)
        except (OSError, ValueError) as err:
            self.close()
            raise SalvageError(f'{path.name}: not a readable SQLite file: {err}') from err
        try:
            with self._connect() as db:
                rows = db.execute('SELECT id, name, type, serialization_format FROM topics '
                                  'ORDER BY id').fetchall()
        except sqlite3.Error as err:
            self.close()
            raise SalvageError(f'{path.name}: the topic table is unreadable: {err}') from err
        counts: dict[int, int] = {}
        for topic_id, timestamp, _ in self._rows():
            counts[topic_id] = counts.get(topic_id, 0) + 1
            self._account(timestamp)
        for topic_id, name, msgtype, fmt in rows:
            self.connections.append(Connection(
                id=topic_id, topic=name, msgtype=msgtype,
                msgdef=MessageDefinition(MessageDefinitionFormat.NONE, ''), digest='',
                msgcount=counts.get(topic_id, 0), ext=ConnectionExtRosbag2(fmt, []), owner=self))

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f'file:{self._copy}?immutable=1', uri=True)

    def close(self) -> None:
        """Remove the temporary copy."""
        self._tempdir.cleanup()

    def _rows(self) -> Iterator[tuple[int, int, bytes]]:
        db = self._connect()
        try:
            cursor = db.execute('SELECT topic_id, timestamp, data FROM messages ORDER BY id')
            while True:
                try:
                    row = cursor.fetchone()
                except sqlite3.Error as err:
                    self.damage = f'{type(err).__name__}: {err}'
                    return
                if row is None:
                    return
                yield row
        except sqlite3.Error as err:
            self.damage = f'{type(err).__name__}: {err}'
        finally:
            db.close()

    def messages(self, connections: list[Connection], start: int | None = None,
                 stop: int | None = None) -> Iterator[tuple[Connection, int, bytes]]:
        """Yield ``(connection, timestamp, data)`` of the wanted topics, in insertion order."""
        wanted = {c.id: c for c in connections}
        for topic_id, timestamp, data in self._rows():
            if topic_id not in wanted:
                continue
            if (start is not None and timestamp < start) or (
                    stop is not None and timestamp >= stop):
                continue
            yield wanted[topic_id], timestamp, data


def _copy_with_consistent_header(source: Path, target: Path) -> None:
    """Copy whole pages of a SQLite file and make the header's page count match them."""
    shutil.copyfile(source, target)
    with target.open('r+b') as db_file:
        header = db_file.read(100)
        if len(header) < 100 or not header.startswith(b'SQLite format 3\x00'):
            raise ValueError('no SQLite header')
        page_size = struct.unpack('>H', header[16:18])[0]
        page_size = 65536 if page_size == 1 else page_size
        pages = target.stat().st_size // page_size
        db_file.seek(28)
        db_file.write(struct.pack('>I', pages))
        db_file.truncate(pages * page_size)


def salvage_reader(path: Path) -> _SalvagedStorage:
    """Return the salvage reader for a storage file by its suffix."""
    if path.suffix == '.mcap':
        return McapSalvageReader(path)
    if path.suffix == '.db3':
        return Sqlite3SalvageReader(path)
    raise SalvageError(f'{path.name}: no salvage reader for {path.suffix!r} files')
