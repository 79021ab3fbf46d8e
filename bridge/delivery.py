"""Ordering of snapshot and live events for one connection's subscription to a topic.

The contract (SPEC section 6): ``subscribed`` first, then the snapshot, then live
events in increasing stream sequence, none twice and none older than what was
already delivered for the same subject.

A subscription starts *pending*: the fan-out already routes matching live
messages to it, and it keeps them while the snapshot (or replay) is read from the
stream. The read returns a *position*, the stream sequence it covers. Going live
sends the confirmation, the snapshot, then every kept message past the position,
and from then on only messages past the last sequence sent. Because the buffer
was opened before the read started, every message stored after the read is in
it, so nothing falls between the snapshot and the live events.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .scopes import Scopes, matches


class Phase(enum.Enum):
    PENDING = "pending"
    LIVE = "live"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A message read from a topic's stream, already encoded as an event frame."""

    seq: int
    subject: str
    headers: dict[str, str]
    frame: bytes


@dataclass(frozen=True, slots=True)
class StoredRead:
    """What a subscription needs from the stream before it goes live."""

    position: int
    """The stream sequence the read covers: live delivery continues after it."""
    events: list[StoredEvent]
    """Events to send before live ones, in increasing sequence: the snapshot
    (latest per subject), or what a resume replays."""
    recovered: bool = False
    """True when a ``since`` was honoured."""


class Resume(enum.Enum):
    REPLAY = "replay"
    """The stream holds everything after ``since``: replay it."""
    FRESH = "fresh"
    """It does not (or too much to replay): start over with the snapshot."""


# More than this many messages to replay and the client is better served by the
# snapshot: a replay that size would overflow its send queue and be cut (4509),
# and the retry would do the same.
REPLAY_LIMIT = 10_000


def plan_resume(since: int, first_seq: int, last_seq: int) -> Resume:
    """Whether a subscribe with ``since`` can be honoured by the stream as it is.

    The stream no longer holds what follows ``since`` when its first retained
    message comes later than ``since + 1`` (an empty stream has ``first_seq ==
    last_seq + 1``, so a client that saw everything still resumes), or when the
    client claims a sequence the stream never reached.
    """
    if since > last_seq:
        return Resume.FRESH
    if since < last_seq and first_seq > since + 1:
        return Resume.FRESH
    if last_seq - since > REPLAY_LIMIT:
        return Resume.FRESH
    return Resume.REPLAY


class TopicSubscription:
    """One connection's subscription to one topic.

    ``send`` is the connection's non-blocking enqueue; the subscription never
    waits on the socket.
    """

    __slots__ = (
        "_pending",
        "frame_id",
        "phase",
        "position",
        "scopes",
        "send",
        "since",
        "topic",
    )

    def __init__(
        self,
        topic: str,
        scopes: Scopes,
        send: Callable[[bytes], None],
        frame_id: str | None = None,
        since: int | None = None,
    ) -> None:
        self.topic = topic
        self.scopes = scopes
        self.send = send
        self.frame_id = frame_id
        self.since = since
        """The last sequence the client saw, when it resumes."""
        self.phase = Phase.PENDING
        self.position = 0
        self._pending: list[tuple[int, bytes]] = []

    def __repr__(self) -> str:
        return f"<TopicSubscription {self.topic} {self.phase.value} at {self.position}>"

    def offer(self, seq: int, frame: bytes) -> None:
        """A live message matching the scopes: send it, keep it, or drop a repeat."""
        if self.phase is Phase.LIVE:
            if seq > self.position:
                self.position = seq
                self.send(frame)
        elif self.phase is Phase.PENDING:
            self._pending.append((seq, frame))

    def go_live(
        self, confirmation: bytes, position: int, first: Iterable[bytes]
    ) -> None:
        """Send the confirmation, ``first`` (the snapshot), then kept live events.

        ``position`` is the stream sequence the snapshot covers: kept messages at
        or before it are already reflected in the snapshot.
        """
        if self.phase is not Phase.PENDING:
            return
        self.send(confirmation)
        for frame in first:
            self.send(frame)
        self.position = position
        kept, self._pending = self._pending, []
        for seq, frame in kept:
            if seq > self.position:
                self.position = seq
                self.send(frame)
        self.phase = Phase.LIVE

    def close(self) -> None:
        self.phase = Phase.CLOSED
        self._pending = []


def latest_per_subject(events: Iterable[StoredEvent]) -> list[StoredEvent]:
    """The newest event of each subject, in increasing sequence."""
    newest: dict[str, StoredEvent] = {}
    for event in events:
        held = newest.get(event.subject)
        if held is None or event.seq > held.seq:
            newest[event.subject] = event
    return sorted(newest.values(), key=lambda event: event.seq)


def select(events: Sequence[StoredEvent], scopes: Scopes) -> list[bytes]:
    """Frames of the stored events that match ``scopes``."""
    return [event.frame for event in events if matches(scopes, event.headers)]
