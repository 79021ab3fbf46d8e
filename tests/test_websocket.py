"""The WebSocket protocol of SPEC section 5, against a real edge and NATS."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from bridge.closecodes import CloseCode

from .support import http_get, mint_token, publish, stored, ws_url


async def test_subscribe_confirms_each_topic_and_echoes_the_id(edge, connect):
    client = await connect(edge)
    await client.send(op="subscribe", topics=["payload.list", "tunnel.status"], id="c1")
    confirmed = [await client.expect("subscribed", id="c1") for _ in range(2)]
    assert {c["topic"] for c in confirmed} == {"payload.list", "tunnel.status"}


async def test_good_topic_is_confirmed_when_the_next_is_refused(edge, connect):
    client = await connect(edge)
    await client.send(op="subscribe", topics=["no.such", "payload.list"], id="c1")
    error = await client.expect("error", code="unknown_topic", topic="no.such", id="c1")
    assert "no.such" in error["message"]
    await client.expect("subscribed", topic="payload.list", id="c1")


async def test_ping_is_answered_with_pong(edge, connect):
    client = await connect(edge)
    await client.send(op="ping", id="p1")
    pong = await client.expect("pong", id="p1")
    assert pong["ts"].endswith("Z")


async def test_scope_matches_string_and_list_values(edge, connect, producer, prefix):
    single = await connect(edge)
    several = await connect(edge)
    await single.subscribe("payload.list", scopes={"payloadId": "a"})
    await several.subscribe("payload.list", scopes={"payloadId": ["a", "b"]})

    for pid in ("a", "b", "c"):
        await publish(
            producer, prefix, f"payload.list.{pid}", {"p": pid}, payloadId=pid
        )
    assert [e["data"]["p"] for e in await single.events(1)] == ["a"]
    assert [e["data"]["p"] for e in await several.events(2)] == ["a", "b"]
    assert await single.quiet() == []
    assert await several.quiet() == []


async def test_message_without_the_scope_header_does_not_match(
    edge, connect, producer, prefix
):
    scoped = await connect(edge)
    everything = await connect(edge)
    await scoped.subscribe("capture.activity", scopes={"payloadId": "p1"})
    await everything.subscribe("capture.activity")

    await publish(producer, prefix, "capture.activity.c1", {"n": 1}, captureId="c1")
    await publish(producer, prefix, "capture.activity.c1", {"n": 2}, payloadId="p1")
    (event,) = await scoped.events(1)
    assert event["data"] == {"n": 2}
    assert event["meta"] == {"payloadId": "p1"}
    assert [e["data"]["n"] for e in await everything.events(2)] == [1, 2]


async def test_two_scope_keys_must_both_match(edge, connect, producer, prefix):
    client = await connect(edge)
    await client.subscribe(
        "scanner.jobs", scopes={"jobId": ["j1", "j2"], "scannerId": "s1"}
    )
    await publish(
        producer, prefix, "scanner.jobs.j1", {"n": 1}, jobId="j1", scannerId="s2"
    )
    await publish(
        producer, prefix, "scanner.jobs.j2", {"n": 2}, jobId="j2", scannerId="s1"
    )
    await publish(
        producer, prefix, "scanner.jobs.j3", {"n": 3}, jobId="j3", scannerId="s1"
    )
    assert [e["data"]["n"] for e in await client.events(1)] == [2]
    assert await client.quiet() == []


async def test_meta_carries_only_the_topic_scope_headers(
    edge, connect, producer, prefix
):
    client = await connect(edge)
    await client.subscribe("payload.list")
    await publish(
        producer,
        prefix,
        "payload.list.p1",
        {"n": 1},
        payloadId="p1",
        traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        secret="nope",
    )
    (event,) = await client.events(1)
    assert event["meta"] == {"payloadId": "p1"}


async def test_unknown_scope_key_is_refused(edge, connect):
    client = await connect(edge)
    await client.send(op="subscribe", topics=["payload.list"], scopes={"tenant": "x"})
    error = await client.expect("error", code="invalid_scopes", topic="payload.list")
    assert "tenant" in error["message"]


async def test_topic_limit_counts_each_topic_once(make_edge, connect):
    edge = await make_edge(REALTIME_TOPIC_LIMIT="2")
    client = await connect(edge)
    await client.subscribe("payload.list", "tunnel.status")
    await client.send(op="subscribe", topics=["scanner.jobs"], id="x")
    await client.expect("error", code="topic_limit", topic="scanner.jobs", id="x")
    # A topic already held can be subscribed again at the limit.
    await client.subscribe("payload.list", scopes={"payloadId": "p"})
    await client.send(op="unsubscribe", topics=["tunnel.status"])
    await client.expect("unsubscribed", topic="tunnel.status")
    await client.subscribe("scanner.jobs")


async def test_subscribing_again_replaces_the_scopes(edge, connect, producer, prefix):
    client = await connect(edge)
    await client.subscribe("capture.activity", scopes={"captureId": "c1"})
    (again,) = await client.subscribe("capture.activity", scopes={"captureId": "c2"})
    assert again["scopes"] == {"captureId": ["c2"]}
    await publish(producer, prefix, "capture.activity.c1", {"c": 1}, captureId="c1")
    await publish(producer, prefix, "capture.activity.c2", {"c": 2}, captureId="c2")
    assert [e["data"]["c"] for e in await client.events(1)] == [2]
    assert await client.quiet() == []


async def test_unsubscribe_stops_the_events(edge, connect, producer, prefix):
    client = await connect(edge)
    await client.subscribe("capture.activity")
    await client.send(op="unsubscribe", topics=["capture.activity"], id="u")
    await client.expect("unsubscribed", topic="capture.activity", id="u")
    await publish(producer, prefix, "capture.activity.c1", {"c": 1})
    assert await client.quiet() == []


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        ("not json", "not a JSON object"),
        ("[1, 2]", "Expected `object`"),
        ('{"op": "dance"}', "unknown op"),
        ('{"op": "subscribe", "topics": "payload.list"}', "$.topics"),
        ('{"op": "subscribe", "topics": []}', "at least one topic"),
        (
            '{"op": "subscribe", "topics": ["payload.list"], "scopes": {"k": 1}}',
            "scopes",
        ),
    ],
)
async def test_malformed_frame_gets_bad_request_and_the_connection_stays(
    edge, connect, frame, fragment
):
    client = await connect(edge)
    await client.ws.send_str(frame)
    error = await client.expect("error", code="bad_request")
    assert fragment in error["message"]
    await client.send(op="ping", id="still-there")
    await client.expect("pong", id="still-there")


async def test_bad_request_echoes_a_readable_id(edge, connect):
    client = await connect(edge)
    await client.ws.send_str('{"op": "dance", "id": "d1"}')
    await client.expect("error", code="bad_request", id="d1")


async def test_flood_of_malformed_frames_closes_with_4400(edge, connect):
    client = await connect(edge)
    for _ in range(40):
        await client.ws.send_str("{")
    assert await client.closed() == CloseCode.PROTOCOL_VIOLATION


async def test_binary_frame_closes_with_4400(edge, connect):
    client = await connect(edge)
    await client.ws.send_bytes(b'{"op": "ping"}')
    assert await client.closed() == CloseCode.PROTOCOL_VIOLATION


async def test_frame_over_the_size_limit_closes_with_1009(make_edge, connect):
    edge = await make_edge(REALTIME_MAX_MESSAGE="1024")
    client = await connect(edge)
    await client.send(op="ping", id="x" * 900)
    await client.expect("pong")
    await client.send(op="ping", id="x" * 2000)
    assert await client.closed() == CloseCode.MESSAGE_TOO_BIG


async def test_silent_client_is_closed_with_4408(make_edge, connect):
    edge = await make_edge(REALTIME_IDLE_TIMEOUT="0.5")
    client = await connect(edge)
    await asyncio.sleep(0.3)
    await client.send(op="ping")
    await client.expect("pong")
    assert await client.closed(timeout=3) == CloseCode.IDLE_TIMEOUT


async def test_op_flood_is_rate_limited_then_closed_with_4429(edge, connect):
    client = await connect(edge)
    for n in range(120):
        await client.send(op="ping", id=str(n))
    frames = []
    code = None
    while code is None:
        msg = await client.ws.receive(timeout=5)
        if msg.type is aiohttp.WSMsgType.TEXT:
            frames.append(json.loads(msg.data))
        else:
            code = client.ws.close_code
    assert code == CloseCode.RATE_LIMITED
    assert frames[0]["op"] == "pong"
    assert any(f.get("code") == "rate_limited" for f in frames)


@pytest.mark.parametrize(
    "token",
    [None, "", "rt_not-a-real-token", "x" * 300],
    ids=["none", "empty", "unknown", "long"],
)
async def test_bad_token_is_accepted_then_closed_with_4401(edge, token):
    async with aiohttp.ClientSession() as http:
        url = ws_url(edge) + ("" if token is None else f"?token={token}")
        async with http.ws_connect(url) as ws:
            msg = await ws.receive(timeout=5)
            assert msg.type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == CloseCode.UNAUTHORIZED


async def test_expired_token_is_closed_with_4401(edge):
    token = await mint_token(edge, ttl=0.2)
    await asyncio.sleep(0.3)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(edge, token)) as ws,
    ):
        await ws.receive(timeout=5)
        assert ws.close_code == CloseCode.UNAUTHORIZED


async def test_bearer_header_authenticates_non_browser_clients(edge):
    token = await mint_token(edge)
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {token}"}
        async with http.ws_connect(ws_url(edge), headers=headers) as ws:
            await ws.send_str('{"op": "ping", "id": "b"}')
            msg = await ws.receive(timeout=5)
            assert json.loads(msg.data)["op"] == "pong"


async def test_plain_get_on_the_endpoint_is_400(edge):
    async with aiohttp.ClientSession() as http, http.get(ws_url(edge)) as answer:
        assert answer.status == 400
        assert (await answer.json())["error"] == "bad_request"


@pytest.mark.parametrize(
    ("origins", "origin", "allowed"),
    [
        (None, None, True),
        (None, "http://127.0.0.1:{port}", True),
        (None, "https://evil.example", False),
        ("https://app.example.com", "https://app.example.com", True),
        ("https://app.example.com", "https://evil.example", False),
        ("*", "https://anything.example", True),
    ],
)
async def test_origin_policy_is_enforced_before_the_upgrade(
    make_edge, origins, origin, allowed
):
    env = {"REALTIME_ORIGINS": origins} if origins else {}
    edge = await make_edge(**env)
    token = await mint_token(edge)
    headers = {"Origin": origin.format(port=edge.port)} if origin else {}
    async with aiohttp.ClientSession() as http:
        if allowed:
            async with http.ws_connect(ws_url(edge, token), headers=headers) as ws:
                await ws.send_str('{"op": "ping"}')
                assert json.loads((await ws.receive(timeout=5)).data)["op"] == "pong"
        else:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(ws_url(edge, token), headers=headers)
            assert refused.value.status == 403


async def test_disabled_edge_has_no_endpoint_and_no_nats_consumers(
    make_edge, producer, prefix
):
    edge = await make_edge(REALTIME_ENABLED="0")
    assert (await http_get(edge, "/realtime"))[0] == 404
    assert (await http_get(edge, "/readyz"))[0] == 200
    js = producer.jetstream()
    info = await js.stream_info(f"{prefix}_payload_list")
    assert info.state.consumer_count == 0


async def test_producer_payload_that_is_not_a_json_object_is_dropped_and_counted(
    edge, connect, producer, prefix
):
    client = await connect(edge)
    await client.subscribe("capture.activity")
    await publish(producer, prefix, "capture.activity.c1", b"\xff not json")
    await publish(producer, prefix, "capture.activity.c1", b"[1, 2, 3]")
    await publish(producer, prefix, "capture.activity.c1", {"ok": True})
    (event,) = await client.events(1)
    assert event["data"] == {"ok": True}
    assert event["seq"] == 3
    _, text = await http_get(edge, "/metrics")
    assert 'realtime_messages_dropped_total{topic="capture.activity"} 2' in text


async def test_plain_nats_core_publish_with_headers_is_delivered(
    edge, connect, producer, prefix
):
    """A producer that knows nothing of the edge: raw core publish and headers."""
    client = await connect(edge)
    await client.subscribe("retrylab.stats", scopes={"scenarioId": "s9"})
    await producer.publish(
        f"{prefix}.retrylab.stats.s9",
        b'{"attempts": 3, "success_rate": 0.5}',
        headers={"scenarioId": "s9"},
    )
    (event,) = await client.events(1)
    assert event["topic"] == "retrylab.stats"
    assert event["subject"] == "retrylab.stats.s9"
    assert event["data"] == {"attempts": 3, "success_rate": 0.5}
    assert event["ts"].endswith("Z")


async def test_a_stored_event_reaches_only_its_topic(edge, connect, producer, prefix):
    client = await connect(edge)
    await client.subscribe("payload.list")
    await publish(producer, prefix, "payload.listing.x", {"wrong": True})
    await publish(producer, prefix, "tunnel.status.t1", {"wrong": True})
    await publish(producer, prefix, "payload.list", {"bare": True})
    (event,) = await client.events(1)
    assert event["subject"] == "payload.list"
    await stored(producer, prefix, "payload.list", 1)
