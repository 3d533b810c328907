"""Bookkeeping every perception node does per frame, kept out of the nodes (pure, tested).

Latency percentiles over a sliding window, frame/drop/error counters, input rate, and detection
of time jumps (a bag that loops, a simulator reset) that must reset trackers and histories.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import math

import numpy as np


class LatencyWindow:
    """The last ``size`` latencies in milliseconds, with percentiles."""

    def __init__(self, size: int = 200) -> None:
        """Keep at most ``size`` samples."""
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, milliseconds: float) -> None:
        """Record one latency."""
        self._samples.append(float(milliseconds))

    def percentile(self, q: float) -> float:
        """Return the q-th percentile of the window (NaN when empty)."""
        if not self._samples:
            return math.nan
        return float(np.percentile(np.fromiter(self._samples, float), q))

    def __len__(self) -> int:
        """Return the number of samples held."""
        return len(self._samples)


@dataclass
class FrameCounters:
    """Frames received, processed, rejected (bad input) and failed (processing error)."""

    received: int = 0
    processed: int = 0
    rejected: int = 0
    failed: int = 0
    time_jumps: int = 0


class TimeJumpDetector:
    """Tells when message time went backwards or leapt forward (loop, reset, long gap)."""

    def __init__(self, max_gap_s: float = 1.0) -> None:
        """Treat a forward gap longer than ``max_gap_s`` as a jump too."""
        self.max_gap_ns = int(max_gap_s * 1e9)
        self.last_ns: int | None = None

    def update(self, stamp_ns: int) -> bool:
        """Record a stamp; return True if it jumped relative to the previous one."""
        previous, self.last_ns = self.last_ns, int(stamp_ns)
        if previous is None:
            return False
        return stamp_ns < previous or stamp_ns - previous > self.max_gap_ns

    def reset(self) -> None:
        """Forget the last stamp."""
        self.last_ns = None


class RateEstimator:
    """Input rate in Hz from the arrival times of the last frames (wall clock, seconds)."""

    def __init__(self, size: int = 30) -> None:
        """Average over the last ``size`` arrivals."""
        self._times: deque[float] = deque(maxlen=size)

    def tick(self, now_s: float) -> None:
        """Record one arrival."""
        self._times.append(now_s)

    @property
    def hz(self) -> float:
        """Return the recent rate (0 with fewer than two arrivals)."""
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])
