"""Snapshots and ordering (SPEC section 6, guarantees 1 to 4, one server)."""

from __future__ import annotations

import asyncio

from .support import publish, stored


async def test_snapshot_precedes_live_events(edge, producer, connect, prefix):
    for n in range(3):
        await publish(
            producer, prefix, f"payload.list.p{n}", {"n": n}, payloadId=f"p{n}"
        )
    await stored(producer, prefix, "payload.list", 3)
    client = await connect(edge)

    (confirmed,) = await client.subscribe("payload.list", id="s1")
    assert confirmed["snapshot"] == 3
    assert confirmed["seq"] == 3
    assert confirmed["recovered"] is False
    assert confirmed["id"] == "s1"
    snapshot = await client.events(3)
    assert [e["snapshot"] for e in snapshot] == [True, True, True]
    assert [e["seq"] for e in snapshot] == [1, 2, 3]
    assert snapshot[0]["subject"] == "payload.list.p0"
    assert snapshot[0]["meta"] == {"payloadId": "p0"}
    assert snapshot[0]["data"] == {"n": 0}

    await publish(producer, prefix, "payload.list.p1", {"n": 11}, payloadId="p1")
    (live,) = await client.events(1)
    assert live["snapshot"] is False
    assert live["seq"] == 4
    assert live["data"] == {"n": 11}


async def test_snapshot_holds_the_latest_message_of_each_subject(
    edge, producer, connect, prefix
):
    for version in range(5):
        for n in range(2):
            await publish(producer, prefix, f"tunnel.status.t{n}", {"v": version})
    await stored(producer, prefix, "tunnel.status", 10)
    client = await connect(edge)

    (confirmed,) = await client.subscribe("tunnel.status")
    assert confirmed["snapshot"] == 2
    snapshot = await client.events(2)
    assert {e["subject"]: e["data"]["v"] for e in snapshot} == {
        "tunnel.status.t0": 4,
        "tunnel.status.t1": 4,
    }
    assert [e["seq"] for e in snapshot] == [9, 10]
    assert await client.quiet() == []


async def test_scoped_snapshot_only_holds_matching_subjects(
    edge, producer, connect, prefix
):
    for n in range(4):
        await publish(
            producer, prefix, f"payload.list.p{n}", {"n": n}, payloadId=f"p{n}"
        )
    await stored(producer, prefix, "payload.list", 4)
    client = await connect(edge)

    (confirmed,) = await client.subscribe(
        "payload.list", scopes={"payloadId": ["p1", "p3"]}
    )
    assert confirmed["scopes"] == {"payloadId": ["p1", "p3"]}
    assert confirmed["snapshot"] == 2
    assert [e["meta"]["payloadId"] for e in await client.events(2)] == ["p1", "p3"]


async def test_topic_without_snapshot_sends_only_live_events(
    edge, producer, connect, prefix
):
    await publish(producer, prefix, "capture.activity.c1", {"old": True})
    await stored(producer, prefix, "capture.activity", 1)
    client = await connect(edge)

    (confirmed,) = await client.subscribe("capture.activity")
    assert confirmed["snapshot"] == 0
    assert confirmed["seq"] == 1
    await publish(producer, prefix, "capture.activity.c1", {"old": False})
    (event,) = await client.events(1)
    assert event["data"] == {"old": False}
    assert event["seq"] == 2
    assert event["snapshot"] is False


async def test_empty_snapshot_topic_confirms_zero(edge, connect):
    client = await connect(edge)
    (confirmed,) = await client.subscribe("scanner.jobs")
    assert confirmed["snapshot"] == 0
    assert confirmed["seq"] == 0


async def test_no_gap_duplicate_or_stale_event_while_producers_publish_at_full_speed(
    edge, producer, connect, prefix
):
    """Clients subscribe one after another while a producer floods the topic.
    For each: subscribed first, snapshot next, then every later message exactly
    once, in order, and never an older version of a subject than it has."""
    total, subjects = 6000, 40
    clients = [await connect(edge) for _ in range(6)]

    async def flood() -> None:
        for i in range(total):
            n = i % subjects
            await publish(
                producer, prefix, f"payload.list.p{n}", {"i": i}, payloadId=f"p{n}"
            )
            if i % 50 == 0:
                # Bursts of 50 with a breath between them stretch the flood
                # over the subscribes without slowing the bursts themselves.
                await asyncio.sleep(0.004)
        await producer.flush()

    async def late_subscribe(client, delay):
        await asyncio.sleep(delay)
        await client.send(op="subscribe", topics=["payload.list"])

    flooding = asyncio.create_task(flood())
    await asyncio.gather(*(late_subscribe(c, 0.08 * k) for k, c in enumerate(clients)))
    await flooding
    await stored(producer, prefix, "payload.list", total)

    positions: list[int] = []
    for client in clients:
        confirmed = await client.expect("subscribed")
        position = confirmed["seq"]
        positions.append(position)
        snapshot = await client.events(confirmed["snapshot"])
        assert all(e["snapshot"] for e in snapshot)
        assert all(e["seq"] <= position for e in snapshot)
        live = await client.events(total - position, timeout=30)
        assert all(not e["snapshot"] for e in live)

        # Single producer, single connection: message i is stored at seq i + 1.
        assert [e["seq"] for e in live] == list(range(position + 1, total + 1))
        assert all(e["data"]["i"] == e["seq"] - 1 for e in snapshot + live)
        seqs = [e["seq"] for e in snapshot + live]
        assert seqs == sorted(set(seqs))
        newest: dict[str, int] = {}
        for event in snapshot + live:
            assert event["seq"] > newest.get(event["subject"], 0)
            newest[event["subject"]] = event["seq"]
        # The snapshot is the state at `position`: one event per subject seen.
        if position:
            assert len(snapshot) == min(subjects, position)
    # The test means something only if most subscribes landed mid-flood.
    assert sum(0 < p < total for p in positions) >= 4, positions
