"""Sessions: what a token allows and for how long. Free of I/O; the store that
keeps them in a JetStream key-value bucket is :mod:`bridge.session_store`.

Tokens carry 256 random bits. The store is keyed by the token's SHA-256, so the
bucket never holds a token and a lookup does not depend on comparing secrets.
"""

from __future__ import annotations

import hashlib
import secrets

import msgspec

from .protocol import ScopeValue

TOKEN_PREFIX = "rt_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_key(token: str) -> str:
    """The bucket key of a token: its SHA-256 in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class Session(msgspec.Struct, frozen=True, kw_only=True):
    subject: str
    topics: list[str] | None = None
    """Topics its connections may subscribe to; None allows all."""
    scopes: dict[str, dict[str, ScopeValue]] = msgspec.field(default_factory=dict)
    """Per topic, scopes forced on every subscription to it."""
    created_at: float
    expires_at: float
    idle_timeout: float
    last_used_at: float

    def expired(self, now: float) -> bool:
        return now >= self.expires_at or now >= self.last_used_at + self.idle_timeout

    def allows(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics


def mint(
    subject: str,
    topics: list[str] | None,
    scopes: dict[str, dict[str, ScopeValue]] | None,
    ttl: float,
    idle_timeout: float,
    now: float,
) -> Session:
    return Session(
        subject=subject,
        topics=topics,
        scopes=scopes or {},
        created_at=now,
        expires_at=now + ttl,
        idle_timeout=idle_timeout,
        last_used_at=now,
    )


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Session)


def encode(session: Session) -> bytes:
    return _encoder.encode(session)


def decode(data: bytes) -> Session | None:
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError:
        return None
