"""A client that stops reading is dropped with 4509; nobody else waits for it."""

from __future__ import annotations

import asyncio
import time

from bridge.closecodes import CloseCode

from .rawws import RawWebSocket
from .support import mint_token, publish


async def _drop_time(edge) -> float:
    """When the edge dropped its first slow consumer (polled)."""
    while edge.metrics.slow_consumers.labels().value == 0:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    return time.monotonic()


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
    watching = asyncio.create_task(_drop_time(edge))

    # 12 MB, enough to fill the loopback socket buffers and then the send queue,
    # at about 4 MB/s so that a client which reads keeps up.
    sent_at: list[float] = []
    for i in range(total):
        sent_at.append(time.monotonic())
        await publish(producer, prefix, "capture.activity.c1", {"i": i, "blob": blob})
        if i % 20 == 0:
            await asyncio.sleep(0.02)
    await producer.flush()

    received = await reading
    assert [e["data"]["i"] for e in received] == list(range(total))
    # Figures for the record, not a check (timing depends on the machine): the
    # fast client's delay while the stalled one was attached, and after.
    delays = [arrived - sent_at[i] for i, arrived in enumerate(fast.arrivals[-total:])]
    dropped = await watching
    cut = sum(t < dropped for t in sent_at)
    before, after = sorted(delays[:cut]), sorted(delays[cut:])
    for name, part in (("with the stalled peer", before), ("after its drop", after)):
        if part:
            print(
                f"fast client {name}: {len(part)} events, p50 "
                f"{part[len(part) // 2] * 1000:.1f} ms, p99 "
                f"{part[int(len(part) * 0.99)] * 1000:.1f} ms"
            )

    frames, code = await stalled.read_until_close()
    stalled.close()
    assert code == CloseCode.SLOW_CONSUMER
    events = [f for f in frames if f["op"] == "event"]
    assert 0 < len(events) < total
    # What it did get came in order, without a gap before the drop.
    assert [e["data"]["i"] for e in events] == list(range(len(events)))
    assert edge.metrics.slow_consumers.labels().value == 1
