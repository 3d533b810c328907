"""Message type definitions for reading and writing bags with ``rosbags``.

The base is rosbags' ROS 2 Kilted store (std, sensor, geometry, nav, ... messages). The
interface packages that no registry ships (vision_msgs 4.x, ackermann_msgs) are added from the
same ``.msg`` files the setup builds with rosidl (``tools/interfaces``), so bag schemas and type
hashes equal the upstream packages'. Definitions found inside a bag take precedence when that
bag is read: they describe the bytes actually stored.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Mapping

from rosbags.typesys import get_types_from_msg, get_typestore, Stores
from rosbags.typesys.store import Typestore

# Packages whose .msg files ship with av_perception (see tools/interfaces).
CUSTOM_PACKAGES = ('vision_msgs', 'ackermann_msgs')


def interface_dirs() -> list[Path]:
    """Return the directories that may hold ``<package>/msg/*.msg`` definitions.

    From a source checkout that is ``tools/interfaces``; from an installed package (colcon),
    ``share/av_perception/interfaces`` of the install prefix.
    """
    here = Path(__file__).resolve()
    candidates = [here.parents[2] / 'tools' / 'interfaces']
    # <prefix>/lib/pythonX.Y/site-packages/av_perception/bag/typestore.py -> <prefix>/share/...
    if len(here.parents) > 5:
        candidates.append(here.parents[5] / 'share' / 'av_perception' / 'interfaces')
    return [path for path in candidates if path.is_dir()]


@functools.lru_cache(maxsize=1)
def custom_type_definitions() -> Mapping[str, tuple]:
    """Return rosbags field definitions of the bundled interface packages."""
    types: dict[str, tuple] = {}
    for root in interface_dirs():
        for package in CUSTOM_PACKAGES:
            for msg_file in sorted((root / package / 'msg').glob('*.msg')):
                name = f'{package}/msg/{msg_file.stem}'
                types.update(get_types_from_msg(msg_file.read_text(), name))
        if types:
            break
    return types


@functools.lru_cache(maxsize=4)
def _base_definitions(base: Stores = Stores.ROS2_KILTED) -> Mapping[str, tuple]:
    return dict(get_typestore(base).fielddefs)


def build_typestore(extra: Mapping[str, tuple] | None = None,
                    base: Stores = Stores.ROS2_KILTED) -> Typestore:
    """Return a new typestore: ``base`` distro types, bundled interfaces, then ``extra``."""
    definitions = dict(_base_definitions(base))
    definitions.update(custom_type_definitions())
    if extra:
        definitions.update(extra)
    store = get_typestore(Stores.EMPTY)
    store.register(definitions)
    return store


@functools.lru_cache(maxsize=1)
def default_typestore() -> Typestore:
    """Return the shared typestore used for writing bags (do not register into it)."""
    return build_typestore()
