"""The edge's own log.event records and log lines (SPEC sections 3 and 7)."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import nats

from bridge.closecodes import CloseCode

from .support import http_get, mint_token, ws_url


async def test_connect_disconnect_and_auth_failed_are_recorded(edge, connect):
    watcher = await connect(edge)
    await watcher.subscribe(
        "log.event", scopes={"kind": ["connect", "disconnect", "auth.failed"]}
    )
    token = await mint_token(edge, subject="alice")
    client = await connect(edge, token=token, headers={"User-Agent": "probe/1"})
    await client.close()
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(edge, "rt_wrong")) as refused,
    ):
        await refused.receive(timeout=5)

    records = []
    while len(records) < 3:
        (event,) = await watcher.events(1)
        # The watcher's own connect record may land after its subscribe read.
        if event["data"].get("subject") != "tester":
            records.append(event["data"])
    connect_record, disconnect_record, failed = records
    assert connect_record["kind"] == "connect"
    assert connect_record["subject"] == "alice"
    assert connect_record["edge"] == edge.id
    assert connect_record["remote"] == "127.0.0.1"
    assert connect_record["user_agent"] == "probe/1"
    assert connect_record["conn"] == disconnect_record["conn"]
    assert disconnect_record["kind"] == "disconnect"
    assert disconnect_record["code"] == 1000
    assert disconnect_record["duration_s"] >= 0
    assert failed["kind"] == "auth.failed"
    assert "rt_wrong" not in json.dumps(records)


async def test_records_are_scoped_by_session_subject(edge, connect):
    watcher = await connect(edge)
    await watcher.subscribe("log.event", scopes={"subject": "bob", "kind": "connect"})
    await connect(edge, token=await mint_token(edge, subject="carol"))
    await connect(edge, token=await mint_token(edge, subject="bob"))
    (event,) = await watcher.events(1)
    assert event["meta"] == {"kind": "connect", "subject": "bob"}


async def test_config_record_at_start_up_leaves_secrets_out(
    make_edge, nats_url, prefix
):
    nc = await nats.connect(nats_url)
    records = await nc.subscribe(f"{prefix}.log.event")
    try:
        edge = await make_edge(REALTIME_API_KEYS="key-one,key-two", NATS_TOKEN="")
        msg = await records.next_msg(timeout=5)
    finally:
        await nc.close()
    record = json.loads(msg.data)
    assert msg.headers == {"kind": "config"}
    assert record["kind"] == "config"
    assert record["edge"] == edge.id
    assert record["settings"]["REALTIME_TOPIC_LIMIT"] == 32
    assert "REALTIME_API_KEYS" not in record["settings"]
    assert "key-one" not in msg.data.decode()


async def test_log_lines_never_show_a_token(edge, connect, caplog):
    caplog.set_level(logging.INFO)
    token = await mint_token(edge, subject="dave")
    client = await connect(edge, token=token)
    await client.send(op="ping")
    await client.expect("pong")
    await client.close()
    await http_get(edge, f"/readyz?token={token}")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(edge, token + "x")) as refused,
    ):
        assert (await refused.receive(timeout=5)).data == CloseCode.UNAUTHORIZED
    await asyncio.sleep(0.1)

    text = caplog.text
    assert "connect" in text and "disconnect" in text and "auth failed" in text
    assert "path=/readyz" in text
    assert token not in text
    assert token[3:20] not in text
