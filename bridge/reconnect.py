"""What a client does after a disconnect: the close-code policy and the backoff.

Free of I/O; the Python client uses it, and the browser client follows the same
table. The close code says whether trying again can help (SPEC section 5).
"""

from __future__ import annotations

import enum
import random

from .closecodes import CloseCode


class Action(enum.Enum):
    RECONNECT = "reconnect"
    """Try again after the backoff, then resubscribe with ``since``."""
    SLOW_DOWN = "slow down"
    """Try again, but not before :data:`SLOW_DOWN_SECONDS`."""
    NEW_TOKEN = "new token"
    """Stop: the token is no good; only a new one helps."""
    GIVE_UP = "give up"
    """Stop: the client itself is at fault and would only repeat it."""


SLOW_DOWN_SECONDS = 10.0

_POLICY: dict[int, Action] = {
    CloseCode.UNAUTHORIZED: Action.NEW_TOKEN,
    CloseCode.PROTOCOL_VIOLATION: Action.GIVE_UP,
    CloseCode.MESSAGE_TOO_BIG: Action.GIVE_UP,
    CloseCode.RATE_LIMITED: Action.SLOW_DOWN,
}


def after_close(code: int | None) -> Action:
    """The action for a close with ``code``; None (no close frame: the network
    or the edge went away) and every other code mean reconnect."""
    if code is None:
        return Action.RECONNECT
    return _POLICY.get(code, Action.RECONNECT)


class Backoff:
    """Exponential backoff with full jitter: attempt n waits a random time up to
    ``min(cap, base * 2**n)``, so clients that lost the same edge do not all
    come back in the same instant."""

    def __init__(
        self, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None
    ) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self, at_least: float = 0.0) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return max(at_least, self._rng.uniform(0.0, ceiling))

    def reset(self) -> None:
        """After a connection that worked: the next failure starts small again."""
        self.attempt = 0
