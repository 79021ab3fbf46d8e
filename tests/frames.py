"""Reading the edge's server frames in tests (RFC 6455 section 5.2)."""

from __future__ import annotations

import struct


def unframe(frame: bytes) -> bytes:
    """The payload of one complete, unmasked, final server text frame."""
    assert frame[0] == 0x81
    length, offset = frame[1], 2
    if length == 126:
        (length,) = struct.unpack_from("!H", frame, 2)
        offset = 4
    elif length == 127:
        (length,) = struct.unpack_from("!Q", frame, 2)
        offset = 10
    body = frame[offset:]
    assert len(body) == length
    return body
