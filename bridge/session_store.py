"""Sessions kept in a JetStream key-value bucket, shared by every edge.

Keys are the SHA-256 of tokens; values are :class:`bridge.sessions.Session`
records. Writes that bring ``last_used_at`` forward are compare-and-set on the
revision, so a touch can never bring back a session that was just revoked.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, KeyValueConfig, StorageType
from nats.js.errors import (
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from . import events, sessions
from .sessions import Session

log = logging.getLogger(__name__)

_KV_OPERATION = "KV-Operation"
_MARKER_REASON = "Nats-Marker-Reason"

Change = Callable[[str, Session | None, int], None]
"""``(key, session or None when deleted, revision)``."""


def bucket_name(prefix: str) -> str:
    return f"{prefix}_sessions".replace(".", "_")


@dataclass(frozen=True, slots=True)
class Stored:
    key: str
    session: Session
    revision: int


class SessionStore:
    def __init__(self, js: JetStreamContext, kv: KeyValue, bucket: str) -> None:
        self._js = js
        self._kv = kv
        self._bucket = bucket
        self._watch: JetStreamContext.PushSubscription | None = None

    @classmethod
    async def open(
        cls, js: JetStreamContext, prefix: str, ttl: float, replicas: int
    ) -> SessionStore:
        """The session bucket, created when missing. Its age limit is the longest
        session life, so the bucket forgets expired sessions by itself."""
        name = bucket_name(prefix)
        try:
            kv = await js.key_value(name)
        except BucketNotFoundError:
            kv = await js.create_key_value(
                KeyValueConfig(
                    bucket=name,
                    description="realtime edge sessions, keyed by token hash",
                    history=1,
                    ttl=ttl,
                    replicas=replicas,
                    storage=StorageType.FILE,
                )
            )
        return cls(js, kv, name)

    async def create(self, session: Session) -> tuple[str, Stored]:
        """A new token for ``session``, and what the bucket now holds."""
        token = sessions.new_token()
        key = sessions.token_key(token)
        revision = await self._kv.create(key, sessions.encode(session))
        return token, Stored(key, session, revision)

    async def find(self, token: str, now: float | None = None) -> Stored | None:
        """The live session of ``token``, or None (unknown, expired, unreadable)."""
        return await self.get(sessions.token_key(token), now)

    async def get(self, key: str, now: float | None = None) -> Stored | None:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        session = sessions.decode(entry.value or b"")
        if session is None:
            log.error("unreadable session record", extra={"key": key[:12]})
            return None
        if session.expired(time.time() if now is None else now):
            return None
        return Stored(key, session, entry.revision or 0)

    async def touch(self, key: str, session: Session, revision: int) -> int | None:
        """Write ``session`` over ``revision``; None when the key moved on (touched
        elsewhere, or revoked) and the caller should read it again."""
        try:
            return await self._kv.update(key, sessions.encode(session), last=revision)
        except KeyWrongLastSequenceError:
            return None

    async def revoke(self, token: str) -> Stored | None:
        """Delete the session of ``token``; what it was, or None if there was none."""
        stored = await self.find(token)
        if stored is None:
            return None
        await self._kv.delete(stored.key)
        return stored

    async def watch(self, on_change: Change) -> None:
        """Call ``on_change`` for every write to the bucket from now on."""
        prefix = f"$KV.{self._bucket}."

        async def handle(msg: Msg) -> None:
            try:
                revision = events.ack_metadata(msg.reply)[0]
            except (events.NotAStreamMessage, ValueError):
                return
            headers = msg.headers or {}
            gone = headers.get(_KV_OPERATION) in ("DEL", "PURGE") or (
                _MARKER_REASON in headers
            )
            session = None if gone else sessions.decode(msg.data)
            on_change(msg.subject[len(prefix) :], session, revision)

        self._watch = await self._js.subscribe(
            f"{prefix}>",
            stream=f"KV_{self._bucket}",
            cb=handle,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            idle_heartbeat=2.0,
        )

    async def close(self) -> None:
        if self._watch is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._watch.unsubscribe()
            self._watch = None
