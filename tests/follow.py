"""Clients that do what the protocol asks after a disconnect: reconnect, to any
edge, and resubscribe with ``since``. They record every event for the checks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import nats
import nats.errors
import nats.js.errors

from .support import ConnectionClosed, WsClient


@dataclass
class Follower:
    port: Callable[[], int | None]
    """The edge to (re)connect to right now; None while there is none."""
    token: str
    topic: str
    seqs: list[int] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    closes: list[int | None] = field(default_factory=list)
    start: int | None = None
    """``subscribed.seq`` of the first subscribe: what must follow is > it."""
    recovered: list[bool] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the first subscribe is confirmed."""

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            port = self.port()
            if port is None:
                await asyncio.sleep(0.05)
                continue
            try:
                client = await WsClient.open(port, self.token)
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(0.05)
                continue
            try:
                await self._follow(client, stop)
            finally:
                await client.close()

    async def _follow(self, client: WsClient, stop: asyncio.Event) -> None:
        since = {self.topic: self.seqs[-1]} if self.seqs else None
        if since is None and self.start is not None:
            since = {self.topic: self.start}
        fields = {"since": since} if since else {}
        try:
            await client.send(op="subscribe", topics=[self.topic], **fields)
            while not stop.is_set():
                try:
                    frame = await client.recv(timeout=0.2)
                except TimeoutError:
                    continue
                if frame["op"] == "subscribed":
                    if self.start is None:
                        self.start = frame["seq"]
                        self.subscribed.set()
                    if since:
                        self.recovered.append(frame["recovered"])
                elif frame["op"] == "event":
                    self.seqs.append(frame["seq"])
                    self.arrivals.append(time.monotonic())
        except (ConnectionClosed, ConnectionError) as closed:
            self.closes.append(getattr(closed, "code", None))

    def longest_pause(self) -> float:
        gaps = [b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False)]
        return max(gaps, default=0.0)


@dataclass
class Published:
    seqs: list[int] = field(default_factory=list)
    """Stream sequences acknowledged, in order."""
    times: list[float] = field(default_factory=list)

    def longest_pause(self) -> float:
        gaps = [b - a for a, b in zip(self.times, self.times[1:], strict=False)]
        return max(gaps, default=0.0)


async def publish_steadily(
    servers: list[str], subject: str, rate: float, seconds: float
) -> Published:
    """JetStream publish at ``rate`` per second with a message id, retried until
    acknowledged; returns the stream sequences the server acknowledged."""
    nc = await nats.connect(servers, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream(timeout=1.0)
    published = Published()
    acked = published.seqs
    started = time.monotonic()
    n = 0
    try:
        while time.monotonic() - started < seconds:
            n += 1
            payload = f'{{"n": {n}}}'.encode()
            give_up = time.monotonic() + 30
            while True:
                try:
                    ack = await js.publish(
                        subject, payload, headers={"Nats-Msg-Id": f"m{n}"}
                    )
                except (nats.errors.Error, TimeoutError, nats.js.errors.Error):
                    if time.monotonic() > give_up:
                        raise AssertionError(
                            f"message {n} never acknowledged"
                        ) from None
                    await asyncio.sleep(0.1)
                    continue
                if not ack.duplicate or ack.seq not in acked:
                    acked.append(ack.seq)
                    published.times.append(time.monotonic())
                break
            next_at = started + n / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        await nc.close()
    return published
