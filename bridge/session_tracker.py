"""The sessions this edge's connections use: who to close, what to touch.

Free of I/O. The edge feeds it connections as they open and close, the changes
other edges make to the session bucket, and the clock; it answers which
connections must go (session revoked, expired, or idle too long) and which
sessions need their ``last_used_at`` written back so that other edges see them
in use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from .sessions import Session


class Holder(Protocol):
    """A connection, as far as sessions are concerned."""

    last_activity: float
    """Wall-clock time of the client's last frame."""


@dataclass(slots=True)
class _InUse:
    session: Session
    revision: int
    holders: set[Holder] = field(default_factory=set)
    touched_at: float = 0.0

    def last_used(self) -> float:
        latest = max((h.last_activity for h in self.holders), default=0.0)
        return max(self.session.last_used_at, latest)


@dataclass(frozen=True, slots=True)
class Touch:
    key: str
    session: Session
    """The session with ``last_used_at`` brought forward."""
    revision: int
    """The revision the write must replace (compare-and-set)."""


class SessionTracker:
    def __init__(self, touch_every: float) -> None:
        self.touch_every = touch_every
        self._in_use: dict[str, _InUse] = {}

    def __len__(self) -> int:
        return len(self._in_use)

    def attach(self, key: str, session: Session, revision: int, holder: Holder) -> None:
        entry = self._in_use.get(key)
        if entry is None or revision > entry.revision:
            holders = entry.holders if entry else set()
            entry = self._in_use[key] = _InUse(session, revision, holders)
        entry.holders.add(holder)

    def detach(self, key: str, holder: Holder) -> None:
        entry = self._in_use.get(key)
        if entry is None:
            return
        entry.holders.discard(holder)
        if not entry.holders:
            del self._in_use[key]

    def changed(self, key: str, session: Session | None, revision: int) -> list[Holder]:
        """Another writer changed ``key``: None means deleted or purged. Returns
        the holders to close."""
        entry = self._in_use.get(key)
        if entry is None or revision <= entry.revision:
            return []
        if session is None:
            del self._in_use[key]
            return list(entry.holders)
        entry.session, entry.revision = session, revision
        return []

    def forget(self, key: str) -> list[Holder]:
        """The session is gone from the store: its holders, to close."""
        entry = self._in_use.pop(key, None)
        return list(entry.holders) if entry else []

    def touched(self, key: str, session: Session, revision: int) -> None:
        entry = self._in_use.get(key)
        if entry is not None and revision > entry.revision:
            entry.session, entry.revision = session, revision

    def due(self, now: float) -> tuple[list[Holder], list[Touch]]:
        """Holders of expired sessions (forgotten here), and touches to write."""
        closing: list[Holder] = []
        touches: list[Touch] = []
        for key, entry in list(self._in_use.items()):
            last_used = entry.last_used()
            session = entry.session
            if now >= session.expires_at or now >= last_used + session.idle_timeout:
                closing.extend(entry.holders)
                del self._in_use[key]
            elif (
                last_used > session.last_used_at
                and now - entry.touched_at >= self.touch_every
            ):
                entry.touched_at = now
                fresh = msgspec.structs.replace(session, last_used_at=last_used)
                touches.append(Touch(key, fresh, entry.revision))
        return closing, touches

    def holders(self) -> Iterable[Holder]:
        for entry in self._in_use.values():
            yield from entry.holders
