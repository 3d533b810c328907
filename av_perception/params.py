"""Declarative, validated configuration objects shared by nodes, command line and tests.

A node's configuration is a frozen dataclass whose fields are declared with :func:`parameter`:
default, one-line description, and an optional range or set of choices. The same metadata is
used three ways:

* ``__post_init__`` calls :func:`validate` so a bad value raises :class:`ConfigError` naming
  the field, the value and the rule;
* the ROS edge (``av_perception.ros.params``) declares one ROS parameter per field with that
  description and range, and re-validates on runtime updates;
* ``config/<node>.param.yaml`` must list exactly these fields (a test checks the drift).

Values are plain ``bool``, ``int``, ``float``, ``str`` or tuples of one of those, the types a
ROS parameter can hold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, TypeVar

import yaml

C = TypeVar('C')

_SCALARS = (bool, int, float, str)


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field, value and rule."""


def parameter(default: Any, description: str, *, low: float | None = None,
              high: float | None = None, choices: Sequence[Any] | None = None,
              read_only: bool = False, item_type: type | None = None) -> Any:
    """Declare one configuration field with its ROS parameter metadata.

    ``low``/``high`` bound numbers (inclusive) and also every element of a numeric tuple;
    ``choices`` restricts a value (or every element of a tuple) to a fixed set;
    ``read_only`` parameters cannot change after the node started; ``item_type`` is the
    element type of a tuple parameter (needed when the default is empty).
    """
    if isinstance(default, list):
        default = tuple(default)
    if not isinstance(default, _SCALARS + (tuple,)):
        raise TypeError(f'parameter default must be bool/int/float/str/tuple, got {default!r}')
    if isinstance(default, tuple):
        item_type = item_type or (type(default[0]) if default else None)
        if item_type not in _SCALARS:
            raise TypeError(f'tuple parameter {description!r} needs item_type bool/int/float/str')
    metadata = {
        'item_type': item_type,
        'description': description,
        'low': low,
        'high': high,
        'choices': tuple(choices) if choices is not None else None,
        'read_only': read_only,
    }
    return dataclasses.field(default=default, metadata=metadata)


def field_specs(config_cls: type) -> list[dataclasses.Field]:
    """Return the dataclass fields of a config class that are declared with :func:`parameter`."""
    return [f for f in dataclasses.fields(config_cls) if 'description' in f.metadata]


def _check_type(owner: str, field: dataclasses.Field, value: Any) -> Any:
    """Coerce ``value`` to the type of the field default or raise ConfigError."""
    default = field.default
    name = f'{owner}.{field.name}'
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f'{name}={value!r}: must be a bool')
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f'{name}={value!r}: must be an integer')
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f'{name}={value!r}: must be a number')
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f'{name}={value!r}: must be a string')
        return value
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f'{name}={value!r}: must be a list')
    item_type = field.metadata.get('item_type')
    items = []
    for item in value:
        if item_type is float and isinstance(item, int) and not isinstance(item, bool):
            item = float(item)
        if item_type is not None and (not isinstance(item, item_type) or (
                item_type is not bool and isinstance(item, bool))):
            raise ConfigError(f'{name}={value!r}: every element must be a {item_type.__name__}')
        items.append(item)
    return tuple(items)


def _check_bounds(name: str, value: Any, meta: Mapping[str, Any]) -> None:
    low, high, choices = meta.get('low'), meta.get('high'), meta.get('choices')
    items = value if isinstance(value, tuple) else (value,)
    for item in items:
        if choices is not None and item not in choices:
            raise ConfigError(f'{name}={value!r}: must be one of {list(choices)}')
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            if item != item:  # NaN never satisfies a range and is never a valid setting
                raise ConfigError(f'{name}={value!r}: must not be NaN')
            if low is not None and item < low:
                raise ConfigError(f'{name}={value!r}: must be >= {low}')
            if high is not None and item > high:
                raise ConfigError(f'{name}={value!r}: must be <= {high}')


def validate(config: Any) -> None:
    """Check every declared field of ``config`` against its type, range and choices.

    Call it from ``__post_init__``; raises :class:`ConfigError` on the first bad field.
    Numeric ints given for float fields are converted in place (frozen dataclasses included).
    """
    owner = type(config).__name__
    for field in field_specs(type(config)):
        value = _check_type(owner, field, getattr(config, field.name))
        object.__setattr__(config, field.name, value)
        _check_bounds(f'{owner}.{field.name}', value, field.metadata)


def from_mapping(config_cls: type[C], values: Mapping[str, Any]) -> C:
    """Build a config from a mapping; unknown keys are an error naming them."""
    known = {f.name for f in field_specs(config_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f'{config_cls.__name__}: unknown parameter(s) {unknown}; '
                          f'known: {sorted(known)}')
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return config_cls(**converted)


def to_mapping(config: Any) -> dict[str, Any]:
    """Return the declared fields of a config as a plain dict (tuples as lists)."""
    out = {}
    for field in field_specs(type(config)):
        value = getattr(config, field.name)
        out[field.name] = list(value) if isinstance(value, tuple) else value
    return out


def load_param_yaml(path: str | Path, node_name: str | None = None) -> dict[str, Any]:
    """Read the ``ros__parameters`` of a ROS 2 parameter file as a flat dict.

    Sections for ``/**`` apply to every node; a section named after ``node_name`` (with or
    without a leading slash) overrides them. Nested dicts are flattened with dots, as ROS does.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f'cannot read parameter file {path}: {err}') from err
    if not isinstance(document, dict):
        raise ConfigError(f'parameter file {path}: top level must be a mapping')
    merged: dict[str, Any] = {}
    wanted = ['/**']
    if node_name:
        wanted += [node_name, '/' + node_name.lstrip('/')]
    for section in wanted:
        body = document.get(section)
        if body is None:
            continue
        if not isinstance(body, dict) or 'ros__parameters' not in body:
            raise ConfigError(f'parameter file {path}: section {section!r} has no '
                              'ros__parameters')
        merged.update(_flatten(body['ros__parameters'] or {}))
    return merged


def _flatten(values: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            flat.update(_flatten(value, name + '.'))
        else:
            flat[name] = value
    return flat


def load_config(config_cls: type[C], path: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None,
                node_name: str | None = None) -> C:
    """Build a config from defaults, then a parameter file, then explicit overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        values.update(load_param_yaml(path, node_name))
    if overrides:
        values.update({k: v for k, v in overrides.items() if v is not None})
    return from_mapping(config_cls, values)


def describe(config_cls: type) -> Iterable[tuple[str, Any, str]]:
    """Yield ``(name, default, description)`` for each declared field (for docs and --help)."""
    for field in field_specs(config_cls):
        yield field.name, field.default, field.metadata['description']


@dataclass(frozen=True)
class CameraInputConfig:
    """The camera subscription every perception node has: QoS and message type.

    Mixed into the node configurations (whose ``__post_init__`` validates every field, these
    included); the ROS edge turns it into the subscription.
    """

    input_qos_reliability: str = parameter(
        'best_effort', 'reliability of the image subscription',
        choices=('best_effort', 'reliable'), read_only=True)
    input_qos_depth: int = parameter(
        1, 'queue depth of the image subscription (1 = latest frame wins)', low=1, high=100,
        read_only=True)
    compressed_input: bool = parameter(
        False, 'subscribe to sensor_msgs/CompressedImage instead of Image', read_only=True)
