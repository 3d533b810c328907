"""ROS parameters declared from a config dataclass, validated at start and on every update."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Generic, Mapping, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from av_perception.params import ConfigError, field_specs, from_mapping

C = TypeVar('C')

_ARRAY_TYPES = {
    bool: Parameter.Type.BOOL_ARRAY,
    int: Parameter.Type.INTEGER_ARRAY,
    float: Parameter.Type.DOUBLE_ARRAY,
    str: Parameter.Type.STRING_ARRAY,
}


def descriptor_for(field: dataclasses.Field) -> ParameterDescriptor:
    """Return the ParameterDescriptor (description, range, read-only) of a config field."""
    meta = field.metadata
    description = meta['description']
    if meta.get('choices'):
        description += f' One of: {", ".join(map(str, meta["choices"]))}.'
    descriptor = ParameterDescriptor(description=description,
                                     read_only=bool(meta.get('read_only')))
    low, high, default = meta.get('low'), meta.get('high'), field.default
    if (low is not None and high is not None and not isinstance(default, bool)
            and isinstance(default, (int, float))):
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high),
                                                     step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(low), to_value=float(high), step=0.0)]
    return descriptor


def _declare(node: Node, field: dataclasses.Field, default: Any,
             descriptor: ParameterDescriptor) -> Any:
    if isinstance(default, list) and not default:
        # an empty list carries no element type: declare the type explicitly; such a
        # parameter stays uninitialised until set, which reads as the empty default
        param_type = _ARRAY_TYPES[field.metadata['item_type']]
        node.declare_parameter(field.name, param_type, descriptor)
        return node.get_parameter_or(field.name, Parameter(field.name, param_type, [])).value
    node.declare_parameter(field.name, default, descriptor)
    return node.get_parameter(field.name).value


class ParameterBinding(Generic[C]):
    """Declares one ROS parameter per config field and keeps a validated config object.

    ``config`` always holds a valid config. A runtime ``set_parameters`` that would make it
    invalid is rejected with the validation message as the reason; accepted changes replace
    ``config`` and call ``on_change(new_config)``.
    """

    def __init__(self, node: Node, config_cls: type[C],
                 overrides: Mapping[str, Any] | None = None,
                 on_change: Callable[[C], None] | None = None) -> None:
        """Declare the parameters (``overrides`` replace the dataclass defaults)."""
        self._node = node
        self._config_cls = config_cls
        self._on_change = on_change
        overrides = dict(overrides or {})
        values = {}
        for field in field_specs(config_cls):
            default = overrides.pop(field.name, field.default)
            if isinstance(default, tuple):
                default = list(default)
            descriptor = descriptor_for(field)
            try:
                value = _declare(node, field, default, descriptor)
            except (InvalidParameterValueException, InvalidParameterTypeException) as err:
                raise ConfigError(f'{config_cls.__name__}.{field.name}: {err}') from None
            values[field.name] = [] if value is None else value
        if overrides:
            raise ConfigError(f'{config_cls.__name__}: unknown parameter(s) {sorted(overrides)}')
        self.config: C = from_mapping(config_cls, values)
        node.add_on_set_parameters_callback(self._on_set_parameters)

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        names = {f.name for f in field_specs(self._config_cls)}
        changes = {p.name: (tuple(p.value) if isinstance(p.value, list) else p.value)
                   for p in parameters if p.name in names}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            candidate = dataclasses.replace(self.config, **changes)
        except (ConfigError, TypeError) as err:
            return SetParametersResult(successful=False, reason=str(err))
        self.config = candidate
        if self._on_change is not None:
            self._on_change(candidate)
        return SetParametersResult(successful=True)
