"""From a JetStream message to the event frame clients receive: delivery
metadata from the reply subject, and the encoded event (SPEC section 5)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge import catalog
from bridge.events import NotAStreamMessage, ack_metadata, prepare
from tests.frames import unframe

CATALOG = catalog.load()
PAYLOADS = CATALOG["payload.list"]

# 2026-12-03T08:00:00.123456789Z
TS_NS = 1_796_284_800_123_456_789


def decoded(frame: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(unframe(frame))
    return value


# -- ack_metadata -----------------------------------------------------------------


def test_ack_metadata_reads_the_classic_reply_subject() -> None:
    reply = f"$JS.ACK.linkpeek_payload_list.feed.1.57.3.{TS_NS}.0"
    assert ack_metadata(reply) == (57, TS_NS, 0)


def test_ack_metadata_reads_the_reply_subject_with_domain_and_account() -> None:
    reply = f"$JS.ACK.hub.ACCHASH1.linkpeek_payload_list.feed.2.57.3.{TS_NS}.12.r4nd"
    assert ack_metadata(reply) == (57, TS_NS, 12)


def test_ack_metadata_keeps_large_sequences() -> None:
    reply = f"$JS.ACK.s.c.1.{2**40}.{2**40}.{TS_NS}.{2**33}"
    assert ack_metadata(reply) == (2**40, TS_NS, 2**33)


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "_INBOX.Ab12Cd34",
        "$JS.ACK.too.short",
        "$JS.ACK.s.c.1.57.3.1796284800123456789",
        "$JS.ACK.d.h.s.c.1.57.3.1796284800123456789",
        "$JS.API.s.c.1.57.3.1796284800123456789.0",
        "$KV.ACK.s.c.1.57.3.1796284800123456789.0",
    ],
)
def test_ack_metadata_refuses_other_reply_subjects(reply: str) -> None:
    with pytest.raises(NotAStreamMessage):
        ack_metadata(reply)


def test_ack_metadata_refuses_an_ack_shaped_subject_with_non_numeric_tokens() -> None:
    with pytest.raises(NotAStreamMessage):
        ack_metadata("$JS.ACK.stream.consumer.one.two.three.four.five")


# -- prepare ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b"[1, 2]", b'"text"', b"42", b"null", b"", b"not json", b'{"a": "\xff"}'],
)
def test_prepare_drops_a_payload_that_is_not_a_json_object(payload: bytes) -> None:
    assert prepare(PAYLOADS, "payload.list.1", {}, payload, 1, TS_NS) is None


def test_prepare_keeps_only_scope_key_headers_in_meta() -> None:
    headers = {
        "payloadId": "123",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "Nats-Msg-Id": "m-1",
        "tunnelId": "t-1",  # a scope key of another topic
        "payloadid": "wrong-case",
    }
    prepared = prepare(PAYLOADS, "payload.list.123", headers, b"{}", 56, TS_NS)
    assert prepared is not None
    assert prepared.meta == {"payloadId": "123"}
    assert decoded(prepared.frame)["meta"] == {"payloadId": "123"}


@pytest.mark.parametrize("headers", [None, {}])
def test_prepare_without_headers_has_empty_meta(headers: dict[str, str] | None) -> None:
    prepared = prepare(PAYLOADS, "payload.list.123", headers, b"{}", 56, TS_NS)
    assert prepared is not None
    assert prepared.meta == {}


def test_the_prepared_frame_is_the_spec_event() -> None:
    payload = json.dumps(
        {"payload_id": "123", "name": "café.png", "downloads": 4, "variants": []}
    ).encode()
    prepared = prepare(
        PAYLOADS, "payload.list.123", {"payloadId": "123"}, payload, 56, TS_NS
    )
    assert prepared is not None
    assert (prepared.seq, prepared.subject) == (56, "payload.list.123")
    event = decoded(prepared.frame)
    assert list(event) == [
        "op",
        "topic",
        "subject",
        "seq",
        "ts",
        "snapshot",
        "meta",
        "data",
    ]
    assert event == {
        "op": "event",
        "topic": "payload.list",
        "subject": "payload.list.123",
        "seq": 56,
        "ts": "2026-12-03T08:00:00.123Z",
        "snapshot": False,
        "meta": {"payloadId": "123"},
        "data": json.loads(payload),
    }


def test_the_payload_bytes_are_embedded_as_they_came() -> None:
    payload = b'{ "b" : 1,\n  "a" : [ 2 ] }'
    prepared = prepare(PAYLOADS, "payload.list.9", None, payload, 7, TS_NS)
    assert prepared is not None
    assert unframe(prepared.frame).endswith(b'"data":' + payload + b"}")


def test_a_snapshot_event_says_so() -> None:
    prepared = prepare(PAYLOADS, "payload.list.9", None, b"{}", 7, TS_NS, snapshot=True)
    assert prepared is not None
    assert decoded(prepared.frame)["snapshot"] is True


def test_a_large_payload_gets_an_extended_length_frame() -> None:
    payload = json.dumps({"blob": "x" * 70_000}).encode()
    prepared = prepare(PAYLOADS, "payload.list.9", None, payload, 7, TS_NS)
    assert prepared is not None
    assert prepared.frame[1] == 127
    assert decoded(prepared.frame)["data"] == {"blob": "x" * 70_000}
