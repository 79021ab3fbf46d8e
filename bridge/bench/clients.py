"""Benchmark clients: many WebSocket connections per process, on bare asyncio
protocols so that the clients cost as little CPU as possible.

Two dialects: the edge's JSON protocol, and NATS's own protocol over
nats-server's WebSocket listener (the peer). Each connection counts the events
it receives, checks their order, and samples the publish-to-receive delay from
the ``t`` (monotonic ns) that the benchmark producer puts in every payload.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import resource
import struct
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from typing import Any

# Keep one delay in this many, so memory stays flat at millions of deliveries.
_SAMPLE_EVERY = 8
_MAX_DELAYS = 50_000


@dataclass
class Plan:
    """What one client process does; sent over the pipe from the runner."""

    dialect: str  # "bridge" or "nats-ws"
    port: int
    path: str
    connections: int
    first: int
    """Index of this process's first connection (for per-connection scopes)."""
    subscribe: dict[str, Any]
    """Bridge: the subscribe op (``{i}`` in scope values becomes the index).
    NATS: ``{"subject": "..."}`` with the same ``{i}``."""
    expect: int
    """Events each connection should receive; -1 for the snapshot count."""
    settle: float = 10.0
    """Seconds without any event, after the producer is done, before the rest
    is counted as lost."""


@dataclass
class Counts:
    received: int = 0
    out_of_order: int = 0
    last_seq: int = 0
    snapshot: int = -1
    subscribed: bool = False
    """Bridge: ``subscribed`` came; NATS: the PONG after SUB came."""
    on_subscribed: Any = None
    """Called once, when ``subscribed`` becomes true."""
    done_at: float = 0.0
    closed: int | None = None
    delays: list[float] = field(default_factory=list)


class _Socket(asyncio.Protocol):
    """A WebSocket client connection: handshake, then frames to ``on_frame``."""

    def __init__(self, request: bytes, ready: asyncio.Future[None]) -> None:
        self.request = request
        self.ready = ready
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(bytes(buffer[:80])))
                return
            del buffer[: end + 4]
            self.upgraded = True
            if not self.ready.done():
                self.ready.set_result(None)
        offset = 0
        size = len(buffer)
        while size - offset >= 2:
            opcode = buffer[offset] & 0x0F
            length = buffer[offset + 1] & 0x7F
            start = offset + 2
            if length == 126:
                if size - start < 2:
                    break
                length = struct.unpack_from("!H", buffer, start)[0]
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = struct.unpack_from("!Q", buffer, start)[0]
                start += 8
            if size - start < length:
                break
            self.on_frame(opcode, bytes(buffer[start : start + length]))
            offset = start + length
        if offset:
            del buffer[:offset]

    def on_frame(self, opcode: int, payload: bytes) -> None:
        raise NotImplementedError

    def send(self, payload: bytes, opcode: int = 0x1) -> None:
        mask = os.urandom(4)
        n = len(payload)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        assert self.transport is not None
        self.transport.write(header + mask + masked)


def _delay_ns(payload: bytes, at: int) -> int:
    """``t`` from the payload, as the publish time in monotonic ns."""
    start = payload.find(b'"t":') + 4
    end = start
    while payload[end : end + 1].isdigit():
        end += 1
    return int(payload[start:end])


class _BridgeClient(_Socket):
    def __init__(self, request: bytes, ready: asyncio.Future[None], counts: Counts):
        super().__init__(request, ready)
        self.counts = counts

    def on_frame(self, opcode: int, payload: bytes) -> None:
        counts = self.counts
        if opcode == 0x8:
            counts.closed = struct.unpack("!H", payload[:2])[0] if payload else 1005
            return
        if payload.startswith(b'{"op":"event"'):
            now = time.monotonic_ns()
            counts.received += 1
            start = payload.find(b'"seq":') + 6
            seq = int(payload[start : payload.index(b",", start)])
            if seq <= counts.last_seq:
                counts.out_of_order += 1
            counts.last_seq = seq
            if counts.received % _SAMPLE_EVERY == 0:
                counts.delays.append((now - _delay_ns(payload, now)) / 1e6)
            counts.done_at = time.monotonic()
        elif payload.startswith(b'{"op":"subscribed"'):
            counts.snapshot = json.loads(payload)["snapshot"]
            _mark_subscribed(counts)


