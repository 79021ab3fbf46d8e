"""Test clients: a WebSocket client speaking the edge's protocol, helpers to
mint tokens in the real session store, and to publish like any producer."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from nats.aio.client import Client

from bridge import sessions
from bridge.app import Edge
from bridge.settings import Settings

Frame = dict[str, Any]


async def mint_token(
    edge: Edge,
    subject: str = "tester",
    topics: list[str] | None = None,
    scopes: dict[str, dict[str, Any]] | None = None,
    ttl: float = 600,
    idle: float = 600,
) -> str:
    assert edge.store is not None
    session = sessions.mint(subject, topics, scopes, ttl, idle, time.time())
    token, _ = await edge.store.create(session)
    return token


def ws_url(edge: Edge | int, token: str | None = None) -> str:
    """The endpoint of an edge (or of whatever serves on that port)."""
    port = edge if isinstance(edge, int) else edge.port
    url = f"http://127.0.0.1:{port}/realtime"
    return f"{url}?token={token}" if token else url


class WsClient:
    def __init__(
        self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse
    ):
        self.http = http
        self.ws = ws
        self.frames: list[Frame] = []
        self.held: list[Frame] = []
        """Frames :meth:`subscribe` read past, handed out by :meth:`recv` first."""
        self.arrivals: list[float] = []
        """``time.monotonic()`` at each frame received."""

    @classmethod
    async def open(cls, edge: Edge | int, token: str | None, **kw: Any) -> WsClient:
        http = aiohttp.ClientSession()
        try:
            ws = await http.ws_connect(ws_url(edge, token), autoping=True, **kw)
        except BaseException:
            await http.close()
            raise
        return cls(http, ws)

    async def send(self, **op: Any) -> None:
        await self.ws.send_str(json.dumps(op))

    async def recv(self, timeout: float = 5.0) -> Frame:
        if self.held:
            return self.held.pop(0)
        msg = await self.ws.receive(timeout=timeout)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionClosed(msg.type, self.ws.close_code)
        frame: Frame = json.loads(msg.data)
        self.frames.append(frame)
        self.arrivals.append(time.monotonic())
        return frame

    async def expect(self, op: str, timeout: float = 5.0, **fields: Any) -> Frame:
        """The next frame, which must have ``op`` and ``fields``."""
        frame = await self.recv(timeout)
        assert frame["op"] == op, frame
        for key, value in fields.items():
            assert frame.get(key) == value, (key, frame)
        return frame

    async def subscribe(self, *topics: str, **fields: Any) -> list[Frame]:
        """Subscribe and return the ``subscribed`` frames (one per topic)."""
        await self.send(op="subscribe", topics=list(topics), **fields)
        # Topics are answered each in order, but not in step with each other:
        # one topic's snapshot may come before the next topic's confirmation.
        confirmed: list[Frame] = []
        other: list[Frame] = []
        while len(confirmed) < len(topics):
            frame = await self.recv()
            if frame["op"] == "subscribed":
                confirmed.append(frame)
            else:
                assert frame["op"] == "event", frame
                # Never an event of a topic before its confirmation.
                assert frame["topic"] in {c["topic"] for c in confirmed}, frame
                other.append(frame)
        self.held[:0] = other
        return confirmed

    async def events(self, count: int, timeout: float = 10.0) -> list[Frame]:
        got: list[Frame] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            frame = await self.recv(max(0.05, deadline - time.monotonic()))
            assert frame["op"] == "event", frame
            got.append(frame)
        return got

    async def quiet(self, seconds: float = 0.3) -> list[Frame]:
        """Whatever arrives within ``seconds`` (usually asserted to be nothing)."""
        got: list[Frame] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(await self.recv(left))
            except TimeoutError:
                break
        return got

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Read until the edge closes; the close code."""
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.ws.receive(timeout=max(0.05, deadline - time.monotonic()))
            if msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.ERROR,
            ):
                return self.ws.close_code

    async def close(self) -> None:
        if not self.ws.closed:
            await self.ws.close()
        await self.http.close()


class ConnectionClosed(Exception):
    def __init__(self, kind: aiohttp.WSMsgType, code: int | None) -> None:
        super().__init__(f"{kind.name} {code}")
        self.code = code


async def publish(
    nc: Client,
    prefix: str,
    subject: str,
    data: dict[str, Any] | bytes,
    **headers: str,
) -> None:
    """Core NATS publish with scope headers, like any producer."""
    payload = data if isinstance(data, bytes) else json.dumps(data).encode()
    await nc.publish(f"{prefix}.{subject}", payload, headers=headers or None)


async def stored(nc: Client, prefix: str, topic: str, count: int) -> None:
    """Wait until the topic's stream holds ``count`` messages in all."""
    js = nc.jetstream()
    name = f"{prefix}.{topic}".replace(".", "_")
    deadline = time.monotonic() + 10
    while True:
        info = await js.stream_info(name)
        if info.state.last_seq >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} holds {info.state.last_seq} of {count}")
        await asyncio.sleep(0.02)


async def http_get(edge: Edge, path: str, **kw: Any) -> tuple[int, str]:
    """Status and body of a plain GET on the edge."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{edge.port}{path}", **kw) as answer,
    ):
        return answer.status, await answer.text()


def edge_settings(nats_url: str, prefix: str, **extra: str) -> Settings:
    """Settings of a test edge: loopback, a free port, the test's own prefix."""
    return Settings.load(
        {
            "NATS_URL": nats_url,
            "REALTIME_HOST": "127.0.0.1",
            "REALTIME_PORT": "0",
            "REALTIME_SUBJECT_PREFIX": prefix,
            **extra,
        }
    )


async def session_token(edge: Edge | int, api_key: str, **body: Any) -> str:
    """A token from ``POST /session`` with ``api_key``, which must answer 201."""
    port = edge if isinstance(edge, int) else edge.port
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{port}/session",
            headers={"Authorization": f"Bearer {api_key}"},
            json=body,
        ) as answer,
    ):
        assert answer.status == 201, await answer.text()
        return str((await answer.json())["token"])
