"""The hub: every connection's topic subscriptions, and the routing of each live
message to those it matches.

Free of network I/O. Stream reads come through the ``reader`` the edge passes
in, and frames leave through each subscription's non-blocking ``send``, so a
message is routed to all its recipients in one synchronous pass that no socket
can hold up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from . import protocol
from .catalog import Catalog, Topic
from .delivery import StoredRead, TopicSubscription, select
from .events import Prepared
from .instruments import EdgeMetrics
from .scopes import ScopeIndex, as_lists
from .wsframe import text_frame

Reader = Callable[[Topic, int | None], Awaitable[StoredRead]]
"""Reads a topic's stream for a new subscription: ``(topic, since)``."""


class _Route:
    """One topic: its subscriptions and the stream read they are waiting for.

    Subscriptions that arrive while a read is under way wait for the next one;
    all those waiting then share it. A thousand clients subscribing at once
    cost a couple of stream reads, not a thousand.
    """

    __slots__ = ("_lock", "_next", "index", "topic")

    def __init__(self, topic: Topic) -> None:
        self.topic = topic
        self.index: ScopeIndex[TopicSubscription] = ScopeIndex()
        self._next: asyncio.Future[StoredRead] | None = None
        self._lock = asyncio.Lock()

    def next_read(self, reader: Reader) -> asyncio.Future[StoredRead]:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(self._read(reader))
        return self._next

    async def _read(self, reader: Reader) -> None:
        async with self._lock:
            waiting, self._next = self._next, None
            assert waiting is not None
            try:
                result = await reader(self.topic, None)
            except asyncio.CancelledError:
                waiting.set_exception(RuntimeError("stream read cancelled"))
                waiting.exception()
                raise
            except Exception as exc:
                waiting.set_exception(exc)
                # Retrieved here so that a read nobody awaits any more (every
                # waiter gone) does not log "exception was never retrieved".
                waiting.exception()
            else:
                waiting.set_result(result)


class Hub:
    def __init__(self, catalog: Catalog, reader: Reader, metrics: EdgeMetrics) -> None:
        self._routes = {name: _Route(topic) for name, topic in catalog.items()}
        self._reader = reader
        self._metrics = metrics
        self._counters = {
            name: (
                metrics.messages_in.labels(topic=name),
                metrics.events_out.labels(topic=name),
                metrics.filtered_out.labels(topic=name),
                metrics.fanout_seconds.labels(topic=name),
                metrics.subscriptions.labels(topic=name),
            )
            for name in catalog
        }

    def subscribers(self, topic: str) -> int:
        return len(self._routes[topic].index)

    def deliver(self, topic: Topic, event: Prepared) -> tuple[int, int]:
        """Route one live message; returns how many subscriptions received it
        and how many its scopes filtered out."""
        started = time.perf_counter()
        index = self._routes[topic.name].index
        # Counted before sending: a slow consumer leaves the index mid-loop.
        held = len(index)
        recipients = index.match(event.meta)
        seq, frame = event.seq, event.frame
        for subscription in recipients:
            subscription.offer(seq, frame)
        messages_in, events_out, filtered, latency, _ = self._counters[topic.name]
        messages_in.inc()
        events_out.inc(len(recipients))
        filtered.inc(held - len(recipients))
        latency.observe(time.perf_counter() - started)
        return len(recipients), held - len(recipients)

    async def subscribe(self, subscription: TopicSubscription) -> StoredRead:
        """Register ``subscription``, read its snapshot and let it go live.

        Raises whatever the stream read raised (the subscription is then removed).
        """
        route = self._routes[subscription.topic]
        route.index.add(subscription, subscription.scopes)
        self._counters[subscription.topic][4].inc()
        started = time.perf_counter()
        try:
            if subscription.since is not None:
                # A resume reads from its own sequence on: nothing to share.
                read = await self._reader(route.topic, subscription.since)
            else:
                # Shielded: the read is shared, and one waiter being cancelled
                # (its connection closing) must not cancel it for the others.
                read = await asyncio.shield(route.next_read(self._reader))
        except BaseException:
            self.unsubscribe(subscription)
            raise
        self._metrics.snapshot_seconds.labels(topic=subscription.topic).observe(
            time.perf_counter() - started
        )
        if subscription in route.index:
            frames = select(read.events, subscription.scopes)
            snapshot = 0 if read.recovered else len(frames)
            subscription.go_live(
                confirmation(subscription, snapshot, read),
                read.position,
                frames,
            )
        return read

    def unsubscribe(self, subscription: TopicSubscription) -> None:
        route = self._routes[subscription.topic]
        if subscription in route.index:
            route.index.remove(subscription)
            self._counters[subscription.topic][4].dec()
        subscription.close()


def confirmation(
    subscription: TopicSubscription, snapshot: int, read: StoredRead
) -> bytes:
    return text_frame(
        protocol.encode(
            protocol.Subscribed(
                topic=subscription.topic,
                scopes=as_lists(subscription.scopes),
                snapshot=snapshot,
                seq=read.position,
                recovered=read.recovered,
                id=subscription.frame_id,
            )
        )
    )
