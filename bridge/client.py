"""A Python client for the edge that does what the protocol asks of clients.

It keeps a set of topic subscriptions alive: on every (re)connect it subscribes
again with ``since`` (the last ``seq`` it saw per topic), so nothing is lost or
repeated across disconnects; it pings every 30 seconds; it backs off
exponentially with jitter; and it follows the close-code policy of
:mod:`bridge.reconnect` (stop on 4401, never hammer the edge). Per topic it
keeps the current state keyed by ``subject``, seeded by snapshots.

    async with RealtimeClient(url, token) as client:
        await client.subscribe("payload.list", scopes={"payloadId": "123"})
        async for event in client:
            print(event["subject"], event["data"])
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from .protocol import ScopeValue
from .reconnect import SLOW_DOWN_SECONDS, Action, Backoff, after_close

log = logging.getLogger(__name__)

Frame = dict[str, Any]

PING_EVERY = 30.0


class AuthRequired(Exception):
    """The edge refused the token (4401): only a new token helps."""


class ClientGaveUp(Exception):
    """The edge closed for something the client did (4400, 1009)."""


class RealtimeClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        ping_every: float = PING_EVERY,
        backoff: Backoff | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.ping_every = ping_every
        self.backoff = backoff or Backoff()
        self.wanted: dict[str, Mapping[str, ScopeValue] | None] = {}
        """Topic -> scopes the client keeps subscribed."""
        self.last_seq: dict[str, int] = {}
        """Topic -> the last ``seq`` received."""
        self._position: dict[str, int] = {}
        """Topic -> ``subscribed.seq`` of the latest confirmation: what the
        client has seen up to, even when no event came after it."""
        self.state: dict[str, dict[str, Frame]] = {}
        """Topic -> subject -> the latest event of that subject."""
        self.status = "idle"
        self.connects = 0
        self.close_codes: list[int | None] = []
        self._events: asyncio.Queue[Frame | BaseException] = asyncio.Queue()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False

    # -- the caller's side -----------------------------------------------------------

    async def __aenter__(self) -> RealtimeClient:
        self._runner = asyncio.create_task(self.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def subscribe(
        self, *topics: str, scopes: Mapping[str, ScopeValue] | None = None
    ) -> None:
        for topic in topics:
            self.wanted[topic] = scopes
        await self._send_subscribe(list(topics))

    async def unsubscribe(self, *topics: str) -> None:
        for topic in topics:
            self.wanted.pop(topic, None)
            self.state.pop(topic, None)
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(json.dumps({"op": "unsubscribe", "topics": topics}))

    def __aiter__(self) -> AsyncIterator[Frame]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Frame]:
        while True:
            item = await self._events.get()
            if isinstance(item, StopAsyncIteration):
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def close(self) -> None:
        self._stopping = True
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(
                asyncio.CancelledError, AuthRequired, ClientGaveUp
            ):
                await self._runner
        self._events.put_nowait(StopAsyncIteration())

    # -- the connection loop ------------------------------------------------------

    async def run(self) -> None:
        """Connect, and reconnect, until :meth:`close` or a close code that says
        stop; then raises :class:`AuthRequired` or :class:`ClientGaveUp`."""
        async with aiohttp.ClientSession() as http:
            while not self._stopping:
                code = await self._connect_once(http)
                if self._stopping:
                    return
                self.close_codes.append(code)
                action = after_close(code)
                if action is Action.NEW_TOKEN:
                    self._stop("unauthorized", AuthRequired(f"closed with {code}"))
                    raise AuthRequired(f"the edge refused the token ({code})")
                if action is Action.GIVE_UP:
                    self._stop("failed", ClientGaveUp(f"closed with {code}"))
                    raise ClientGaveUp(f"the edge closed with {code}")
                at_least = SLOW_DOWN_SECONDS if action is Action.SLOW_DOWN else 0.0
                delay = self.backoff.next(at_least)
                self.status = "reconnecting"
                log.info(
                    "reconnecting", extra={"code": code, "elapsed_ms": delay * 1000}
                )
                await asyncio.sleep(delay)

    def _stop(self, status: str, error: BaseException) -> None:
        self.status = status
        self._events.put_nowait(error)

    async def _connect_once(self, http: aiohttp.ClientSession) -> int | None:
        self.status = "connecting"
        try:
            ws = await http.ws_connect(
                self.url, headers={"Authorization": f"Bearer {self.token}"}
            )
        except (aiohttp.ClientError, OSError) as exc:
            log.info("connect failed", extra={"error": exc})
            return None
        self._ws = ws
        self.connects += 1
        self.status = "connected"
        pinging = asyncio.create_task(self._ping(ws))
        try:
            await self._send_subscribe(list(self.wanted))
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._on_frame(json.loads(msg.data))
        finally:
            pinging.cancel()
            self._ws = None
        return ws.close_code

    async def _send_subscribe(self, topics: list[str]) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            return
        for topic in topics:
            op: Frame = {"op": "subscribe", "topics": [topic]}
            if self.wanted.get(topic):
                op["scopes"] = dict(self.wanted[topic] or {})
            if topic in self._position:
                seen = max(self._position[topic], self.last_seq.get(topic, 0))
                op["since"] = {topic: seen}
            await ws.send_str(json.dumps(op))

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.ping_every)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str('{"op": "ping"}')

    def _on_frame(self, frame: Frame) -> None:
        op = frame.get("op")
        if op == "event":
            topic = frame["topic"]
            # A resume never repeats, but a client must not count on it.
            if frame["seq"] <= self.last_seq.get(topic, 0):
                return
            self.last_seq[topic] = frame["seq"]
            self.state.setdefault(topic, {})[frame["subject"]] = frame
        elif op == "subscribed":
            # A working subscription: the next failure may back off from zero.
            self.backoff.reset()
            topic = frame["topic"]
            self._position[topic] = frame["seq"]
            if not frame["recovered"]:
                # A fresh snapshot follows, in increasing seq from the start:
                # what was held is no longer the state.
                self.state[topic] = {}
                self.last_seq[topic] = 0
        elif op == "error":
            log.warning(
                "edge refused",
                extra={"topic": frame.get("topic"), "code": frame["code"]},
            )
        self._events.put_nowait(frame)
