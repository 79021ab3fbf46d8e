"""The edge's link to NATS: one connection, the topic streams, the session
bucket, one live feed per topic and the stream reads behind snapshots."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError

from . import events
from .catalog import Catalog, Topic
from .delivery import (
    Resume,
    StoredEvent,
    StoredRead,
    latest_per_subject,
    plan_resume,
)
from .settings import Settings
from .tracing import Tracing

log = logging.getLogger(__name__)

_STREAM_NAME_IN_USE = 10058
_READ_BATCH = 512
_READ_TIMEOUT = 5.0


class UpstreamUnavailable(Exception):
    """NATS or JetStream cannot answer right now."""


LiveHandler = Callable[[Topic, events.Prepared, dict[str, str] | None], None]
"""``(topic, event, message headers)`` for every live message."""
DropHandler = Callable[[Topic, str], None]


def connect_options(settings: Settings, name: str) -> dict[str, object]:
    """Keyword arguments for ``nats.connect`` from the settings."""
    options: dict[str, object] = {
        "servers": list(settings.nats_url or ["nats://127.0.0.1:4222"]),
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "ping_interval": 5,
        "max_outstanding_pings": 3,
    }
    if settings.nats_creds:
        options["user_credentials"] = str(settings.nats_creds)
    if settings.nats_token:
        options["token"] = settings.nats_token
    if settings.nats_user:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password
    return options


def stream_config(topic: Topic, prefix: str, replicas: int) -> StreamConfig:
    retention = topic.retention
    return StreamConfig(
        name=topic.stream_name(prefix),
        description=topic.description,
        subjects=topic.subjects(prefix),
        storage=StorageType.FILE,
        num_replicas=replicas,
        max_msgs_per_subject=retention.max_msgs_per_subject,
        max_age=float(retention.max_age_seconds),
        max_bytes=retention.max_bytes,
        discard=DiscardPolicy.OLD,
        allow_direct=True,
    )


async def ensure_streams(
    js: JetStreamContext, catalog: Catalog, prefix: str, replicas: int
) -> None:
    """Create each topic's stream, or bring its limits up to the catalog's.

    Updating changes limits and subjects only; it never purges or deletes.
    """
    for topic in catalog.values():
        config = stream_config(topic, prefix, replicas)
        try:
            await js.add_stream(config)
        except BadRequestError as exc:
            if exc.err_code != _STREAM_NAME_IN_USE:
                raise
            await js.update_stream(config)
            log.info("stream updated", extra={"topic": topic.name})


class Upstream:
    """Owns the NATS connection. ``on_event`` receives every live message of
    every topic, in stream order per topic; ``on_drop`` each message that was
    not forwarded."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        name: str,
        on_event: LiveHandler,
        on_drop: DropHandler,
        on_reconnect: Callable[[], None] = lambda: None,
        tracing: Tracing | None = None,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._name = name
        self._on_event = on_event
        self._on_drop = on_drop
        self._on_reconnect = on_reconnect
        self._tracing = tracing or Tracing(None)
        self._prefix = settings.subject_prefix
        self._last_seq: dict[str, int] = {}
        self._feeds: dict[str, JetStreamContext.PushSubscription] = {}
        self._renewing: asyncio.Task[None] | None = None
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.streams_ready = False
        self._last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def connect(self) -> None:
        """Connect, retrying until NATS answers."""
        self.nc = await nats.connect(
            **connect_options(self._settings, self._name),  # type: ignore[arg-type]
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self.js = self.nc.jetstream(timeout=_READ_TIMEOUT)

    async def ensure_streams(self) -> None:
        await ensure_streams(
            self._jetstream(),
            self._catalog,
            self._prefix,
            self._settings.stream_replicas,
        )
        self.streams_ready = True

    async def start_feeds(self) -> None:
        """One ordered push consumer per topic, from the next message on."""
        for topic in self._catalog.values():
            self._last_seq[topic.name] = 0
            self._feeds[topic.name] = await self._subscribe_feed(topic, None)

    async def _subscribe_feed(
        self, topic: Topic, start: int | None
    ) -> JetStreamContext.PushSubscription:
        """An ordered push consumer over the topic's whole stream.

        No filter subject: the stream holds only this topic, and an unfiltered
        consumer spares the server the per-subject bookkeeping that a filtered
        one needs for its pending counts on a stream with many subjects.
        """
        js = self._jetstream()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.NEW
            if start is None
            else DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            description=f"live feed of {self._name}",
            deliver_subject=self._nc().new_inbox(),
            ack_policy=AckPolicy.NONE,
            max_deliver=1,
            flow_control=True,
            idle_heartbeat=2.0,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=30.0,
        )
        stream = topic.stream_name(self._prefix)
        info = await js._jsm.add_consumer(stream, config=config)
        assert info.name is not None
        return await js.subscribe_bind(
            stream=stream,
            config=config,
            consumer=info.name,
            cb=self._feed_handler(topic),
            ordered_consumer=True,
        )

    async def _renew_feeds(self) -> None:
        """Recreate every feed after the last message it delivered.

        After a reconnect the feeds' consumers may have gone with the server
        that held them. The ordered consumers would notice missing heartbeats
        and recreate themselves, but only seconds later; renewing at once cuts
        the pause to the time the cluster takes to elect a stream leader.
        """
        # Each stream elects its own leader: renew the feeds side by side, so
        # that one slow election does not hold up the other topics.
        await asyncio.gather(*(self._renew(name) for name in list(self._feeds)))
        log.info("feeds renewed", extra={"count": len(self._feeds)})

    async def _renew(self, name: str) -> None:
        with contextlib.suppress(nats.errors.Error):
            await self._feeds[name].unsubscribe()
        topic = self._catalog[name]
        delay = 0.1
        while True:
            try:
                self._feeds[name] = await self._subscribe_feed(
                    topic, self._last_seq[name] + 1
                )
                return
            except (nats.errors.Error, TimeoutError) as exc:
                log.debug("feed not renewed yet", extra={"topic": name, "error": exc})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _feed_handler(self, topic: Topic) -> Callable[[Msg], Awaitable[None]]:
        prefix_len = len(self._prefix) + 1
        last_seq = self._last_seq
        name = topic.name
        on_event = self._on_event
        on_drop = self._on_drop

        async def handle(msg: Msg) -> None:
            try:
                seq, ts_ns, _ = events.ack_metadata(msg.reply)
            except (events.NotAStreamMessage, ValueError):
                return
            # The ordered consumer restarts after the last sequence it saw, so a
            # repeat is only possible around a reset; dropping it here keeps every
            # connection free of duplicates without per-connection checks.
            if seq <= last_seq[name]:
                return
            last_seq[name] = seq
            prepared = events.prepare(
                topic, msg.subject[prefix_len:], msg.headers, msg.data, seq, ts_ns
            )
            try:
                if prepared is None:
                    on_drop(topic, msg.subject[prefix_len:])
                else:
                    on_event(topic, prepared, msg.headers)
            except Exception:
                # A fault in the edge must not stop the topic's feed.
                log.exception("fan-out failed", extra={"topic": name, "seq": seq})

        return handle

    async def read(self, topic: Topic, since: int | None = None) -> StoredRead:
        """What a new subscription needs before it goes live: the position live
        delivery continues from and the events to send first, which are the
        messages after ``since`` when the stream can honour it, else the latest
        event of each subject (for snapshot topics)."""
        name = f"{'replay' if since is not None else 'snapshot read'} {topic.name}"
        attributes = {"messaging.system": "nats", "realtime.topic": topic.name}
        with self._tracing.span(name, attributes=attributes) as span:
            try:
                read = await self._read(topic, since)
            except (nats.errors.Error, TimeoutError) as exc:
                raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc
            if span is not None:
                span.set_attribute("realtime.events", len(read.events))
                span.set_attribute("realtime.position", read.position)
            return read

    async def _read(self, topic: Topic, since: int | None) -> StoredRead:
        js = self._jetstream()
        stream = topic.stream_name(self._prefix)
        state = (await js.stream_info(stream)).state
        position = state.last_seq

        if since is not None:
            plan = plan_resume(since, state.first_seq, state.last_seq)
            if plan is Resume.REPLAY:
                if since == position:
                    return StoredRead(position, [], recovered=True)
                # Replayed events are what the client missed, not state seeding:
                # they go out as ordinary events, and ``subscribed.snapshot`` is 0.
                stored, last_read = await self._consume(
                    topic, stream, DeliverPolicy.BY_START_SEQUENCE, since + 1, False
                )
                replay = latest_per_subject(stored) if topic.snapshot else stored
                return StoredRead(max(position, last_read), replay, recovered=True)

        if not topic.snapshot or not state.messages:
            return StoredRead(position, [])
        stored, last_read = await self._consume(
            topic, stream, DeliverPolicy.LAST_PER_SUBJECT
        )
        return StoredRead(max(position, last_read), latest_per_subject(stored))

    async def _consume(
        self,
        topic: Topic,
        stream: str,
        policy: DeliverPolicy,
        start: int | None = None,
        snapshot: bool = True,
    ) -> tuple[list[StoredEvent], int]:
        """Read a temporary consumer up to what it had pending when created.

        With LAST_PER_SUBJECT it delivers the last message of each subject in
        stream order, then anything newer; with a start sequence, everything
        from there. Either way, reading as many as it had pending at creation
        covers the stream as it was then, and the last sequence read is the
        position the read covers.
        """
        # Unfiltered, like the feeds: the stream holds only this topic. The
        # server insists on a filter for last-per-subject, and ">" is all of it.
        config = ConsumerConfig(
            deliver_policy=policy,
            opt_start_seq=start,
            filter_subjects=topic.subjects(self._prefix)
            if policy is DeliverPolicy.LAST_PER_SUBJECT
            else None,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        js = self._jetstream()
        info = await js._jsm.add_consumer(stream, config=config)
        assert info.name is not None
        reader = await js.pull_subscribe_bind(consumer=info.name, stream=stream)
        try:
            return await self._drain(topic, reader, info.num_pending or 0, snapshot)
        finally:
            await self._discard(reader, stream, info.name)

    async def _drain(
        self,
        topic: Topic,
        reader: JetStreamContext.PullSubscription,
        initial: int,
        snapshot: bool,
    ) -> tuple[list[StoredEvent], int]:
        prefix_len = len(self._prefix) + 1
        stored: list[StoredEvent] = []
        taken = last_read = 0
        while taken < initial:
            batch = await reader.fetch(
                min(_READ_BATCH, initial - taken), timeout=_READ_TIMEOUT
            )
            for msg in batch:
                taken += 1
                seq, ts_ns, pending = events.ack_metadata(msg.reply)
                last_read = seq
                subject = msg.subject[prefix_len:]
                prepared = events.prepare(
                    topic, subject, msg.headers, msg.data, seq, ts_ns, snapshot
                )
                if prepared is not None:
                    stored.append(
                        StoredEvent(seq, subject, prepared.meta, prepared.frame)
                    )
                if pending == 0:
                    return stored, last_read
        return stored, last_read

    async def _discard(
        self, reader: JetStreamContext.PullSubscription, stream: str, name: str
    ) -> None:
        try:
            await reader.unsubscribe()
            await self._jetstream().delete_consumer(stream, name)
        except (nats.errors.Error, TimeoutError):
            # The consumer's inactivity threshold removes it anyway.
            pass

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> None:
        if self.nc is None:
            raise UpstreamUnavailable("not connected")
        await self.nc.publish(subject, payload, headers=headers)

    async def close(self) -> None:
        """Stop the feeds and drain the connection."""
        nc, self.nc = self.nc, None
        if nc is None or nc.is_closed:
            return
        if self._renewing is not None:
            self._renewing.cancel()
        for feed in self._feeds.values():
            with contextlib.suppress(nats.errors.Error):
                await feed.unsubscribe()
        self._feeds.clear()
        try:
            await asyncio.wait_for(nc.drain(), timeout=5)
        except (nats.errors.Error, TimeoutError):
            await nc.close()

    def _nc(self) -> Client:
        if self.nc is None:
            raise UpstreamUnavailable("not connected")
        return self.nc

    def _jetstream(self) -> JetStreamContext:
        if self.js is None:
            raise UpstreamUnavailable("not connected")
        return self.js

    async def _on_error(self, exc: Exception) -> None:
        # While NATS is down every reconnect attempt fails the same way: say it
        # once, then only at debug level until something else happens.
        text = f"{type(exc).__name__}: {exc}"
        level = logging.DEBUG if text == self._last_error else logging.WARNING
        self._last_error = text
        log.log(level, "nats error", extra={"error": text})

    async def _on_disconnected(self) -> None:
        if self.nc is None:
            # close() let go of the connection: an orderly drain, not a fault.
            log.info("nats connection closed")
        else:
            log.warning("nats disconnected")

    async def _on_reconnected(self) -> None:
        self._last_error = None
        if self._feeds:
            if self._renewing is not None:
                self._renewing.cancel()
            self._renewing = asyncio.create_task(self._renew_feeds())
        url = self.nc.connected_url if self.nc else None
        log.info("nats reconnected", extra={"server": url.netloc if url else ""})
        self._on_reconnect()
