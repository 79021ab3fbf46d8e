"""Per-connection budgets for ops and for malformed frames. Free of I/O: the
caller passes the clock."""

from __future__ import annotations

import enum


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = now

    def take(self, now: float) -> bool:
        elapsed = now - self._stamp
        self._stamp = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Verdict(enum.Enum):
    ALLOW = "allow"
    REFUSE = "refuse"
    """Answer the op with ``rate_limited`` and keep the connection."""
    CLOSE = "close"
    """The client kept going while refused: close with 4429."""


class OpLimiter:
    """Ops are refused once the bucket is empty; ``strikes`` refusals in a row,
    with no op admitted in between, close the connection."""

    __slots__ = ("_bucket", "_refused", "strikes")

    def __init__(self, rate: float, burst: float, strikes: int, now: float) -> None:
        self._bucket = TokenBucket(rate, burst, now)
        self._refused = 0
        self.strikes = strikes

    def admit(self, now: float) -> Verdict:
        if self._bucket.take(now):
            self._refused = 0
            return Verdict.ALLOW
        self._refused += 1
        return Verdict.CLOSE if self._refused >= self.strikes else Verdict.REFUSE


# Generous for a UI that subscribes to a few topics at a time and pings every 30 s,
# tight enough that one client cannot keep an edge busy with snapshot reads.
OP_RATE = 20.0
OP_BURST = 50.0
OP_STRIKES = 20

# Malformed frames: a buggy client gets errors it can log; a flood gets 4400.
BAD_FRAME_RATE = 1.0
BAD_FRAME_BURST = 10.0
