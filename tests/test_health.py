"""Health, readiness and a NATS outage (SPEC sections 4 and 5)."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from bridge.app import Edge
from bridge.closecodes import CloseCode

from .support import WsClient, edge_settings, http_get, mint_token, ws_url


async def _until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_health_and_readiness_answer_when_connected(edge):
    assert (await http_get(edge, "/healthz"))[0] == 200
    status, body = await http_get(edge, "/readyz")
    assert status == 200
    assert json.loads(body)["ready"] is True


async def test_outage_makes_readyz_503_and_subscribe_unavailable_then_recovers(
    nats_server, prefix
):
    edge = Edge(edge_settings(nats_server.url, prefix))
    await edge.start()
    try:
        await edge.wait_ready()
        client = await WsClient.open(edge, await mint_token(edge))
        await client.subscribe("payload.list")

        # 1. The server goes away: not ready, and a new subscribe says why.
        nats_server.stop()
        await _until(lambda: not edge.upstream.connected)
        status, body = await http_get(edge, "/readyz")
        assert status == 503
        assert "NATS" in json.loads(body)["reason"]
        await client.send(op="subscribe", topics=["tunnel.status"], id="t")
        await client.expect(
            "error", code="unavailable", topic="tunnel.status", id="t", timeout=15
        )
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(edge, "rt_any")) as refused,
        ):
            await refused.receive(timeout=5)
            assert refused.close_code == CloseCode.TRY_AGAIN_LATER

        # 2. It comes back on the same port: ready again, the client still open.
        nats_server.start()
        await _until(lambda: edge.ready)
        assert (await http_get(edge, "/readyz"))[0] == 200
        await client.subscribe("tunnel.status")
        await client.close()
    finally:
        await edge.stop()


async def test_edge_started_before_nats_becomes_ready_when_it_appears(
    nats_server, prefix
):
    nats_server.stop()
    edge = Edge(edge_settings(nats_server.url, prefix))
    await edge.start()
    try:
        assert (await http_get(edge, "/readyz"))[0] == 503
        assert (await http_get(edge, "/healthz"))[0] == 200
        nats_server.start()
        await asyncio.wait_for(edge.wait_ready(), 20)
        assert (await http_get(edge, "/readyz"))[0] == 200
    finally:
        await edge.stop()
