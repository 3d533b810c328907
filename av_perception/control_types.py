"""Plain value types shared by the controller, the simulator and the ROS edge.

This module is deliberately tiny and dependency free so that every layer (pure core, ROS nodes,
training scripts) can import it without pulling anything else in.
"""

from __future__ import annotations

from dataclasses import dataclass
import math


@dataclass(frozen=True)
class DriveCommand:
    """One Ackermann drive command.

    ``steering_angle`` is the front-wheel angle of the bicycle model in radians, positive
    turns left (counter-clockwise seen from above, ROS REP-103); ``speed`` is the wanted
    forward speed in m/s.
    """

    steering_angle: float
    speed: float

    def __post_init__(self) -> None:
        """Reject NaN and infinite values, which would silently poison a closed loop."""
        for name in ('steering_angle', 'speed'):
            value = getattr(self, name)
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number):
                raise ValueError(f'DriveCommand.{name}={value!r}: must be a finite number')
            object.__setattr__(self, name, number)
