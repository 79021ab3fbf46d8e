"""GET /metrics after real traffic, read with a Prometheus text parser."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from .support import WsClient, http_get, mint_token, publish, ws_url


async def _scrape(edge) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = await http_get(edge, "/metrics")
    assert status == 200
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _value(values, name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_move_by_what_the_traffic_did(edge, producer, prefix):
    before = await _scrape(edge)
    token = await mint_token(edge)
    everything = await WsClient.open(edge, token)
    scoped = await WsClient.open(edge, token)
    await everything.subscribe("payload.list", "capture.activity")
    await scoped.subscribe("payload.list", scopes={"payloadId": "p1"})

    for n in range(3):
        await publish(
            producer, prefix, f"payload.list.p{n}", {"n": n}, payloadId=f"p{n}"
        )
    await publish(producer, prefix, "capture.activity.c1", b"not json")
    await everything.events(3)
    await scoped.events(1)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(edge, "rt_bad")) as refused,
    ):
        await refused.receive(timeout=5)
    await scoped.close()
    await everything.send(op="ping")
    await everything.expect("pong")

    after = await _scrape(edge)

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert _value(after, "realtime_connections") == 1
    assert _value(after, "realtime_subscriptions", topic="payload.list") == 1
    assert _value(after, "realtime_subscriptions", topic="capture.activity") == 1
    assert moved("realtime_messages_in_total", topic="payload.list") == 3
    assert moved("realtime_events_out_total", topic="payload.list") == 4
    assert moved("realtime_events_filtered_total", topic="payload.list") == 2
    assert moved("realtime_messages_dropped_total", topic="capture.activity") == 1
    assert moved("realtime_auth_failures_total") == 1
    assert moved("realtime_disconnects_total", code="1000") == 1
    assert moved("realtime_fanout_seconds_count", topic="payload.list") == 3
    assert moved("realtime_snapshot_seconds_count", topic="payload.list") == 2
    assert _value(after, "realtime_edge_ready") == 1
    await everything.close()