class _NatsClient(_Socket):
    """NATS protocol over WebSocket: CONNECT, SUB, then MSG frames."""

    def __init__(self, request: bytes, ready: asyncio.Future[None], counts: Counts):
        super().__init__(request, ready)
        self.counts = counts
        self.stream = bytearray()

    def on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x8:
            self.counts.closed = 1000
            return
        stream = self.stream
        stream += payload
        counts = self.counts
        offset = 0
        while True:
            line_end = stream.find(b"\r\n", offset)
            if line_end < 0:
                break
            if stream.startswith(b"MSG ", offset):
                size = int(stream[offset:line_end].rsplit(b" ", 1)[1])
                body_end = line_end + 2 + size
                if len(stream) < body_end + 2:
                    break
                now = time.monotonic_ns()
                counts.received += 1
                if counts.received % _SAMPLE_EVERY == 0:
                    body = bytes(stream[line_end + 2 : body_end])
                    counts.delays.append((now - _delay_ns(body, now)) / 1e6)
                counts.done_at = time.monotonic()
                offset = body_end + 2
            else:
                if stream.startswith(b"PING", offset):
                    self.send(b"PONG\r\n", 0x2)
                elif stream.startswith(b"PONG", offset):
                    _mark_subscribed(counts)
                offset = line_end + 2
        if offset:
            del stream[:offset]


def _mark_subscribed(counts: Counts) -> None:
    if not counts.subscribed:
        counts.subscribed = True
        if counts.on_subscribed is not None:
            counts.on_subscribed()


def _upgrade(port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def _fill(value: Any, index: int) -> Any:
    if isinstance(value, str):
        return value.replace("{i}", str(index))
    if isinstance(value, dict):
        return {k: _fill(v, index) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, index) for v in value]
    return value


async def _open(plan: Plan, index: int, counts: Counts) -> _Socket:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    kind = _BridgeClient if plan.dialect == "bridge" else _NatsClient
    request = _upgrade(plan.port, plan.path)
    _, protocol = await loop.create_connection(
        lambda: kind(request, ready, counts), "127.0.0.1", plan.port
    )
    await asyncio.wait_for(ready, 30)
    if plan.dialect == "bridge":
        protocol.send(json.dumps(_fill(plan.subscribe, index)).encode())
    else:
        subject = _fill(plan.subscribe["subject"], index)
        protocol.send(
            b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\n'
            + f"SUB {subject} 1\r\nPING\r\n".encode(),
            0x2,
        )
    return protocol


async def _run(plan: Plan, pipe: Pipe) -> None:
    subscribed = asyncio.Event()
    waiting = plan.connections

    def one_more() -> None:
        nonlocal waiting
        waiting -= 1
        if waiting == 0:
            subscribed.set()

    counts = [Counts(on_subscribed=one_more) for _ in range(plan.connections)]
    if not counts:
        subscribed.set()
    sockets: list[_Socket] = []
    pipe.send(("up", 0.0))
    await _message(pipe)  # "go"
    # Connect in bursts: the edge's listen backlog is finite.
    for start in range(0, plan.connections, 200):
        batch = range(start, min(start + 200, plan.connections))
        sockets += await asyncio.gather(
            *(_open(plan, plan.first + i, counts[i]) for i in batch)
        )
    # Ready once every connection is subscribed, so that the producer's first
    # message is owed to all of them.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(subscribed.wait(), 120)
    pipe.send(("ready", time.monotonic()))

    started = _cpu()
    settle_until: float | None = None

    def complete(c: Counts) -> bool:
        if plan.expect < 0:
            return c.snapshot >= 0 and c.received >= c.snapshot
        return c.received >= plan.expect

    while True:
        if pipe.poll():
            message = pipe.recv()
            if message == "stop":
                break
            if message == "published":
                settle_until = time.monotonic() + plan.settle
        if plan.expect != 0 and all(complete(c) for c in counts):
            break
        # After the producer is done, wait until nothing has arrived for a
        # while: whatever is still missing then is lost.
        if settle_until is not None and time.monotonic() > settle_until:
            latest = max((c.done_at for c in counts), default=0.0)
            if time.monotonic() - latest > plan.settle:
                break
            settle_until = time.monotonic() + 0.2
        await asyncio.sleep(0.01)
    cpu = _cpu() - started
    delays: list[float] = []
    for c in counts:
        delays += c.delays
    if len(delays) > _MAX_DELAYS:
        step = len(delays) / _MAX_DELAYS
        delays = [delays[int(i * step)] for i in range(_MAX_DELAYS)]
    pipe.send(
        (
            "result",
            {
                "received": [c.received for c in counts],
                "out_of_order": sum(c.out_of_order for c in counts),
                "closed": [c.closed for c in counts if c.closed is not None],
                "done_at": [c.done_at for c in counts],
                "delays": delays,
                "cpu_s": cpu,
            },
        )
    )
    # Hold the connections until told to let go (the runner may still be
    # reading the server's memory).
    await _message(pipe)
    for sock in sockets:
        if sock.transport is not None:
            sock.transport.close()


async def _message(pipe: Pipe) -> Any:
    """The next message from the runner, without blocking the loop."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(pipe.fileno(), wake)
    try:
        await readable
    finally:
        loop.remove_reader(pipe.fileno())
        # Watching the pipe made it non-blocking; the large result must not
        # fail with EAGAIN.
        os.set_blocking(pipe.fileno(), True)
    return pipe.recv()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(plan: Plan, pipe: Pipe) -> None:
    """Entry point of a client process."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_run(plan, pipe))
