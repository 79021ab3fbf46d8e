"""The session API and the session lifecycle, across two edges (SPEC section 4)."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import nats
import pytest

from bridge.closecodes import CloseCode

from .support import WsClient, ws_url

KEY = "test-api-key-0123456789"


async def _call(edge, method: str, body=None, bearer: str | None = None):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method,
            f"http://127.0.0.1:{edge.port}/session",
            data=data,
            headers=headers,
        ) as answer,
    ):
        text = await answer.text()
        return answer.status, (json.loads(text) if text else None)


async def _create(edge, **body) -> str:
    status, answer = await _call(edge, "POST", body, bearer=KEY)
    assert status == 201, answer
    return answer["token"]


async def _refused(edge, token: str) -> int | None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(edge, token)) as ws,
    ):
        await ws.receive(timeout=5)
        return ws.close_code


@pytest.fixture
async def two_edges(make_edge):
    return (
        await make_edge(REALTIME_API_KEYS=f"other-key,{KEY}"),
        await make_edge(REALTIME_API_KEYS=KEY),
    )


async def test_post_creates_a_session_that_connects_on_another_edge(two_edges):
    first, second = two_edges
    status, answer = await _call(
        first,
        "POST",
        {"subject": "alice", "topics": ["payload.list"], "ttl": 3600},
        bearer=KEY,
    )
    assert status == 201
    assert answer["subject"] == "alice"
    assert answer["topics"] == ["payload.list"]
    assert answer["idle_timeout"] == 1800
    assert answer["expires_at"].endswith("Z")
    assert answer["token"].startswith("rt_")

    client = await WsClient.open(second, answer["token"])
    (confirmed,) = await client.subscribe("payload.list")
    assert confirmed["topic"] == "payload.list"
    await client.close()


async def test_post_with_an_empty_body_gives_a_session_for_every_topic(edge):
    status, answer = await _call(edge, "POST", b"", bearer=edge.api_keys[0])
    assert status == 201
    assert answer["topics"] is None


@pytest.mark.parametrize("key", [None, "wrong", KEY + "x", KEY[:-1]])
async def test_post_without_a_valid_api_key_is_401(two_edges, key):
    status, answer = await _call(two_edges[0], "POST", {}, bearer=key)
    assert status == 401
    assert answer["error"] == "unauthorized"
    assert answer["message"]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        {"subject": 5},
        {"topics": ["no.such"]},
        {"ttl": -1},
        {"color": "blue"},
        {"scopes": {"payload.list": {"tenant": "x"}}},
        {"topics": ["tunnel.status"], "scopes": {"payload.list": {"payloadId": "1"}}},
        {"subject": ""},
    ],
)
async def test_post_with_a_bad_body_is_400(two_edges, body):
    status, answer = await _call(two_edges[0], "POST", body, bearer=KEY)
    assert status == 400
    assert answer["error"] == "bad_request"
    assert answer["message"]


async def test_ttl_is_capped_by_the_longest_session_life(make_edge):
    edge = await make_edge(REALTIME_API_KEYS=KEY, REALTIME_SESSION_TTL="60")
    token = await _create(edge, ttl=999999)
    status, view = await _call(edge, "GET", bearer=token)
    assert status == 200
    assert "token" not in view
    created = time.mktime(time.strptime(view["created_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    expires = time.mktime(time.strptime(view["expires_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert 59 <= expires - created <= 61


async def test_get_shows_the_session_and_refuses_unknown_tokens(two_edges):
    first, second = two_edges
    token = await _create(
        first, subject="bob", scopes={"payload.list": {"payloadId": "7"}}
    )
    status, view = await _call(second, "GET", bearer=token)
    assert status == 200
    assert view["subject"] == "bob"
    assert view["scopes"] == {"payload.list": {"payloadId": "7"}}
    assert token not in json.dumps(view)
    assert (await _call(second, "GET", bearer="rt_nope"))[0] == 401
    assert (await _call(second, "GET"))[0] == 401


async def test_delete_revokes_everywhere_and_closes_connections_on_both_edges(
    two_edges,
):
    first, second = two_edges
    token = await _create(first, subject="carol")
    on_first = await WsClient.open(first, token)
    on_second = await WsClient.open(second, token)
    await on_first.subscribe("tunnel.status")
    await on_second.subscribe("tunnel.status")

    started = time.monotonic()
    status, body = await _call(second, "DELETE", bearer=token)
    assert status == 204 and body is None
    codes = await asyncio.gather(
        on_first.closed(timeout=2), on_second.closed(timeout=2)
    )
    assert codes == [CloseCode.UNAUTHORIZED, CloseCode.UNAUTHORIZED]
    assert time.monotonic() - started < 2

    assert await _refused(first, token) == CloseCode.UNAUTHORIZED
    assert await _refused(second, token) == CloseCode.UNAUTHORIZED
    assert (await _call(first, "GET", bearer=token))[0] == 401
    assert (await _call(first, "DELETE", bearer=token))[0] == 401
    await on_first.close()
    await on_second.close()


async def test_unused_session_expires_on_both_edges(make_edge):
    first = await make_edge(REALTIME_API_KEYS=KEY, REALTIME_SESSION_IDLE="1")
    second = await make_edge(REALTIME_API_KEYS=KEY, REALTIME_SESSION_IDLE="1")
    token = await _create(first)
    await asyncio.sleep(1.3)
    assert await _refused(first, token) == CloseCode.UNAUTHORIZED
    assert await _refused(second, token) == CloseCode.UNAUTHORIZED


async def test_pinging_keeps_a_session_alive_and_silence_ends_it(make_edge):
    first = await make_edge(REALTIME_API_KEYS=KEY, REALTIME_SESSION_IDLE="1.5")
    second = await make_edge(REALTIME_API_KEYS=KEY, REALTIME_SESSION_IDLE="1.5")
    token = await _create(first)
    talker = await WsClient.open(first, token)
    silent = await WsClient.open(second, token)

    # The talker's activity on the first edge keeps the session alive for the
    # silent connection on the second edge too: the touches reach the bucket.
    for n in range(10):
        await talker.send(op="ping", id=str(n))
        await talker.expect("pong")
        await asyncio.sleep(0.4)
    assert not silent.ws.closed
    late = await WsClient.open(second, token)
    await late.send(op="ping")
    await late.expect("pong")
    await late.close()

    # Once nobody uses it, every connection of the session is closed with 4401.
    await talker.close()
    assert await silent.closed(timeout=5) == CloseCode.UNAUTHORIZED
    await silent.close()


async def test_expired_session_closes_its_open_connections(make_edge):
    edge = await make_edge(REALTIME_API_KEYS=KEY)
    token = await _create(edge, ttl=1)
    client = await WsClient.open(edge, token)
    await client.send(op="ping")
    await client.expect("pong")
    assert await client.closed(timeout=4) == CloseCode.UNAUTHORIZED
    await client.close()


async def test_session_forces_its_scopes_and_limits_its_topics(edge):
    status, answer = await _call(
        edge,
        "POST",
        {
            "topics": ["payload.list", "capture.activity"],
            "scopes": {"payload.list": {"payloadId": ["p1", "p2"]}},
        },
        bearer=edge.api_keys[0],
    )
    assert status == 201
    client = await WsClient.open(edge, answer["token"])
    (confirmed,) = await client.subscribe("payload.list")
    assert confirmed["scopes"] == {"payloadId": ["p1", "p2"]}
    (same,) = await client.subscribe("payload.list", scopes={"payloadId": ["p2", "p1"]})
    assert same["scopes"] == {"payloadId": ["p1", "p2"]}

    await client.send(
        op="subscribe", topics=["payload.list"], scopes={"payloadId": "p3"}
    )
    await client.expect("error", code="forbidden", topic="payload.list")
    await client.send(op="subscribe", topics=["tunnel.status", "capture.activity"])
    await client.expect("error", code="forbidden", topic="tunnel.status")
    await client.expect("subscribed", topic="capture.activity")
    await client.close()


async def test_sessions_survive_an_edge_restart(make_edge):
    first = await make_edge(REALTIME_API_KEYS=KEY)
    token = await _create(first, subject="dora")
    await first.stop()
    second = await make_edge(REALTIME_API_KEYS=KEY)
    client = await WsClient.open(second, token)
    await client.send(op="ping")
    await client.expect("pong")
    await client.close()


async def test_no_token_or_key_reaches_logs_or_records(
    make_edge, nats_url, prefix, caplog
):
    caplog.set_level(logging.DEBUG)
    nc = await nats.connect(nats_url)
    records = await nc.subscribe(f"{prefix}.log.event")
    try:
        edge = await make_edge(REALTIME_API_KEYS=KEY)
        token = await _create(edge, subject="erin")
        client = await WsClient.open(edge, token)
        await client.send(op="ping")
        await client.expect("pong")
        await client.close()
        await _refused(edge, token + "0")
        await _call(edge, "POST", {}, bearer="guessed-key")
        await _call(edge, "DELETE", bearer=token)
        await asyncio.sleep(0.3)
        seen = []
        while True:
            try:
                seen.append(await records.next_msg(timeout=0.5))
            except nats.errors.TimeoutError:
                break
    finally:
        await nc.close()

    kinds = [json.loads(m.data)["kind"] for m in seen]
    for kind in (
        "config",
        "session.created",
        "connect",
        "disconnect",
        "auth.failed",
        "session.revoked",
    ):
        assert kind in kinds
    published = b"".join(m.data + json.dumps(m.headers).encode() for m in seen)
    for secret in (token, token[3:], KEY, "guessed-key"):
        assert secret.encode() not in published
        assert secret not in caplog.text
