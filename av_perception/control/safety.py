"""Safety logic around the model, with explicit time inputs (no clocks read here).

The supervisor limits what the model asks for (steering angle, steering rate, speed range),
turns non-finite model outputs into a stop command, decides when the frame history must be
reset (time jumped back, or a large forward gap), and reports a stop when frames stop coming.
Two time bases: ``stamp_ns`` is the frame's header stamp (continuity of the data stream: bag
loops and simulator resets jump it), ``now_ns`` is the receiver's clock (timeouts and rates).
"""

from __future__ import annotations

from dataclasses import dataclass
import math

from av_perception.control_types import DriveCommand


@dataclass(frozen=True)
class SafetyLimits:
    """Limits and timeouts of :class:`SafetySupervisor` (see TemporalControllerConfig)."""

    steering_limit_rad: float = 0.5
    steering_rate_limit_rad_s: float = 1.0
    min_speed_mps: float = 0.0
    max_speed_mps: float = 30.0
    frame_timeout_s: float = 0.5
    max_frame_gap_s: float = 1.0


@dataclass(frozen=True)
class LimitedCommand:
    """A command after the limits: what changed and why a stop was forced, if it was."""

    command: DriveCommand
    clipped: bool
    error: str = ''


class SafetySupervisor:
    """Stateful limiter and watchdog; feed it frame times and model outputs in order."""

    def __init__(self, limits: SafetyLimits) -> None:
        """Start with no frame seen."""
        self.limits = limits
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame and command (the actuator state is unknown again)."""
        self._last_stamp_ns: int | None = None
        self._last_frame_now_ns: int | None = None
        self._watch_start_ns: int | None = None
        self._last_steering: float | None = None
        self._last_command_ns: int | None = None

    @property
    def last_steering(self) -> float:
        """Return the last commanded steering angle (0 before any)."""
        return self._last_steering if self._last_steering is not None else 0.0

    def history_reset_reason(self, stamp_ns: int) -> str:
        """Return why the history must be reset before the frame stamped ``stamp_ns``, or ''.

        Call once per frame, before running the model; it records the stamp.
        """
        previous, self._last_stamp_ns = self._last_stamp_ns, int(stamp_ns)
        if previous is None:
            return ''
        gap_s = (int(stamp_ns) - previous) / 1e9
        if gap_s < 0:
            return f'frame time jumped back by {-gap_s:.3f} s'
        if gap_s > self.limits.max_frame_gap_s:
            return f'gap of {gap_s:.3f} s between frames (max_frame_gap_s ' \
                   f'{self.limits.max_frame_gap_s:g})'
        return ''

    def frame_received(self, now_ns: int) -> None:
        """Record that a frame arrived at ``now_ns`` (receiver clock)."""
        self._last_frame_now_ns = int(now_ns)

    def timeout_message(self, now_ns: int) -> str:
        """Return a warning when no frame arrived for longer than the timeout, else ''.

        Before the first frame the timeout counts from the first call.
        """
        reference = self._last_frame_now_ns
        if reference is None:
            if self._watch_start_ns is None:
                self._watch_start_ns = int(now_ns)
            reference = self._watch_start_ns
        silence_s = (int(now_ns) - reference) / 1e9
        if silence_s > self.limits.frame_timeout_s:
            what = 'no frame yet' if self._last_frame_now_ns is None else 'no frame'
            return f'{what} for {silence_s:.3f} s (frame_timeout_s ' \
                   f'{self.limits.frame_timeout_s:g}): stop'
        return ''

    def stop(self, now_ns: int) -> DriveCommand:
        """Return a stop command: speed 0, steering held where it was (no jerk)."""
        self._last_command_ns = int(now_ns)
        return DriveCommand(self.last_steering, 0.0)

    def limit(self, steering: float, speed: float, now_ns: int) -> LimitedCommand:
        """Apply steering, steering-rate and speed limits; non-finite input gives a stop."""
        if not (math.isfinite(steering) and math.isfinite(speed)):
            return LimitedCommand(self.stop(now_ns), True,
                                  f'model output not finite (steering={steering!r}, '
                                  f'speed={speed!r}): stop')
        lim = self.limits
        wanted = min(max(steering, -lim.steering_limit_rad), lim.steering_limit_rad)
        if self._last_steering is not None and lim.steering_rate_limit_rad_s > 0:
            dt = max(0.0, (int(now_ns) - self._last_command_ns) / 1e9)
            step = lim.steering_rate_limit_rad_s * dt
            wanted = min(max(wanted, self._last_steering - step), self._last_steering + step)
        limited_speed = min(max(speed, lim.min_speed_mps), lim.max_speed_mps)
        clipped = abs(wanted - steering) > 1e-12 or abs(limited_speed - speed) > 1e-12
        self._last_steering = wanted
        self._last_command_ns = int(now_ns)
        return LimitedCommand(DriveCommand(wanted, limited_speed), clipped)
