"""Python message classes from type names such as ``sensor_msgs/msg/Image``."""

from __future__ import annotations

import importlib
from typing import Any


def message_class(type_name: str) -> Any | None:
    """Return the rclpy message class of ``pkg/msg/Type`` (or ``pkg/Type``); None if missing."""
    parts = type_name.split('/')
    if len(parts) == 2:
        parts = [parts[0], 'msg', parts[1]]
    if len(parts) != 3 or parts[1] != 'msg':
        return None
    package, _, name = parts
    try:
        return getattr(importlib.import_module(f'{package}.msg'), name)
    except (ImportError, AttributeError):
        return None
