"""The hub: shared stream reads for subscriptions arriving together, live events
kept during the read and released after the snapshot, scoped routing, and what
happens when a read fails or a subscriber leaves. The stream is an in-memory
reader; nothing here touches the network."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from bridge import catalog
from bridge.delivery import StoredEvent, StoredRead, TopicSubscription
from bridge.events import Prepared, prepare
from bridge.fanout import Hub
from bridge.instruments import EdgeMetrics
from bridge.scopes import normalize
from tests.frames import unframe

CATALOG = catalog.load()
TOPIC = CATALOG["payload.list"]
TS_NS = 1_796_284_800_123_000_000


class FakeReader:
    """The stream: hands out ``reads`` in turn (the last one repeats), each held
    back until ``gate`` opens; counts how often it is asked."""

    def __init__(self, *reads: StoredRead, error: Exception | None = None) -> None:
        self.reads = list(reads) or [StoredRead(position=0, events=[])]
        self.error = error
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, topic: catalog.Topic, since: int | None) -> StoredRead:
        assert topic is TOPIC
        self.calls += 1
        self.since = since
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.reads[min(self.calls, len(self.reads)) - 1]


def event(seq: int, payload_id: str = "1", snapshot: bool = False) -> Prepared:
    payload = json.dumps({"payload_id": payload_id, "seq": seq}).encode()
    prepared = prepare(
        TOPIC,
        f"payload.list.{payload_id}",
        {"payloadId": payload_id, "traceparent": "00-ab-cd-01"},
        payload,
        seq,
        TS_NS,
        snapshot=snapshot,
    )
    assert prepared is not None
    return prepared


def stored(seq: int, payload_id: str = "1") -> StoredEvent:
    prepared = event(seq, payload_id, snapshot=True)
    return StoredEvent(seq, prepared.subject, prepared.meta, prepared.frame)


class Client:
    """One connection's subscription and everything sent to it."""

    def __init__(self, scopes: dict[str, str | list[str]] | None = None) -> None:
        self.sent: list[bytes] = []
        self.subscription = TopicSubscription(
            TOPIC.name, normalize(scopes, TOPIC.scope_keys), self.sent.append, "c1"
        )

    @property
    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(unframe(frame)) for frame in self.sent]

    @property
    def seen(self) -> list[tuple[str, int, bool]]:
        """(op, seq, snapshot) of each frame; ``subscribed`` shows its position."""
        return [(f["op"], f["seq"], f.get("snapshot") is True) for f in self.frames]


def hub_with(reader: FakeReader) -> tuple[Hub, EdgeMetrics]:
    metrics = EdgeMetrics()
    return Hub(CATALOG, reader, metrics), metrics


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


# -- the confirmation and the snapshot ---------------------------------------------


async def test_subscribe_sends_the_confirmation_then_the_snapshot() -> None:
    read = StoredRead(position=10, events=[stored(3, "1"), stored(8, "2")])
    hub, _ = hub_with(FakeReader(read))
    client = Client()
    assert await hub.subscribe(client.subscription) is read
    confirmation, *snapshot = client.frames
    assert confirmation == {
        "op": "subscribed",
        "topic": "payload.list",
        "scopes": {},
        "snapshot": 2,
        "seq": 10,
        "recovered": False,
        "id": "c1",
    }
    assert [(f["op"], f["seq"], f["snapshot"]) for f in snapshot] == [
        ("event", 3, True),
        ("event", 8, True),
    ]
    assert hub.subscribers(TOPIC.name) == 1


async def test_a_scoped_subscription_gets_only_its_part_of_the_snapshot() -> None:
    read = StoredRead(position=10, events=[stored(3, "1"), stored(8, "2")])
    hub, _ = hub_with(FakeReader(read))
    client = Client({"payloadId": "2"})
    await hub.subscribe(client.subscription)
    confirmation, *snapshot = client.frames
    assert confirmation["scopes"] == {"payloadId": ["2"]}
    assert confirmation["snapshot"] == 1
    assert [f["seq"] for f in snapshot] == [8]


# -- shared reads -----------------------------------------------------------------


