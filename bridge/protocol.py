"""The WebSocket protocol's frames: client ops in, edge frames out.

Free of I/O: the connection handler feeds text frames to :func:`parse_op` and
sends what the ``encode_*`` functions return. Unknown fields in client frames are
ignored so that newer clients keep working against older edges.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import msgspec

ScopeValue = str | list[str]


class ErrorCode(enum.StrEnum):
    BAD_REQUEST = "bad_request"
    UNKNOWN_TOPIC = "unknown_topic"
    FORBIDDEN = "forbidden"
    INVALID_SCOPES = "invalid_scopes"
    TOPIC_LIMIT = "topic_limit"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


# -- client to edge ---------------------------------------------------------------


class Subscribe(msgspec.Struct, tag="subscribe", tag_field="op", frozen=True):
    topics: list[str]
    scopes: dict[str, ScopeValue] | None = None
    since: dict[str, int] | None = None
    id: str | None = None


class Unsubscribe(msgspec.Struct, tag="unsubscribe", tag_field="op", frozen=True):
    topics: list[str]
    id: str | None = None


class Ping(msgspec.Struct, tag="ping", tag_field="op", frozen=True):
    id: str | None = None


ClientOp = Subscribe | Unsubscribe | Ping

_op_decoder = msgspec.json.Decoder(ClientOp)


class BadFrame(Exception):
    """A client frame that is not a valid op; carries its ``id`` when readable."""

    def __init__(self, message: str, frame_id: str | None) -> None:
        super().__init__(message)
        self.frame_id = frame_id


def parse_op(data: str | bytes) -> ClientOp:
    """Decode one client text frame, raising :class:`BadFrame` with a reason."""
    try:
        op = _op_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise BadFrame(_describe(exc), _readable_id(data)) from None
    if isinstance(op, Subscribe | Unsubscribe) and not op.topics:
        raise BadFrame("topics must name at least one topic", op.id)
    if isinstance(op, Subscribe) and op.since:
        negative = sorted(t for t, s in op.since.items() if s < 0)
        if negative:
            raise BadFrame(f"since must not be negative ({negative[0]})", op.id)
    return op


def _describe(exc: msgspec.DecodeError) -> str:
    text = str(exc)
    if text.startswith("Invalid value") and "`$.op`" in text:
        return "unknown op; expected subscribe, unsubscribe or ping"
    if isinstance(exc, msgspec.ValidationError):
        return text
    return "frame is not a JSON object"


def _readable_id(data: str | bytes) -> str | None:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    frame_id = value.get("id") if isinstance(value, dict) else None
    return frame_id if isinstance(frame_id, str) else None


# -- edge to client ---------------------------------------------------------------


class Subscribed(msgspec.Struct, tag="subscribed", tag_field="op", omit_defaults=True):
    topic: str
    scopes: dict[str, list[str]]
    snapshot: int
    seq: int
    recovered: bool
    id: str | None = None


class Event(msgspec.Struct, tag="event", tag_field="op"):
    topic: str
    subject: str
    seq: int
    ts: str
    snapshot: bool
    meta: dict[str, str]
    data: msgspec.Raw


class Unsubscribed(
    msgspec.Struct, tag="unsubscribed", tag_field="op", omit_defaults=True
):
    topic: str
    id: str | None = None


class Pong(msgspec.Struct, tag="pong", tag_field="op", omit_defaults=True):
    ts: str
    id: str | None = None


class Error(msgspec.Struct, tag="error", tag_field="op", omit_defaults=True):
    code: ErrorCode
    message: str
    topic: str | None = None
    id: str | None = None


_encoder = msgspec.json.Encoder()


def encode(frame: Subscribed | Event | Unsubscribed | Pong | Error) -> bytes:
    return _encoder.encode(frame)


def error(
    code: ErrorCode, message: str, topic: str | None = None, frame_id: str | None = None
) -> bytes:
    return _encoder.encode(Error(code=code, message=message, topic=topic, id=frame_id))


def pong(frame_id: str | None, now: datetime | None = None) -> bytes:
    return _encoder.encode(Pong(ts=iso_ms(now or datetime.now(UTC)), id=frame_id))


def iso_ms(moment: datetime) -> str:
    """``2026-12-03T08:00:00.123Z``: UTC, milliseconds, as the frames carry it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


_second_cache: list[object] = [-1, ""]


def iso_ms_from_ns(nanos: int) -> str:
    """:func:`iso_ms` of a stream timestamp. Runs once per live message, and
    messages come many to a second: the formatted second is kept."""
    seconds, rest = divmod(nanos, 1_000_000_000)
    if _second_cache[0] != seconds:
        moment = datetime.fromtimestamp(seconds, UTC)
        _second_cache[0] = seconds
        _second_cache[1] = moment.strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{_second_cache[1]}{rest // 1_000_000:03d}Z"


def decode_object(payload: bytes) -> dict[str, Any] | None:
    """The producer payload as a JSON object, or None when it is not one."""
    try:
        value = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None
