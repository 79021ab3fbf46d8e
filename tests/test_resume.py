"""Resume with ``since`` (SPEC section 6, guarantee 5)."""

from __future__ import annotations

from .support import publish, stored


async def _fill(producer, prefix, topic: str, count: int, subjects: int = 1) -> None:
    for i in range(count):
        entity = f"e{i % subjects}"
        await publish(producer, prefix, f"{topic}.{entity}", {"i": i}, captureId=entity)
    await stored(producer, prefix, topic, count)


async def test_resume_replays_every_message_after_since_then_goes_live(
    edge, connect, producer, prefix
):
    await _fill(producer, prefix, "capture.activity", 5)
    client = await connect(edge)
    (confirmed,) = await client.subscribe(
        "capture.activity", since={"capture.activity": 2}
    )
    assert confirmed["recovered"] is True
    assert confirmed["snapshot"] == 0
    assert confirmed["seq"] == 5
    replayed = await client.events(3)
    assert [e["seq"] for e in replayed] == [3, 4, 5]
    assert not any(e["snapshot"] for e in replayed)

    await publish(producer, prefix, "capture.activity.e0", {"i": 5})
    (live,) = await client.events(1)
    assert live["seq"] == 6
    assert await client.quiet() == []


async def test_resume_on_a_snapshot_topic_replays_the_latest_per_subject(
    edge, connect, producer, prefix
):
    for round_ in range(3):
        for n in range(3):
            await publish(producer, prefix, f"tunnel.status.t{n}", {"r": round_})
    await stored(producer, prefix, "tunnel.status", 9)
    client = await connect(edge)

    (confirmed,) = await client.subscribe("tunnel.status", since={"tunnel.status": 5})
    assert confirmed["recovered"] is True
    replayed = await client.events(3)
    # Seq 6 is t2 of round 1; t0 and t1 changed again at 7 and 8, t2 at 9.
    assert [e["seq"] for e in replayed] == [7, 8, 9]
    assert await client.quiet() == []


async def test_resume_with_scopes_replays_only_matching_messages(
    edge, connect, producer, prefix
):
    await _fill(producer, prefix, "capture.activity", 6, subjects=2)
    client = await connect(edge)
    (confirmed,) = await client.subscribe(
        "capture.activity",
        scopes={"captureId": "e1"},
        since={"capture.activity": 1},
    )
    assert confirmed["recovered"] is True
    assert [e["seq"] for e in await client.events(3)] == [2, 4, 6]


async def test_caught_up_client_resumes_with_nothing_to_replay(
    edge, connect, producer, prefix
):
    await _fill(producer, prefix, "payload.list", 3)
    client = await connect(edge)
    (confirmed,) = await client.subscribe("payload.list", since={"payload.list": 3})
    assert confirmed["recovered"] is True
    assert confirmed["seq"] == 3
    assert await client.quiet() == []


async def test_since_the_stream_no_longer_holds_gets_the_snapshot(
    edge, connect, producer, prefix
):
    await _fill(producer, prefix, "payload.list", 10, subjects=2)
    js = producer.jetstream()
    await js.purge_stream(f"{prefix}_payload_list", keep=2)
    client = await connect(edge)

    (confirmed,) = await client.subscribe("payload.list", since={"payload.list": 3})
    assert confirmed["recovered"] is False
    assert confirmed["snapshot"] == 2
    snapshot = await client.events(2)
    assert [e["seq"] for e in snapshot] == [9, 10]
    assert all(e["snapshot"] for e in snapshot)


async def test_since_beyond_the_stream_gets_the_snapshot(
    edge, connect, producer, prefix
):
    await _fill(producer, prefix, "payload.list", 2)
    client = await connect(edge)
    (confirmed,) = await client.subscribe("payload.list", since={"payload.list": 99})
    assert confirmed["recovered"] is False
    assert confirmed["snapshot"] == 1


async def test_since_only_applies_to_the_topics_it_names(
    edge, connect, producer, prefix
):
    await _fill(producer, prefix, "payload.list", 2)
    client = await connect(edge)
    confirmed = await client.subscribe(
        "payload.list", "tunnel.status", since={"tunnel.status": 0}
    )
    by_topic = {c["topic"]: c for c in confirmed}
    assert by_topic["payload.list"]["recovered"] is False
    assert by_topic["tunnel.status"]["recovered"] is True
