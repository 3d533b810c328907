"""Bounded LSTM history at constant cost per frame: two staggered, periodically re-based states.

Semantics of ``history_length`` N (the same N as the training window, which is 2N frames):
two LSTM states ("lanes") advance together, one step per frame, as one batch of two. Lane 0
restarts from zero every 2N frames at frames 0, 2N, 4N, ...; lane 1 at N, 3N, 5N, ... (frames
counted since the last reset). The command of a frame comes from the older lane, so it is
the LSTM run from a zero state over exactly the last ``min(t + 1, N + 1 + (t - N) mod N)``
frames: all frames while fewer than N+1 have arrived, then between N+1 and 2N frames. This
is what the network saw in training (windows of 2N frames from a zero state), it forgets a
glitch after at most 2N frames, and it costs one encoder run and one two-row LSTM step per
frame whatever N is; the equivalent naive computation re-runs the CNN and the LSTM over up
to 2N frames per frame.
"""

from __future__ import annotations

import numpy as np

LANES = 2


class StaggeredLstmState:
    """The two lanes of LSTM state and the bookkeeping of which one is active."""

    def __init__(self, history_length: int, layers: int, hidden_size: int) -> None:
        """Start empty; ``history_length`` N >= 1 frames between re-basings of a lane."""
        if history_length < 1:
            raise ValueError(f'history_length={history_length!r}: must be >= 1')
        self.history_length = int(history_length)
        self._shape = (layers, LANES, hidden_size)
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next frame is frame 0."""
        self.h = np.zeros(self._shape, np.float32)
        self.c = np.zeros(self._shape, np.float32)
        self.frame = 0

    def lane_ages(self, frame: int) -> tuple[int, int]:
        """Frames each lane has seen after processing ``frame`` (0 = lane not started)."""
        n = self.history_length
        ages = []
        for lane in range(LANES):
            start = lane * n
            ages.append(0 if frame < start else (frame - start) % (2 * n) + 1)
        return ages[0], ages[1]

    def inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(h, c)`` for this frame's step, with restarting lanes set to zero."""
        for lane, age in enumerate(self.lane_ages(self.frame)):
            if age <= 1:
                self.h[:, lane] = 0.0
                self.c[:, lane] = 0.0
        return self.h, self.c

    def advance(self, h_out: np.ndarray, c_out: np.ndarray) -> tuple[int, int]:
        """Store the new state; return ``(active lane, frames it summarises)`` of this frame."""
        ages = self.lane_ages(self.frame)
        self.h, self.c = h_out, c_out
        self.frame += 1
        lane = int(np.argmax(ages))
        return lane, ages[lane]

    def window(self, frame: int) -> int:
        """Return how many recent frames the command of ``frame`` summarises."""
        return max(self.lane_ages(frame))
