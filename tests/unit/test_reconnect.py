"""The close-code policy and backoff every client follows."""

from __future__ import annotations

import random

import pytest

from bridge.closecodes import CloseCode
from bridge.reconnect import SLOW_DOWN_SECONDS, Action, Backoff, after_close


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (None, Action.RECONNECT),
        (1000, Action.RECONNECT),
        (CloseCode.GOING_AWAY, Action.RECONNECT),
        (1006, Action.RECONNECT),
        (CloseCode.IDLE_TIMEOUT, Action.RECONNECT),
        (CloseCode.SLOW_CONSUMER, Action.RECONNECT),
        (CloseCode.RATE_LIMITED, Action.SLOW_DOWN),
        # An edge that has just started answers 1013 until NATS is linked: the
        # ordinary backoff suits it better than a long pause.
        (CloseCode.TRY_AGAIN_LATER, Action.RECONNECT),
        (CloseCode.UNAUTHORIZED, Action.NEW_TOKEN),
        (CloseCode.PROTOCOL_VIOLATION, Action.GIVE_UP),
        (CloseCode.MESSAGE_TOO_BIG, Action.GIVE_UP),
    ],
)
def test_each_close_code_maps_to_what_the_client_should_do(code, action):
    assert after_close(code) is action


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter():
    backoff = Backoff(base=0.5, cap=8.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(12)]
    ceilings = [min(8.0, 0.5 * 2**n) for n in range(12)]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not lockstep
    assert max(delays[6:]) > 2.0  # grew past the early ceilings


def test_backoff_starts_small_again_after_a_reset():
    backoff = Backoff(base=1.0, cap=30.0, rng=random.Random(1))
    for _ in range(6):
        backoff.next()
    backoff.reset()
    assert backoff.next() <= 1.0


def test_slow_down_waits_at_least_its_floor():
    backoff = Backoff(base=0.1, rng=random.Random(3))
    assert backoff.next(at_least=SLOW_DOWN_SECONDS) >= SLOW_DOWN_SECONDS
