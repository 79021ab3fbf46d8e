"""WebSocket close codes the edge sends, and what each asks the client to do.

The number tells a client its reconnect policy: 1xxx are the standard codes, 44xx
mean "fix something before trying again" (4408 and 4429 excepted, which only ask
for patience), 45xx mean "reconnect and resume".
"""

from __future__ import annotations

import enum


class CloseCode(enum.IntEnum):
    GOING_AWAY = 1001
    """The edge is shutting down: reconnect to any edge and resume."""

    MESSAGE_TOO_BIG = 1009
    """The client sent a frame larger than REALTIME_MAX_MESSAGE: do not resend it."""

    TRY_AGAIN_LATER = 1013
    """The edge cannot check tokens right now (NATS unreachable): reconnect
    after a backoff."""

    PROTOCOL_VIOLATION = 4400
    """Binary frames or a flood of malformed frames: fix the client."""

    UNAUTHORIZED = 4401
    """Token missing, invalid, expired, idle-expired or revoked: get a new token."""

    IDLE_TIMEOUT = 4408
    """No frame within REALTIME_IDLE_TIMEOUT: reconnect."""

    RATE_LIMITED = 4429
    """Op rate limit exceeded: reconnect after a backoff."""

    SLOW_CONSUMER = 4509
    """Send queue over REALTIME_SEND_QUEUE_BYTES: reconnect and resume with since."""

    @property
    def reason(self) -> str:
        return _REASONS[self]


_REASONS = {
    CloseCode.GOING_AWAY: "edge shutting down",
    CloseCode.MESSAGE_TOO_BIG: "frame too large",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.PROTOCOL_VIOLATION: "protocol violation",
    CloseCode.UNAUTHORIZED: "unauthorized",
    CloseCode.IDLE_TIMEOUT: "idle timeout",
    CloseCode.RATE_LIMITED: "rate limited",
    CloseCode.SLOW_CONSUMER: "slow consumer",
}
