"""From a stream message to the event frame clients receive.

Free of I/O. A message is decoded and encoded once, whatever the number of
recipients; its payload bytes are embedded as they came, after checking that
they are one JSON object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from . import protocol
from .catalog import Topic
from .wsframe import text_frame


class NotAStreamMessage(ValueError):
    """The reply subject carries no JetStream delivery metadata."""


def ack_metadata(reply: str) -> tuple[int, int, int]:
    """Stream sequence, timestamp (ns) and messages still pending, from the reply
    subject of a JetStream delivery.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>`` or
    the form with domain and account hash, which has three more tokens.
    """
    tokens = reply.split(".")
    if len(tokens) < 9 or tokens[0] != "$JS" or tokens[1] != "ACK":
        raise NotAStreamMessage(reply)
    first = 5 if len(tokens) == 9 else 7
    try:
        return int(tokens[first]), int(tokens[first + 2]), int(tokens[first + 3])
    except (ValueError, IndexError):
        raise NotAStreamMessage(reply) from None


@dataclass(frozen=True, slots=True)
class Prepared:
    seq: int
    subject: str
    meta: dict[str, str]
    """The message's headers named after the topic's scope keys."""
    frame: bytes
    """The complete WebSocket text frame."""
    size: int
    """Bytes of the producer's payload."""


def prepare(
    topic: Topic,
    subject: str,
    headers: Mapping[str, str] | None,
    payload: bytes,
    seq: int,
    ts_ns: int,
    snapshot: bool = False,
) -> Prepared | None:
    """The event for a message on unprefixed ``subject``; None if the payload is
    not a JSON object."""
    if protocol.decode_object(payload) is None:
        return None
    meta = (
        {key: value for key, value in headers.items() if key in topic.scope_keys}
        if headers
        else {}
    )
    body = protocol.encode(
        protocol.Event(
            topic=topic.name,
            subject=subject,
            seq=seq,
            ts=protocol.iso_ms_from_ns(ts_ns),
            snapshot=snapshot,
            meta=meta,
            data=msgspec.Raw(payload),
        )
    )
    return Prepared(
        seq=seq, subject=subject, meta=meta, frame=text_frame(body), size=len(payload)
    )
