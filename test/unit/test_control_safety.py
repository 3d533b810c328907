"""SafetySupervisor: limits, non-finite outputs, time jumps and the frame timeout."""

import math

import pytest

from av_perception.control.safety import SafetyLimits, SafetySupervisor

MS = 1_000_000


def supervisor(**changes):
    return SafetySupervisor(SafetyLimits(**{**SafetyLimits().__dict__, **changes}))


def test_steering_and_speed_limits_clip_and_say_so():
    sup = supervisor(steering_limit_rad=0.3, steering_rate_limit_rad_s=0.0,
                     min_speed_mps=2.0, max_speed_mps=20.0)
    out = sup.limit(0.5, 25.0, 0)
    assert out.command.steering_angle == 0.3 and out.command.speed == 20.0 and out.clipped
    out = sup.limit(-0.1, 1.0, 50 * MS)
    assert out.command.steering_angle == -0.1 and out.command.speed == 2.0 and out.clipped
    out = sup.limit(0.05, 10.0, 100 * MS)
    assert not out.clipped and out.command.steering_angle == 0.05 and not out.error


def test_steering_rate_limit_uses_the_time_between_commands():
    sup = supervisor(steering_rate_limit_rad_s=1.0)
    assert sup.limit(0.0, 5.0, 0).command.steering_angle == 0.0
    out = sup.limit(0.4, 5.0, 50 * MS)  # 50 ms at 1 rad/s: at most 0.05 rad
    assert out.command.steering_angle == pytest.approx(0.05) and out.clipped
    out = sup.limit(0.4, 5.0, 150 * MS)
    assert out.command.steering_angle == pytest.approx(0.15)
    # no time passed: no change allowed
    assert sup.limit(-0.4, 5.0, 150 * MS).command.steering_angle == pytest.approx(0.15)


@pytest.mark.parametrize('steering,speed', [(math.nan, 1.0), (0.1, math.inf),
                                            (-math.inf, math.nan)])
def test_non_finite_model_output_gives_a_stop_and_an_error(steering, speed):
    sup = supervisor()
    sup.limit(0.1, 10.0, 0)
    out = sup.limit(steering, speed, 50 * MS)
    assert out.command.speed == 0.0
    assert out.command.steering_angle == pytest.approx(0.1)  # held, no jerk
    assert out.clipped and 'not finite' in out.error


def test_history_reset_on_backward_jump_and_large_gap():
    sup = supervisor(max_frame_gap_s=1.0)
    assert sup.history_reset_reason(10_000 * MS) == ''
    assert sup.history_reset_reason(10_050 * MS) == ''
    assert sup.history_reset_reason(10_050 * MS) == ''  # a repeated stamp is no jump
    assert 'jumped back by 0.050 s' in sup.history_reset_reason(10_000 * MS)
    assert sup.history_reset_reason(11_000 * MS) == ''  # exactly the limit is fine
    assert 'gap of 1.001 s' in sup.history_reset_reason(12_001 * MS)


def test_timeout_before_the_first_frame_counts_from_the_first_check():
    sup = supervisor(frame_timeout_s=0.5)
    assert sup.timeout_message(1_000 * MS) == ''
    assert sup.timeout_message(1_400 * MS) == ''
    assert 'no frame yet for 0.600 s' in sup.timeout_message(1_600 * MS)


def test_timeout_after_frames_and_recovery():
    sup = supervisor(frame_timeout_s=0.5)
    sup.frame_received(0)
    sup.limit(0.2, 10.0, 0)
    assert sup.timeout_message(500 * MS) == ''
    message = sup.timeout_message(501 * MS)
    assert 'no frame for 0.501 s' in message and message.endswith('stop')
    stop = sup.stop(501 * MS)
    assert stop.speed == 0.0 and stop.steering_angle == pytest.approx(0.2)
    sup.frame_received(600 * MS)
    assert sup.timeout_message(700 * MS) == ''


def test_reset_forgets_the_previous_command():
    sup = supervisor(steering_rate_limit_rad_s=0.1)
    sup.limit(0.0, 1.0, 0)
    sup.reset()
    assert sup.limit(0.3, 1.0, 1 * MS).command.steering_angle == pytest.approx(0.3)
