"""Server-to-client WebSocket frames built once and written to many sockets.

An event reaches every matching connection as the same bytes: the edge never masks
(RFC 6455 section 5.1: only clients mask) and never compresses, so a text frame is
built once per message and the fan-out only appends that object to each
connection's outbox. Each outbox is flushed with one ``transport.write`` per event
loop tick, joining the frames that arrived in that tick.
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81


def text_frame(payload: bytes) -> bytes:
    """Encode ``payload`` (UTF-8 JSON) as one unmasked final text frame."""
    size = len(payload)
    if size < 126:
        header = bytes((_FIN_TEXT, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, size)
    return header + payload


class Outbox:
    """Frames waiting for one connection's next flush, bounded in bytes.

    The bound counts what the outbox holds plus what the transport has not yet
    handed to the kernel; the caller passes the latter in, so this stays free of
    I/O.
    """

    __slots__ = ("_frames", "limit", "size")

    def __init__(self, limit: int) -> None:
        self._frames: list[bytes] = []
        self.size = 0
        self.limit = limit

    def __len__(self) -> int:
        return len(self._frames)

    def push(self, frame: bytes, in_transport: int) -> bool:
        """Queue ``frame``; False when that would exceed the bound."""
        size = self.size + len(frame)
        if size + in_transport > self.limit:
            return False
        self._frames.append(frame)
        self.size = size
        return True

    def take(self) -> bytes:
        """Everything queued, joined for one write, and empty the outbox."""
        frames = self._frames
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        self._frames = []
        self.size = 0
        return data
