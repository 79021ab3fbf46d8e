"""Sessions kept in a JetStream key-value bucket, shared by every edge."""

from __future__ import annotations

import logging
import time

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

from . import sessions
from .sessions import Session

log = logging.getLogger(__name__)


def bucket_name(prefix: str) -> str:
    return f"{prefix}_sessions".replace(".", "_")


class SessionStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

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
        return cls(kv)

    async def create(self, session: Session) -> str:
        token = sessions.new_token()
        await self._kv.put(sessions.token_key(token), sessions.encode(session))
        return token

    async def lookup(self, token: str, now: float | None = None) -> Session | None:
        """The live session of ``token``, or None (unknown, expired, unreadable)."""
        try:
            entry = await self._kv.get(sessions.token_key(token))
        except KeyNotFoundError:
            return None
        session = sessions.decode(entry.value or b"")
        if session is None:
            log.error("unreadable session record", extra={"key": entry.key[:8]})
            return None
        if session.expired(time.time() if now is None else now):
            return None
        return session
