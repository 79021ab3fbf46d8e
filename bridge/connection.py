"""One client's WebSocket: its ops, its topic subscriptions and its outbox.

Everything the edge sends a client goes through :meth:`Connection.send`, which
never waits: frames join the outbox and one ``transport.write`` per event-loop
tick hands them to the kernel. A client whose outbox and transport buffer
together pass REALTIME_SEND_QUEUE_BYTES is closed with 4509 on the spot, so the
fan-out loop never stalls on it and the other clients never notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from asyncio import BaseTransport, Transport
from typing import cast

from aiohttp import WSMsgType, web

from . import policy, protocol
from .catalog import Catalog
from .closecodes import CloseCode
from .delivery import TopicSubscription
from .fanout import Hub
from .instruments import EdgeMetrics
from .protocol import ErrorCode
from .ratelimit import (
    BAD_FRAME_BURST,
    BAD_FRAME_RATE,
    OP_BURST,
    OP_RATE,
    OP_STRIKES,
    OpLimiter,
    TokenBucket,
    Verdict,
)
from .sessions import Session
from .settings import Settings
from .tracing import Tracing
from .upstream import UpstreamUnavailable
from .wsframe import Outbox, text_frame

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT = 2.0
_ABORT_AFTER = 30.0


class Flusher:
    """Flushes, once per event-loop tick, every connection that queued frames.

    One message fanned out to a thousand connections would otherwise schedule
    a thousand loop callbacks; this schedules one, which walks the list.
    """

    __slots__ = ("_dirty",)

    def __init__(self) -> None:
        self._dirty: list[Connection] = []

    def mark(self, connection: Connection) -> None:
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._run)
        self._dirty.append(connection)

    def _run(self) -> None:
        dirty, self._dirty = self._dirty, []
        for connection in dirty:
            connection._flush()


class Connection:
    # Slots: ten thousand idle connections make every per-object byte count.
    __slots__ = (
        "_bad_frames",
        "_catalog",
        "_finished",
        "_flush_scheduled",
        "_flusher",
        "_hub",
        "_loop",
        "_metrics",
        "_ops",
        "_outbox",
        "_reading",
        "_settings",
        "_task",
        "_tracing",
        "_transport",
        "_woken",
        "_ws",
        "close_code",
        "closing",
        "id",
        "last_activity",
        "opened",
        "session",
        "subscriptions",
    )

    def __init__(
        self,
        conn_id: str,
        ws: web.WebSocketResponse,
        transport: BaseTransport,
        session: Session,
        hub: Hub,
        catalog: Catalog,
        settings: Settings,
        metrics: EdgeMetrics,
        tracing: Tracing | None = None,
        flusher: Flusher | None = None,
    ) -> None:
        self.id = conn_id
        self._tracing = tracing or Tracing(None)
        self.session = session
        self.opened = time.monotonic()
        self.last_activity = time.time()
        self.subscriptions: dict[str, TopicSubscription] = {}
        self.closing = False
        self._ws = ws
        self._transport = cast(Transport, transport)
        self._hub = hub
        self._catalog = catalog
        self._settings = settings
        self._metrics = metrics
        self._outbox = Outbox(settings.send_queue_bytes)
        self._flush_scheduled = False
        self._flusher = flusher or Flusher()
        self._loop = asyncio.get_running_loop()
        now = time.monotonic()
        self._ops = OpLimiter(OP_RATE, OP_BURST, OP_STRIKES, now)
        self._bad_frames = TokenBucket(BAD_FRAME_RATE, BAD_FRAME_BURST, now)
        self._task: asyncio.Task[object] | None = None
        self._reading = False
        self._woken = False
        self._finished = asyncio.Event()
        self.close_code: int | None = None

    # -- sending --------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """Queue one complete WebSocket frame; never blocks."""
        if self.closing:
            return
        transport = self._transport
        if transport.is_closing():
            return
        if not self._outbox.push(frame, transport.get_write_buffer_size()):
            self._metrics.slow_consumers.inc()
            log.warning(
                "slow consumer",
                extra={
                    "conn": self.id,
                    "queued": self._outbox.size + transport.get_write_buffer_size(),
                },
            )
            self.close_soon(CloseCode.SLOW_CONSUMER, flush=False)
            return
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._flusher.mark(self)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._outbox and not self._transport.is_closing():
            self._transport.write(self._outbox.take())

    def reply(self, payload: bytes) -> None:
        self.send(text_frame(payload))

    # -- reading --------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the client until either side closes.

        Only this loop reads from and closes the socket. Anything else that
        wants the connection gone (the fan-out, a revoked session, shutdown)
        calls :meth:`close_soon`, which wakes it: aiohttp answers a close made
        while another task waits in ``receive`` by dropping the socket without
        the closing handshake.
        """
        ws = self._ws
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        try:
            while not self.closing:
                # No task or future per frame: close_soon wakes this loop by
                # cancelling it while, and only while, it waits in receive.
                self._reading = True
                try:
                    msg = await ws.receive(timeout=self._settings.idle_timeout)
                except asyncio.CancelledError:
                    if self._woken and task.uncancel() == 0:
                        break
                    raise
                except TimeoutError:
                    self.close_soon(CloseCode.IDLE_TIMEOUT)
                    break
                finally:
                    self._reading = False
                self.last_activity = time.time()
                if msg.type is WSMsgType.TEXT:
                    await self._handle(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    log.warning("binary frame", extra={"conn": self.id})
                    self.close_soon(CloseCode.PROTOCOL_VIOLATION)
                else:
                    # CLOSE, CLOSING, CLOSED or ERROR (aiohttp has already
                    # answered an oversized frame with 1009).
                    break
            if self.closing and self.close_code is not None:
                await self._send_close(CloseCode(self.close_code))
        finally:
            self._detach()
            self.close_code = self.close_code or ws.close_code
            self._finished.set()

    async def _handle(self, data: str) -> None:
        verdict = self._ops.admit(time.monotonic())
        if verdict is Verdict.CLOSE:
            log.warning("op rate exceeded", extra={"conn": self.id})
            self.close_soon(CloseCode.RATE_LIMITED)
            return
        try:
            op = protocol.parse_op(data)
        except protocol.BadFrame as exc:
            await self._bad_frame(str(exc), exc.frame_id)
            return
        if verdict is Verdict.REFUSE:
            self.reply(
                protocol.error(
                    ErrorCode.RATE_LIMITED, "too many ops; slow down", frame_id=op.id
                )
            )
        elif isinstance(op, protocol.Subscribe):
            await self._subscribe(op)
        elif isinstance(op, protocol.Unsubscribe):
            self._unsubscribe(op)
        else:
            self.reply(protocol.pong(op.id))

    async def _bad_frame(self, message: str, frame_id: str | None) -> None:
        if not self._bad_frames.take(time.monotonic()):
            log.warning("malformed frame flood", extra={"conn": self.id})
            self.close_soon(CloseCode.PROTOCOL_VIOLATION)
            return
        self.reply(protocol.error(ErrorCode.BAD_REQUEST, message, frame_id=frame_id))

    async def _subscribe(self, op: protocol.Subscribe) -> None:
        starting: list[TopicSubscription] = []
        for topic in dict.fromkeys(op.topics):
            verdict = policy.admit(
                self._catalog,
                self.session,
                self.subscriptions.keys(),
                self._settings.topic_limit,
                topic,
                op.scopes,
            )
            if isinstance(verdict, policy.Refusal):
                self.reply(protocol.error(verdict.code, verdict.message, topic, op.id))
                continue
            replaced = self.subscriptions.pop(topic, None)
            if replaced is not None:
                self._hub.unsubscribe(replaced)
            since = op.since.get(topic) if op.since else None
            subscription = TopicSubscription(topic, verdict, self.send, op.id, since)
            self.subscriptions[topic] = subscription
            starting.append(subscription)
        await asyncio.gather(*(self._start(s) for s in starting))

    async def _start(self, subscription: TopicSubscription) -> None:
        attributes = {
            "realtime.topic": subscription.topic,
            "realtime.conn": self.id,
            "realtime.resume": subscription.since is not None,
        }
        try:
            with self._tracing.span(
                f"subscribe {subscription.topic}", attributes=attributes
            ) as span:
                read = await self._hub.subscribe(subscription)
                if span is not None:
                    span.set_attribute("realtime.recovered", read.recovered)
        except Exception as exc:
            if self.subscriptions.get(subscription.topic) is subscription:
                del self.subscriptions[subscription.topic]
            if isinstance(exc, UpstreamUnavailable):
                code, message = ErrorCode.UNAVAILABLE, "the event store is unreachable"
            else:
                log.exception("subscribe failed", extra={"conn": self.id})
                code, message = ErrorCode.INTERNAL, "subscribe failed"
            self.reply(
                protocol.error(code, message, subscription.topic, subscription.frame_id)
            )

    def _unsubscribe(self, op: protocol.Unsubscribe) -> None:
        for topic in dict.fromkeys(op.topics):
            if topic not in self._catalog:
                self.reply(
                    protocol.error(
                        ErrorCode.UNKNOWN_TOPIC, f"no topic {topic!r}", topic, op.id
                    )
                )
                continue
            subscription = self.subscriptions.pop(topic, None)
            if subscription is not None:
                self._hub.unsubscribe(subscription)
            self.reply(protocol.encode(protocol.Unsubscribed(topic=topic, id=op.id)))

    # -- closing --------------------------------------------------------------------

    def close_soon(self, code: CloseCode, flush: bool = True) -> None:
        """Stop sending at once and have the connection closed with ``code``;
        callable from anywhere, the fan-out included. ``flush=False`` drops what
        the outbox holds (a slow consumer gets no more of it)."""
        if self.closing:
            return
        if not flush:
            self._outbox.take()
        self._flush()
        self.closing = True
        self.close_code = code
        self._detach()
        if self._reading and not self._woken and self._task is not None:
            self._woken = True
            self._task.cancel()

    async def close(self, code: CloseCode) -> None:
        """Close with ``code`` and wait until the connection is done."""
        self.close_soon(code)
        await self._finished.wait()

    async def _send_close(self, code: CloseCode) -> None:
        # The close frame goes behind whatever the transport still buffers, so a
        # client that was only slow reads everything and then the code. Closing
        # the transport keeps flushing that buffer; a client that never reads
        # again is cut off after a grace period instead of holding it forever.
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(
                self._ws.close(code=code, message=code.reason.encode(), drain=False),
                _CLOSE_TIMEOUT,
            )
        transport = self._transport
        if not transport.is_closing():
            transport.close()
        self._loop.call_later(_ABORT_AFTER, transport.abort)

    def _detach(self) -> None:
        for subscription in self.subscriptions.values():
            self._hub.unsubscribe(subscription)
        self.subscriptions.clear()
