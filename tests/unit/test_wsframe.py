"""Server text frames are valid RFC 6455 frames, and the outbox bounds what one
connection may queue."""

from __future__ import annotations

import asyncio
import struct

import pytest
from aiohttp import WSMsgType
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader

from bridge.wsframe import Outbox, text_frame

SIZES = [0, 125, 126, 65535, 65536, 70000]


def payload_of(size: int) -> bytes:
    return (b'{"k":"abcdefghijklmnopqrstuvwxyz0123456789"}' * (size // 40 + 1))[:size]


class _Protocol:
    """The little of aiohttp's BaseProtocol that its data queue touches."""

    _reading_paused = False

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False


def aiohttp_reader() -> tuple[WebSocketReader, WebSocketDataQueue]:
    queue = WebSocketDataQueue(_Protocol(), 1 << 24, loop=asyncio.get_running_loop())
    # max_msg_size=0: no limit; decode_text: hand back str as a client would see.
    reader = WebSocketReader(queue, max_msg_size=0, compress=False, decode_text=True)
    return reader, queue


def rfc6455_parse(data: bytes) -> tuple[int, int, bool, bytes, bytes]:
    """(first byte, opcode, masked, payload, rest) of the first frame in ``data``,
    following RFC 6455 section 5.2 and refusing non-minimal length encodings."""
    first, second = data[0], data[1]
    masked = bool(second & 0x80)
    length = second & 0x7F
    offset = 2
    if length == 126:
        (length,) = struct.unpack_from("!H", data, offset)
        offset += 2
        assert length >= 126, "16-bit length used for a short payload"
    elif length == 127:
        (length,) = struct.unpack_from("!Q", data, offset)
        offset += 8
        assert length >= 1 << 16, "64-bit length used for a 16-bit payload"
        assert length < 1 << 63, "most significant bit of a 64-bit length is set"
    if masked:
        offset += 4
    payload = data[offset : offset + length]
    assert len(payload) == length, "frame shorter than its length"
    return first, first & 0x0F, masked, payload, data[offset + length :]


# -- text_frame -------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_text_frame_is_read_back_by_aiohttps_websocket_reader(size: int) -> None:
    payload = payload_of(size)
    reader, queue = aiohttp_reader()
    assert reader.feed_data(text_frame(payload)) == (False, b"")
    message = await queue.read()
    assert message.type is WSMsgType.TEXT
    assert message.data == payload.decode()


async def test_joined_frames_are_read_back_as_separate_messages_in_order() -> None:
    payloads = [payload_of(size) for size in SIZES]
    reader, queue = aiohttp_reader()
    reader.feed_data(b"".join(text_frame(p) for p in payloads))
    for payload in payloads:
        message = await queue.read()
        assert message.type is WSMsgType.TEXT
        assert message.data == payload.decode()


@pytest.mark.parametrize("size", SIZES)
def test_text_frame_is_final_unmasked_text_without_reserved_bits(size: int) -> None:
    payload = payload_of(size)
    first, opcode, masked, body, rest = rfc6455_parse(text_frame(payload))
    assert first & 0x80, "FIN"
    assert first & 0x70 == 0, "RSV1-3"
    assert opcode == 0x1
    assert not masked
    assert body == payload
    assert rest == b""


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (70000, b"\x81\x7f" + (70000).to_bytes(8, "big")),
    ],
)
def test_text_frame_uses_the_shortest_length_encoding(size: int, header: bytes) -> None:
    frame = text_frame(payload_of(size))
    assert frame[: len(header)] == header
    assert len(frame) == len(header) + size


def test_the_length_counts_utf8_bytes_not_characters() -> None:
    payload = ('{"name":"' + "é" * 60 + '"}').encode()
    assert len(payload) == 131
    *_, body, rest = rfc6455_parse(text_frame(payload))
    assert rest == b""
    assert body == payload


# -- Outbox -----------------------------------------------------------------------


def test_an_empty_outbox_holds_nothing() -> None:
    outbox = Outbox(100)
    assert len(outbox) == 0
    assert outbox.size == 0
    assert not outbox


def test_push_within_the_limit_queues_the_frame() -> None:
    outbox = Outbox(100)
    assert outbox.push(b"a" * 40, in_transport=0)
    assert outbox.push(b"b" * 60, in_transport=0)
    assert len(outbox) == 2
    assert outbox.size == 100


def test_push_refuses_a_frame_that_would_pass_the_limit() -> None:
    outbox = Outbox(100)
    assert outbox.push(b"a" * 60, in_transport=0)
    assert not outbox.push(b"b" * 41, in_transport=0)
    assert len(outbox) == 1
    assert outbox.size == 60


def test_bytes_still_in_the_transport_count_against_the_limit() -> None:
    outbox = Outbox(100)
    assert outbox.push(b"a" * 10, in_transport=90)
    assert not outbox.push(b"b", in_transport=90)
    assert outbox.push(b"b", in_transport=89)
    assert outbox.size == 11


def test_a_frame_larger_than_the_limit_is_refused_even_when_empty() -> None:
    outbox = Outbox(100)
    assert not outbox.push(b"x" * 101, in_transport=0)
    assert outbox.size == 0


def test_take_joins_frames_in_order_and_empties_the_outbox() -> None:
    outbox = Outbox(100)
    for frame in (b"one,", b"two,", b"three"):
        outbox.push(frame, in_transport=0)
    assert outbox.take() == b"one,two,three"
    assert len(outbox) == 0
    assert outbox.size == 0
    assert outbox.take() == b""


def test_take_of_one_frame_returns_it_whole() -> None:
    outbox = Outbox(100)
    outbox.push(b"only", in_transport=0)
    assert outbox.take() == b"only"


def test_taking_frees_room_for_more() -> None:
    outbox = Outbox(10)
    assert outbox.push(b"x" * 10, in_transport=0)
    assert not outbox.push(b"y", in_transport=0)
    outbox.take()
    assert outbox.push(b"y" * 10, in_transport=0)
