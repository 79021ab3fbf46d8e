"""The Python client against a real edge: state, resume, backoff, close codes."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys

import aiohttp
import pytest

from bridge.client import AuthRequired, RealtimeClient
from bridge.closecodes import CloseCode
from bridge.natsserver import free_port
from bridge.reconnect import Backoff

from .follow import publish_steadily
from .support import mint_token, publish, session_token


def _url(edge) -> str:
    return f"ws://127.0.0.1:{edge.port}/realtime"


async def _until(predicate, seconds: float = 15.0) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_state_is_seeded_by_the_snapshot_and_kept_by_live_events(
    edge, producer, prefix
):
    for n in range(3):
        await publish(producer, prefix, f"tunnel.status.t{n}", {"v": 0})
    async with RealtimeClient(_url(edge), await mint_token(edge)) as client:
        await _until(lambda: client.status == "connected")
        await client.subscribe("tunnel.status")
        await _until(lambda: len(client.state.get("tunnel.status", {})) == 3)
        await publish(producer, prefix, "tunnel.status.t1", {"v": 1})
        state = client.state["tunnel.status"]
        await _until(lambda: state["tunnel.status.t1"]["data"] == {"v": 1})
        assert {s: e["data"]["v"] for s, e in state.items()} == {
            "tunnel.status.t0": 0,
            "tunnel.status.t1": 1,
            "tunnel.status.t2": 0,
        }


async def test_restarting_the_edge_loses_and_repeats_nothing(
    make_edge, nats_url, prefix
):
    port = str(free_port())
    first = await make_edge(REALTIME_PORT=port)
    token = await mint_token(first)
    seen: list[int] = []
    client = RealtimeClient(_url(first), token, backoff=Backoff(base=0.05, cap=0.5))
    async with client:
        await client.subscribe("capture.activity")
        await _until(lambda: "capture.activity" in client._position)

        async def collect() -> None:
            async for frame in client:
                if frame["op"] == "event":
                    seen.append(frame["seq"])

        collecting = asyncio.create_task(collect())
        publishing = asyncio.create_task(
            publish_steadily([nats_url], f"{prefix}.capture.activity.c1", 200, 3)
        )
        await asyncio.sleep(1)
        await first.stop()
        await make_edge(REALTIME_PORT=port)
        published = await publishing
        await _until(lambda: len(seen) >= len(published.seqs), 20)
        collecting.cancel()
    assert seen == published.seqs
    # 1001 from the stopped edge, then perhaps refused tries until the new one
    # listened (no close code) and 1013 until it was linked to NATS.
    assert client.close_codes[0] == CloseCode.GOING_AWAY
    assert set(client.close_codes[1:]) <= {None, CloseCode.TRY_AGAIN_LATER}
    assert client.connects == 2 + client.close_codes.count(CloseCode.TRY_AGAIN_LATER)


async def test_backs_off_while_the_edge_is_away_then_comes_back(make_edge, prefix):
    port = str(free_port())
    edge = await make_edge(REALTIME_PORT=port)
    token = await mint_token(edge)
    client = RealtimeClient(_url(edge), token, backoff=Backoff(base=0.05, cap=0.4))
    async with client:
        await client.subscribe("payload.list")
        await _until(lambda: client.connects == 1 and client.status == "connected")
        await edge.stop()
        await _until(lambda: client.backoff.attempt >= 3)
        assert client.status in ("reconnecting", "connecting")
        assert None in client.close_codes  # refused connects count as no close
        await make_edge(REALTIME_PORT=port)
        # Perhaps after a 1013 from the new edge while it linked to NATS.
        await _until(lambda: client.status == "connected" and client.connects >= 2)
        await _until(lambda: client.backoff.attempt == 0)


async def test_a_refused_token_stops_the_client(edge):
    client = RealtimeClient(_url(edge), "rt_not-a-token")
    with pytest.raises(AuthRequired):
        await asyncio.wait_for(client.run(), 10)
    assert client.status == "unauthorized"
    assert client.connects == 1
    assert client.close_codes == [CloseCode.UNAUTHORIZED]


async def test_a_revoked_session_ends_the_event_stream(make_edge):
    edge = await make_edge(REALTIME_API_KEYS="client-key")
    token = await session_token(edge, "client-key")
    async with RealtimeClient(_url(edge), token) as client:
        await client.subscribe("payload.list")
        await _until(lambda: "payload.list" in client._position)
        async with (
            aiohttp.ClientSession() as http,
            http.delete(
                f"http://127.0.0.1:{edge.port}/session",
                headers={"Authorization": f"Bearer {token}"},
            ) as answer,
        ):
            assert answer.status == 204
        with pytest.raises(AuthRequired):
            async with asyncio.timeout(5):
                async for _ in client:
                    pass


async def test_listen_prints_events_like_nats_sub(edge, nats_url, producer, prefix):
    token = await mint_token(edge)
    await publish(producer, prefix, "payload.list.p7", {"n": 7}, payloadId="p7")
    listen = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        "listen",
        "payload.list",
        "--scope",
        "payloadId=p7",
        "--url",
        _url(edge),
        "--token",
        token,
        stdout=asyncio.subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert listen.stdout is not None
        first = await asyncio.wait_for(listen.stdout.readline(), 15)
        assert first.decode().split() == ["1", "payload.list.p7", "snapshot", '{"n":7}']
        await publish(producer, prefix, "payload.list.p7", {"n": 8}, payloadId="p7")
        await publish(producer, prefix, "payload.list.p8", {"n": 9}, payloadId="p8")
        second = await asyncio.wait_for(listen.stdout.readline(), 15)
        assert second.decode().split() == ["2", "payload.list.p7", '{"n":8}']
    finally:
        listen.terminate()
        await listen.wait()


async def test_listen_stops_quietly_when_its_reader_goes_away(edge, producer, prefix):
    """``listen ... | head -1``: no traceback once head has what it wants."""
    token = await mint_token(edge)
    for n in range(3):
        await publish(
            producer, prefix, f"payload.list.p{n}", {"n": n}, payloadId=f"p{n}"
        )
    command = shlex.join(
        [
            sys.executable,
            "-m",
            "bridge",
            "listen",
            "payload.list",
            "--url",
            _url(edge),
            "--token",
            token,
        ]
    )
    pipeline = await asyncio.create_subprocess_shell(
        f"{command} | head -1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    reading = asyncio.create_task(pipeline.communicate())
    await asyncio.sleep(1.5)
    # The next events hit the closed pipe.
    await publish(producer, prefix, "payload.list.p0", {"n": 9}, payloadId="p0")
    await publish(producer, prefix, "payload.list.p1", {"n": 9}, payloadId="p1")
    out, err = await asyncio.wait_for(reading, 15)
    assert out.decode().startswith("1 payload.list.p0 snapshot")
    assert b"Traceback" not in err
