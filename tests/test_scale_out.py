"""Several edges, and several workers of one edge, side by side on one NATS."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import aiohttp
import nats
from prometheus_client.parser import text_string_to_metric_families

from bridge.http import wait_ready
from bridge.natsserver import free_port

from .support import WsClient, mint_token, publish, session_token


async def test_clients_spread_over_two_edges_receive_the_same_events(
    make_edge, producer, prefix
):
    edges = [await make_edge(), await make_edge()]
    token = await mint_token(edges[0])
    clients = [await WsClient.open(edges[n % 2], token) for n in range(6)]
    for client in clients:
        await client.subscribe("capture.activity")
    for i in range(50):
        await publish(producer, prefix, "capture.activity.c1", {"i": i})
    seen = [[e["seq"] for e in await c.events(50)] for c in clients]
    assert all(s == seen[0] for s in seen)
    assert seen[0] == sorted(set(seen[0]))
    for client in clients:
        await client.close()


def _serve(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _get(port: int, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}") as answer,
    ):
        return answer.status, await answer.text()


async def test_two_workers_share_the_port_and_one_scrape_counts_both(
    nats_url, prefix, tmp_path
):
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("REALTIME_", "NATS_"))
    }
    env.update(
        NATS_URL=nats_url,
        REALTIME_HOST="127.0.0.1",
        REALTIME_PORT=str(port),
        REALTIME_SUBJECT_PREFIX=prefix,
        REALTIME_WORKERS="2",
        REALTIME_API_KEYS="workers-key",
    )
    nc = await nats.connect(nats_url)
    connects = await nc.subscribe(f"{prefix}.log.event")
    server = _serve(env)
    clients: list[WsClient] = []
    try:
        await wait_ready(port, 30)
        # Both workers must be up before connections can spread over them.
        edges: set[str] = set()
        deadline = time.monotonic() + 30
        while len(edges) < 2 and time.monotonic() < deadline:
            status, body = await _get(port, "/readyz")
            if status == 200:
                edges.add(json.loads(body)["edge"])
        assert len(edges) == 2

        token = await session_token(port, "workers-key")
        clients = [await WsClient.open(port, token) for _ in range(12)]
        for client in clients:
            await client.subscribe("capture.activity")

        serving: set[str] = set()
        while True:
            try:
                msg = await connects.next_msg(timeout=1)
            except nats.errors.TimeoutError:
                break
            record = json.loads(msg.data)
            if record["kind"] == "connect":
                serving.add(record["edge"])
        assert serving == edges

        for i in range(20):
            await publish(nc, prefix, "capture.activity.c1", {"i": i})
        seen = [[e["data"]["i"] for e in await c.events(20)] for c in clients]
        assert all(s == list(range(20)) for s in seen)

        _, text = await _get(port, "/metrics")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        connections = families["realtime_connections"].samples[0].value
        assert connections == 12
        (events_out,) = [
            s
            for s in families["realtime_events_out"].samples
            if s.labels.get("topic") == "capture.activity" and s.name.endswith("_total")
        ]
        assert events_out.value == 12 * 20
    finally:
        for client in clients:
            await client.close()
        server.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(server.wait, 30)
        await nc.close()
    assert code == 0
