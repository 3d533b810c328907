"""The staggered, periodically re-based LSTM history: which frames each command summarises."""

import numpy as np
import pytest

from av_perception.control.history import StaggeredLstmState


@pytest.mark.parametrize('history', [1, 3, 4, 16])
def test_window_is_all_frames_then_between_n_plus_1_and_2n(history):
    state = StaggeredLstmState(history, 1, 2)
    windows = [state.window(t) for t in range(10 * history)]
    assert windows[:history] == list(range(1, history + 1))
    later = windows[history:]
    assert min(later) == history + 1 and max(later) == 2 * history
    # the window grows by one per frame and falls back by N at every re-basing
    steps = np.diff(later)
    assert set(steps.tolist()) <= {1, 1 - history}


def test_restarting_lanes_get_zero_state_and_the_older_lane_is_active():
    state = StaggeredLstmState(2, 1, 3)
    seen = []
    for frame in range(8):
        h, c = state.inputs()
        ages = state.lane_ages(frame)
        for lane, age in enumerate(ages):
            if age == 1:
                assert not h[:, lane].any() and not c[:, lane].any()
        lane, window = state.advance(h + 1.0, c + 1.0)  # each step adds one
        assert window == max(ages) and lane == int(np.argmax(ages))
        # the active lane's state counts exactly the frames it summarises
        assert state.h[0, lane, 0] == window
        seen.append(window)
    assert seen == [1, 2, 3, 4, 3, 4, 3, 4]


def test_reset_starts_over():
    state = StaggeredLstmState(2, 1, 1)
    for _ in range(5):
        h, c = state.inputs()
        state.advance(h + 1, c + 1)
    state.reset()
    assert state.frame == 0 and not state.h.any()
    with pytest.raises(ValueError):
        StaggeredLstmState(0, 1, 1)
