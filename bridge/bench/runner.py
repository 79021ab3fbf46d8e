"""``realtime-bridge bench``: the scenarios of SPEC section 9, side by side.

Everything runs on this machine in separate processes: one nats-server (with
its WebSocket listener when the peer is measured), the edge as ``serve``, the
client processes, and the producer here. Server CPU comes from each server
process's own accounting; the clients report theirs so that a reader can tell
whether they were the bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import aiohttp
import nats

from ..http import wait_ready
from ..natsserver import NatsServer, free_port
from . import clients
from .sysstat import usage

PREFIX = "bench"
API_KEY = "bench-key"
SCENARIOS = ("fanout", "scoped", "snapshot", "idle")


@dataclass
class Options:
    scenarios: list[str]
    targets: list[str]
    clients: int = 1000
    messages: int = 2000
    scoped_clients: int = 1000
    scoped_messages: int = 20000
    size: int = 256
    entities: int = 100
    idle: int = 10000
    processes: int = 2
    rate: float = 0.0
    """Messages per second for the producer; 0 publishes as fast as it can."""
    tracing: bool = False


# -- the servers ---------------------------------------------------------------------


@contextmanager
def servers(options: Options, root: Path) -> Iterator[dict[str, Any]]:
    nats_server = NatsServer(
        store_dir=root / "nats",
        name="bench-nats",
        websocket_port=free_port() if "nats-ws" in options.targets else None,
    )
    nats_server.start()
    nats_server.wait_ready()
    edge = None
    sink = None
    try:
        found: dict[str, Any] = {"nats": nats_server}
        if "bridge" in options.targets:
            env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
            if options.tracing:
                sink = _start_sink()
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink[1]}"
            port = free_port()
            env.update(
                NATS_URL=nats_server.url,
                REALTIME_HOST="127.0.0.1",
                REALTIME_PORT=str(port),
                REALTIME_SUBJECT_PREFIX=PREFIX,
                REALTIME_API_KEYS=API_KEY,
                REALTIME_IDLE_TIMEOUT="3600",
                REALTIME_LOG_LEVEL="WARNING",
            )
            edge = subprocess.Popen(
                [sys.executable, "-m", "bridge", "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=open(root / "edge.log", "wb"),  # noqa: SIM115
            )
            asyncio.run(wait_ready(port))
            found.update(edge=edge, edge_port=port, token=asyncio.run(_token(port)))
        yield found
    finally:
        if edge is not None:
            edge.terminate()
            edge.wait(30)
        if sink is not None:
            sink[0].terminate()
        nats_server.stop()


async def _token(port: int) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{port}/session",
            headers={"Authorization": f"Bearer {API_KEY}"},
            json={"subject": "bench"},
        ) as answer,
    ):
        return str((await answer.json())["token"])


def _sink_main(port: int) -> None:
    """An OTLP/HTTP endpoint that takes every export and keeps nothing."""
    from aiohttp import web

    async def take(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", take)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _start_sink() -> tuple[Any, int]:
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_sink_main, args=(port,), daemon=True
    )
    process.start()
    time.sleep(0.5)
    return process, port


# -- clients and producer ------------------------------------------------------------


class ClientGroup:
    """The client processes of one scenario run."""

    def __init__(self, plans: list[clients.Plan]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.processes = []
        for plan in plans:
            ours, theirs = context.Pipe()
            process = context.Process(target=clients.main, args=(plan, theirs))
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)
        for pipe in self.pipes:
            assert pipe.recv()[0] == "up"

    def go(self) -> float:
        started = time.monotonic()
        for pipe in self.pipes:
            pipe.send("go")
        return started

    def wait(self, kind: str, timeout: float = 600) -> list[Any]:
        found = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise RuntimeError(f"a client process sent no {kind}")
            message = pipe.recv()
            assert message[0] == kind, message
            found.append(message[1])
        return found

    def tell(self, message: str) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    def close(self) -> None:
        self.tell("bye")
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.kill()


def _plans(
    options: Options,
    target: str,
    found: dict[str, Any],
    count: int,
    subscribe: dict[str, Any],
    expect: int,
) -> list[clients.Plan]:
    if target == "bridge":
        port, path = found["edge_port"], f"/realtime?token={found['token']}"
    else:
        nats_server = found["nats"]
        port, path = nats_server.websocket_port, "/"
    per = [count // options.processes] * options.processes
    per[0] += count - sum(per)
    plans, first = [], 0
    for n in per:
        plans.append(clients.Plan(target, port, path, n, first, subscribe, expect))
        first += n
    return plans


def _payload(i: int, size: int) -> bytes:
    head = f'{{"t":{time.monotonic_ns()},"i":{i},"pad":"'
    pad = max(0, size - len(head) - 2)
    return (head + "x" * pad + '"}').encode()


async def _produce(
    url: str, subjects: list[str], scope: str | None, count: int, options: Options
) -> float:
    """Publish ``count`` messages round-robin over ``subjects``; the seconds taken."""
    nc = await nats.connect(url, pending_size=64 * 1024 * 1024)
    started = time.monotonic()
    try:
        for i in range(count):
            subject = subjects[i % len(subjects)]
            headers = {scope: subject.rsplit(".", 1)[1]} if scope else None
            await nc.publish(subject, _payload(i, options.size), headers=headers)
            if options.rate:
                due = started + (i + 1) / options.rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif i % 500 == 0:
                await asyncio.sleep(0)
        await nc.flush()
    finally:
        await nc.close()
    return time.monotonic() - started


# -- scenarios -----------------------------------------------------------------------


def _server_pid(target: str, found: dict[str, Any]) -> int:
    process = found["edge"] if target == "bridge" else found["nats"].process
    return int(process.pid)


def _result(
    scenario: str,
    target: str,
    count: int,
    messages: int,
    expected: int,
    results: list[dict[str, Any]],
    wall: float,
    cpu_s: float,
    rss_kb: int,
    nats_cpu_s: float | None,
) -> dict[str, Any]:
    received = sum(sum(r["received"]) for r in results)
    delays: list[float] = sorted(d for r in results for d in r["delays"])
    deliveries = received

    def quantile(q: float) -> float | None:
        if not delays:
            return None
        return round(float(delays[min(len(delays) - 1, int(len(delays) * q))]), 3)

    row: dict[str, Any] = {
        "scenario": scenario,
        "target": target,
        "clients": count,
        "messages": messages,
        "deliveries": deliveries,
        "deliveries_per_s": round(deliveries / wall) if wall > 0 else 0,
        "p50_ms": quantile(0.5),
        "p99_ms": quantile(0.99),
        "lost": max(0, expected - received),
        "out_of_order": sum(r["out_of_order"] for r in results),
        "closed": sum(len(r["closed"]) for r in results),
        "server_cpu_us_per_delivery": round(cpu_s * 1e6 / deliveries, 3)
        if deliveries
        else None,
        "server_rss_kb_per_connection": round(rss_kb / count, 2) if count else None,
        "client_cpu_s": [round(r["cpu_s"], 2) for r in results],
        "seconds": round(wall, 3),
    }
    if nats_cpu_s is not None and deliveries:
        row["nats_cpu_us_per_delivery"] = round(nats_cpu_s * 1e6 / deliveries, 3)
    return row


def run_stream_scenario(
    scenario: str, target: str, options: Options, found: dict[str, Any]
) -> dict[str, Any]:
    """``fanout`` (everyone gets everything) or ``scoped`` (one client each)."""
    subscribe: dict[str, Any]
    if scenario == "fanout":
        count, messages = options.clients, options.messages
        subjects = [f"{PREFIX}.capture.activity.c1"]
        if target == "bridge":
            subscribe = {"op": "subscribe", "topics": ["capture.activity"]}
        else:
            subscribe = {"subject": f"{PREFIX}.capture.activity.>"}
        per_client, scope = messages, None
    else:
        count, messages = options.scoped_clients, options.scoped_messages
        subjects = [f"{PREFIX}.capture.activity.id{i}" for i in range(count)]
        if target == "bridge":
            subscribe = {
                "op": "subscribe",
                "topics": ["capture.activity"],
                "scopes": {"captureId": "id{i}"},
            }
        else:
            subscribe = {"subject": f"{PREFIX}.capture.activity.id{{i}}"}
        per_client, scope = messages // count, "captureId"
        messages = per_client * count

    pid = _server_pid(target, found)
    nats_pid = found["nats"].process.pid
    before = usage(pid)
    group = ClientGroup(_plans(options, target, found, count, subscribe, per_client))
    try:
        group.go()
        group.wait("ready")
        connected = usage(pid)
        nats_before = usage(nats_pid)
        started = time.monotonic()
        asyncio.run(_produce(found["nats"].url, subjects, scope, messages, options))
        group.tell("published")
        results = group.wait("result")
        finished = max(max(r["done_at"], default=0.0) for r in results)
        after = usage(pid)
        nats_after = usage(nats_pid)
    finally:
        group.close()
    wall = max(finished, started) - started
    return _result(
        scenario,
        target,
        count,
        messages,
        per_client * count,
        results,
        wall,
        after.cpu_s - connected.cpu_s,
        connected.rss_kb - before.rss_kb,
        nats_after.cpu_s - nats_before.cpu_s if target == "bridge" else None,
    )


def run_snapshot(options: Options, found: dict[str, Any]) -> dict[str, Any]:
    """C clients subscribe at once to a topic holding K entities."""
    subjects = [f"{PREFIX}.payload.list.e{i}" for i in range(options.entities)]
    asyncio.run(
        _produce(found["nats"].url, subjects, "payloadId", len(subjects), options)
    )
    time.sleep(0.5)
    subscribe = {"op": "subscribe", "topics": ["payload.list"]}
    pid = _server_pid("bridge", found)
    before = usage(pid)
    group = ClientGroup(
        _plans(options, "bridge", found, options.clients, subscribe, -1)
    )
    try:
        started = group.go()
        group.wait("ready")
        results = group.wait("result")
        after = usage(pid)
    finally:
        group.close()
    done = sorted(t - started for r in results for t in r["done_at"] if t)
    row = _result(
        "snapshot",
        "bridge",
        options.clients,
        options.entities,
        options.clients * options.entities,
        results,
        (done[-1] if done else 0.0),
        after.cpu_s - before.cpu_s,
        after.rss_kb - before.rss_kb,
        None,
    )
    # Here the latencies are per client: from the start to its last snapshot event.
    row["p50_ms"] = round(statistics.median(done) * 1000, 1) if done else None
    row["p99_ms"] = round(done[int(len(done) * 0.99) - 1] * 1000, 1) if done else None
    row["complete_s"] = round(done[-1], 3) if done else None
    return row


def run_idle(target: str, options: Options, found: dict[str, Any]) -> dict[str, Any]:
    """N idle connections (authenticated, one subscription each); memory each."""
    if target == "bridge":
        subscribe = {"op": "subscribe", "topics": ["tunnel.status"]}
    else:
        subscribe = {"subject": f"{PREFIX}.tunnel.status.>"}
    pid = _server_pid(target, found)
    before = usage(pid)
    group = ClientGroup(_plans(options, target, found, options.idle, subscribe, 0))
    try:
        group.go()
        group.wait("ready")
        time.sleep(1.0)
        held = usage(pid)
        group.tell("stop")
        results = group.wait("result")
    finally:
        group.close()
    row = _result(
        "idle",
        target,
        options.idle,
        0,
        0,
        results,
        0.0,
        held.cpu_s - before.cpu_s,
        held.rss_kb - before.rss_kb,
        None,
    )
    row["server_rss_kb"] = held.rss_kb
    return row


def run(options: Options) -> Iterator[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="realtime-bench-"))
    try:
        with servers(options, root) as found:
            for scenario in options.scenarios:
                for target in options.targets:
                    if scenario == "snapshot" and target != "bridge":
                        # nats-server's WebSocket listener has no snapshot to
                        # compare with: plain NATS keeps no state per subject.
                        continue
                    if scenario in ("fanout", "scoped"):
                        yield run_stream_scenario(scenario, target, options, found)
                    elif scenario == "snapshot":
                        yield run_snapshot(options, found)
                    else:
                        yield run_idle(target, options, found)
    finally:
        shutil.rmtree(root, ignore_errors=True)


COLUMNS = (
    ("scenario", 9),
    ("target", 8),
    ("clients", 8),
    ("messages", 9),
    ("deliveries_per_s", 18),
    ("p50_ms", 10),
    ("p99_ms", 10),
    ("lost", 7),
    ("server_cpu_us_per_delivery", 27),
    ("server_rss_kb_per_connection", 29),
    ("client_cpu_s", 14),
)


def table_header() -> str:
    return "".join(name.ljust(width) for name, width in COLUMNS)


def table_row(row: dict[str, Any]) -> str:
    cells = []
    for name, width in COLUMNS:
        value = row.get(name)
        text = (
            "-"
            if value is None
            else json.dumps(value)
            if isinstance(value, list)
            else str(value)
        )
        # A cell always ends in a space, even when the value is wider.
        cells.append(text.ljust(width - 1) + " ")
    return "".join(cells)