async def test_simultaneous_subscribes_share_one_read() -> None:
    reader = FakeReader(StoredRead(position=10, events=[stored(4)]))
    hub, _ = hub_with(reader)
    clients = [Client() for _ in range(100)]
    await asyncio.gather(*(hub.subscribe(c.subscription) for c in clients))
    assert reader.calls == 1
    assert all(
        c.seen == [("subscribed", 10, False), ("event", 4, True)] for c in clients
    )


async def test_subscribes_arriving_during_a_read_share_the_next_read() -> None:
    first = StoredRead(position=10, events=[])
    second = StoredRead(position=20, events=[stored(15)])
    reader = FakeReader(first, second)
    reader.gate.clear()
    hub, _ = hub_with(reader)

    early = Client()
    early_task = asyncio.create_task(hub.subscribe(early.subscription))
    await until(lambda: reader.calls == 1)

    late = [Client() for _ in range(100)]
    late_tasks = [asyncio.create_task(hub.subscribe(c.subscription)) for c in late]
    await asyncio.sleep(0)
    assert reader.calls == 1
    reader.gate.set()
    await asyncio.gather(early_task, *late_tasks)

    assert reader.calls == 2
    assert early.seen == [("subscribed", 10, False)]
    # Read after they registered, so the snapshot covers what they might have
    # missed while the first read was under way.
    assert all(c.seen == [("subscribed", 20, False), ("event", 15, True)] for c in late)
    assert hub.subscribers(TOPIC.name) == 101


# -- live events and the read ------------------------------------------------------


async def test_a_live_event_delivered_during_the_read_follows_the_snapshot() -> None:
    reader = FakeReader(StoredRead(position=10, events=[stored(8, "2")]))
    reader.gate.clear()
    hub, _ = hub_with(reader)
    client = Client()
    task = asyncio.create_task(hub.subscribe(client.subscription))
    await until(lambda: reader.calls == 1)

    # 9 is older than the read's position, so the snapshot already reflects it.
    assert hub.deliver(TOPIC, event(9, "1"))[0] == 1
    assert hub.deliver(TOPIC, event(11, "1"))[0] == 1
    assert client.sent == []

    reader.gate.set()
    await task
    assert client.seen == [
        ("subscribed", 10, False),
        ("event", 8, True),
        ("event", 11, False),
    ]


async def test_live_events_after_going_live_arrive_in_order_without_repeats() -> None:
    hub, _ = hub_with(FakeReader(StoredRead(position=10, events=[])))
    client = Client()
    await hub.subscribe(client.subscription)
    for seq in (11, 11, 10, 13, 12, 14):
        hub.deliver(TOPIC, event(seq))
    assert client.seen == [
        ("subscribed", 10, False),
        ("event", 11, False),
        ("event", 13, False),
        ("event", 14, False),
    ]


async def test_deliver_counts_recipients_and_scoped_ones_get_only_matches() -> None:
    hub, metrics = hub_with(FakeReader(StoredRead(position=10, events=[])))
    everyone = Client()
    only_one = Client({"payloadId": "1"})
    two_or_three = Client({"payloadId": ["2", "3"]})
    for client in (everyone, only_one, two_or_three):
        await hub.subscribe(client.subscription)

    assert hub.deliver(TOPIC, event(11, "1")) == (2, 1)
    assert hub.deliver(TOPIC, event(12, "3")) == (2, 1)
    assert hub.deliver(TOPIC, event(13, "9")) == (1, 2)

    def live_seqs(client: Client) -> list[int]:
        return [f["seq"] for f in client.frames if f["op"] == "event"]

    assert live_seqs(everyone) == [11, 12, 13]
    assert live_seqs(only_one) == [11]
    assert live_seqs(two_or_three) == [12]
    assert metrics.messages_in.labels(topic=TOPIC.name).value == 3
    assert metrics.events_out.labels(topic=TOPIC.name).value == 5
    assert metrics.filtered_out.labels(topic=TOPIC.name).value == 4


