"""A client that stops reading is dropped with 4509; nobody else waits for it."""

from __future__ import annotations

import asyncio

from bridge.closecodes import CloseCode

from .rawws import RawWebSocket
from .support import mint_token, publish


async def test_stalled_client_is_closed_4509_while_a_fast_one_gets_everything(
    make_edge, connect, producer, prefix
):
    edge = await make_edge()
    fast = await connect(edge)
    await fast.subscribe("capture.activity")
    stalled = await RawWebSocket.open(
        edge.port, f"/realtime?token={await mint_token(edge)}"
    )
    await stalled.send_json({"op": "subscribe", "topics": ["capture.activity"]})
    _, confirmed = await stalled.read_frame()
    assert b'"subscribed"' in confirmed
    # From here on the stalled client reads nothing; the fast one reads all along.
    total, blob = 3000, "x" * 4000
    reading = asyncio.create_task(fast.events(total, timeout=30))

    # 12 MB, enough to fill the loopback socket buffers and then the send queue,
    # at about 4 MB/s so that a client which reads keeps up.
    for i in range(total):
        await publish(producer, prefix, "capture.activity.c1", {"i": i, "blob": blob})
        if i % 20 == 0:
            await asyncio.sleep(0.02)
    await producer.flush()

    received = await reading
    assert [e["data"]["i"] for e in received] == list(range(total))

    frames, code = await stalled.read_until_close()
    stalled.close()
    assert code == CloseCode.SLOW_CONSUMER
    events = [f for f in frames if f["op"] == "event"]
    assert 0 < len(events) < total
    # What it did get came in order, without a gap before the drop.
    assert [e["data"]["i"] for e in events] == list(range(len(events)))
    assert edge.metrics.slow_consumers.labels().value == 1