async def test_deliver_without_subscriptions_reaches_nobody() -> None:
    hub, _ = hub_with(FakeReader())
    assert hub.deliver(TOPIC, event(1))[0] == 0
    assert hub.deliver(CATALOG["tunnel.status"], _tunnel_event())[0] == 0


def _tunnel_event() -> Prepared:
    topic = CATALOG["tunnel.status"]
    prepared = prepare(topic, "tunnel.status.t1", {"tunnelId": "t1"}, b"{}", 1, TS_NS)
    assert prepared is not None
    return prepared


# -- leaving and failing -----------------------------------------------------------


async def test_an_unsubscribe_during_the_read_means_nothing_is_sent() -> None:
    reader = FakeReader(StoredRead(position=10, events=[stored(8)]))
    reader.gate.clear()
    hub, metrics = hub_with(reader)
    client = Client()
    task = asyncio.create_task(hub.subscribe(client.subscription))
    await until(lambda: reader.calls == 1)

    hub.unsubscribe(client.subscription)
    assert hub.deliver(TOPIC, event(11))[0] == 0
    reader.gate.set()
    await task

    assert client.sent == []
    assert hub.subscribers(TOPIC.name) == 0
    assert metrics.subscriptions.labels(topic=TOPIC.name).value == 0


async def test_unsubscribing_a_live_subscription_stops_its_events() -> None:
    hub, metrics = hub_with(FakeReader(StoredRead(position=10, events=[])))
    client = Client()
    await hub.subscribe(client.subscription)
    assert metrics.subscriptions.labels(topic=TOPIC.name).value == 1
    hub.unsubscribe(client.subscription)
    hub.unsubscribe(client.subscription)
    assert hub.deliver(TOPIC, event(11))[0] == 0
    assert client.seen == [("subscribed", 10, False)]
    assert metrics.subscriptions.labels(topic=TOPIC.name).value == 0


async def test_a_reader_error_reaches_every_waiter_and_removes_them() -> None:
    failure = RuntimeError("stream unavailable")
    reader = FakeReader(error=failure)
    reader.gate.clear()
    hub, metrics = hub_with(reader)
    clients = [Client() for _ in range(5)]
    tasks = [asyncio.create_task(hub.subscribe(c.subscription)) for c in clients]
    await until(lambda: reader.calls == 1)
    assert hub.deliver(TOPIC, event(11))[0] == 5

    reader.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)

    assert results == [failure] * 5
    assert all(result is failure for result in results)
    assert reader.calls == 1
    assert hub.subscribers(TOPIC.name) == 0
    assert metrics.subscriptions.labels(topic=TOPIC.name).value == 0
    assert all(c.sent == [] for c in clients)
    assert hub.deliver(TOPIC, event(12))[0] == 0


async def test_a_subscribe_after_a_failed_read_gets_a_fresh_read() -> None:
    reader = FakeReader(error=RuntimeError("stream unavailable"))
    hub, _ = hub_with(reader)
    with pytest.raises(RuntimeError):
        await hub.subscribe(Client().subscription)

    reader.error = None
    reader.reads = [StoredRead(position=30, events=[])]
    client = Client()
    await hub.subscribe(client.subscription)
    assert reader.calls == 2
    assert client.seen == [("subscribed", 30, False)]


async def test_cancelling_one_waiter_leaves_the_others_sharing_its_read() -> None:
    reader = FakeReader(StoredRead(position=10, events=[stored(8)]))
    reader.gate.clear()
    hub, _ = hub_with(reader)
    leaving, staying = Client(), Client()
    leaving_task = asyncio.create_task(hub.subscribe(leaving.subscription))
    staying_task = asyncio.create_task(hub.subscribe(staying.subscription))
    await until(lambda: reader.calls == 1)

    leaving_task.cancel()
    await asyncio.gather(leaving_task, return_exceptions=True)
    reader.gate.set()
    # Let the read task finish before the test ends, whatever the outcome.
    await asyncio.gather(staying_task, return_exceptions=True)
    await asyncio.sleep(0)

    assert not staying_task.cancelled()
    assert staying.seen == [("subscribed", 10, False), ("event", 8, True)]
    assert hub.subscribers(TOPIC.name) == 1
