"""The WebSocket protocol's frames (SPEC section 5): parsing client ops and the
exact shape of what the edge sends."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from bridge import protocol
from bridge.protocol import (
    BadFrame,
    ErrorCode,
    Ping,
    Subscribe,
    Unsubscribe,
    decode_object,
    encode,
    iso_ms,
    iso_ms_from_ns,
    parse_op,
)

# 2026-12-03T08:00:00Z
MOMENT_S = 1_796_284_800


def keys_and_values(frame: bytes) -> tuple[list[str], dict[str, Any]]:
    decoded = json.loads(frame)
    return list(decoded), decoded


def bad(frame: str | bytes) -> BadFrame:
    with pytest.raises(BadFrame) as refused:
        parse_op(frame)
    return refused.value


# -- parse_op: valid ops -----------------------------------------------------------


def test_the_spec_subscribe_example_parses_with_every_field() -> None:
    op = parse_op(
        '{"op": "subscribe", "topics": ["payload.list", "tunnel.status"],'
        ' "scopes": {"payloadId": "123"}, "since": {"payload.list": 41}, "id": "c1"}'
    )
    assert op == Subscribe(
        topics=["payload.list", "tunnel.status"],
        scopes={"payloadId": "123"},
        since={"payload.list": 41},
        id="c1",
    )


def test_a_minimal_subscribe_has_no_scopes_since_or_id() -> None:
    op = parse_op('{"op": "subscribe", "topics": ["payload.list"]}')
    assert op == Subscribe(topics=["payload.list"])
    assert op.scopes is None
    assert op.since is None
    assert op.id is None


def test_a_scope_value_may_be_a_list_of_strings() -> None:
    op = parse_op('{"op":"subscribe","topics":["t.a"],"scopes":{"k":["1","2"]}}')
    assert isinstance(op, Subscribe)
    assert op.scopes == {"k": ["1", "2"]}


def test_since_zero_is_accepted() -> None:
    op = parse_op('{"op":"subscribe","topics":["t.a"],"since":{"t.a":0}}')
    assert isinstance(op, Subscribe)
    assert op.since == {"t.a": 0}


def test_the_spec_unsubscribe_example_parses() -> None:
    op = parse_op('{"op": "unsubscribe", "topics": ["tunnel.status"], "id": "c2"}')
    assert op == Unsubscribe(topics=["tunnel.status"], id="c2")


def test_the_spec_ping_example_parses() -> None:
    assert parse_op('{"op": "ping", "id": "c3"}') == Ping(id="c3")
    assert parse_op('{"op": "ping"}') == Ping()


def test_a_frame_may_be_bytes() -> None:
    assert parse_op(b'{"op": "ping", "id": "c3"}') == Ping(id="c3")


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"op":"ping","id":"c3","client":"v9","extra":{"a":[1]}}', Ping(id="c3")),
        (
            '{"op":"unsubscribe","topics":["t.a"],"reason":"done"}',
            Unsubscribe(topics=["t.a"]),
        ),
        (
            '{"op":"subscribe","topics":["t.a"],"resume":true,"id":"x"}',
            Subscribe(topics=["t.a"], id="x"),
        ),
    ],
)
def test_unknown_extra_fields_are_ignored(frame: str, expected: object) -> None:
    assert parse_op(frame) == expected


# -- parse_op: bad frames ---------------------------------------------------------


def test_an_unknown_op_is_refused_with_the_ops_listed_and_its_id() -> None:
    refused = bad('{"op": "publish", "id": "c9"}')
    assert str(refused) == "unknown op; expected subscribe, unsubscribe or ping"
    assert refused.frame_id == "c9"


def test_a_frame_without_op_is_refused_with_its_id() -> None:
    refused = bad('{"topics": ["t.a"], "id": "c9"}')
    assert "op" in str(refused)
    assert refused.frame_id == "c9"


@pytest.mark.parametrize(
    ("frame", "where"),
    [
        ('{"op":"subscribe","topics":"payload.list","id":"c1"}', "$.topics"),
        ('{"op":"subscribe","topics":["a.b", 5],"id":"c1"}', "$.topics"),
        ('{"op":"subscribe","topics":["a.b"],"scopes":{"k":1},"id":"c1"}', "$.scopes"),
        ('{"op":"subscribe","topics":["a.b"],"scopes":["k"],"id":"c1"}', "$.scopes"),
        (
            '{"op":"subscribe","topics":["a.b"],"since":{"a.b":"4"},"id":"c1"}',
            "$.since",
        ),
        (
            '{"op":"subscribe","topics":["a.b"],"since":{"a.b":true},"id":"c1"}',
            "$.since",
        ),
        ('{"op":"unsubscribe","topics":{"a.b":1},"id":"c1"}', "$.topics"),
        ('{"op":5,"id":"c1"}', "$.op"),
    ],
)
def test_wrong_field_types_are_refused_naming_the_field_and_echoing_the_id(
    frame: str, where: str
) -> None:
    refused = bad(frame)
    assert where in str(refused)
    assert refused.frame_id == "c1"


def test_an_id_that_is_not_a_string_is_refused_and_not_echoed() -> None:
    refused = bad('{"op": "ping", "id": 3}')
    assert "$.id" in str(refused)
    assert refused.frame_id is None


@pytest.mark.parametrize("op", ["subscribe", "unsubscribe"])
def test_empty_topics_are_refused_with_the_id(op: str) -> None:
    refused = bad(f'{{"op": "{op}", "topics": [], "id": "c4"}}')
    assert str(refused) == "topics must name at least one topic"
    assert refused.frame_id == "c4"


def test_a_negative_since_is_refused_naming_the_topic() -> None:
    refused = bad(
        '{"op":"subscribe","topics":["a.b","c.d"],"since":{"a.b":3,"c.d":-1},"id":"c5"}'
    )
    assert str(refused) == "since must not be negative (c.d)"
    assert refused.frame_id == "c5"


@pytest.mark.parametrize(
    "frame", ["not json", '{"op": "ping"', "", b"\xff\xfe", '{"op": "ping"} trailing']
)
def test_a_frame_that_is_not_json_is_refused_without_an_id(frame: str | bytes) -> None:
    refused = bad(frame)
    assert str(refused) == "frame is not a JSON object"
    assert refused.frame_id is None


@pytest.mark.parametrize("frame", ['[{"op": "ping", "id": "c6"}]', '"ping"', "42"])
def test_json_that_is_not_an_object_is_refused_without_an_id(frame: str) -> None:
    refused = bad(frame)
    assert refused.frame_id is None


def test_invalid_utf8_inside_an_object_is_refused() -> None:
    refused = bad(b'{"op": "ping", "id": "\xff"}')
    assert refused.frame_id is None


# -- encode: the frames of SPEC section 5 -----------------------------------------


def test_subscribed_has_the_spec_fields_in_order() -> None:
    frame = encode(
        protocol.Subscribed(
            topic="payload.list",
            scopes={"payloadId": ["123"]},
            snapshot=2,
            seq=57,
            recovered=False,
            id="c1",
        )
    )
    keys, values = keys_and_values(frame)
    assert keys == ["op", "topic", "scopes", "snapshot", "seq", "recovered", "id"]
    assert values == json.loads(
        '{"op": "subscribed", "topic": "payload.list", "scopes": {"payloadId": '
        '["123"]}, "snapshot": 2, "seq": 57, "recovered": false, "id": "c1"}'
    )


def test_subscribed_without_an_id_leaves_the_id_out_but_keeps_empty_scopes() -> None:
    frame = encode(
        protocol.Subscribed(
            topic="log.event", scopes={}, snapshot=0, seq=0, recovered=False
        )
    )
    assert json.loads(frame) == {
        "op": "subscribed",
        "topic": "log.event",
        "scopes": {},
        "snapshot": 0,
        "seq": 0,
        "recovered": False,
    }


def test_event_has_the_spec_fields_in_order_and_the_payload_verbatim() -> None:
    payload = b'{"payload_id": "123", "downloads": 4, "name": "caf\xc3\xa9.png"}'
    frame = encode(
        protocol.Event(
            topic="payload.list",
            subject="payload.list.123",
            seq=56,
            ts="2026-12-03T08:00:00.123Z",
            snapshot=True,
            meta={"payloadId": "123"},
            data=msgspec.Raw(payload),
        )
    )
    keys, values = keys_and_values(frame)
    assert keys == ["op", "topic", "subject", "seq", "ts", "snapshot", "meta", "data"]
    assert values == {
        "op": "event",
        "topic": "payload.list",
        "subject": "payload.list.123",
        "seq": 56,
        "ts": "2026-12-03T08:00:00.123Z",
        "snapshot": True,
        "meta": {"payloadId": "123"},
        "data": json.loads(payload),
    }
    assert frame.endswith(b'"data":' + payload + b"}")


def test_unsubscribed_has_op_topic_and_id() -> None:
    frame = encode(protocol.Unsubscribed(topic="tunnel.status", id="c2"))
    assert keys_and_values(frame) == (
        ["op", "topic", "id"],
        {"op": "unsubscribed", "topic": "tunnel.status", "id": "c2"},
    )
    assert json.loads(encode(protocol.Unsubscribed(topic="tunnel.status"))) == {
        "op": "unsubscribed",
        "topic": "tunnel.status",
    }


def test_pong_carries_the_time_in_milliseconds_and_the_id() -> None:
    frame = protocol.pong("c3", datetime(2026, 12, 3, 8, 0, 1, tzinfo=UTC))
    assert keys_and_values(frame) == (
        ["op", "ts", "id"],
        {"op": "pong", "ts": "2026-12-03T08:00:01.000Z", "id": "c3"},
    )


def test_pong_without_a_moment_uses_the_current_time() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    decoded = json.loads(protocol.pong(None))
    assert list(decoded) == ["op", "ts"]
    moment = datetime.strptime(decoded["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert moment.replace(tzinfo=UTC) >= before


def test_error_has_the_spec_fields_in_order() -> None:
    frame = protocol.error(ErrorCode.TOPIC_LIMIT, "at most 32", "scanner.jobs", "c1")
    assert keys_and_values(frame) == (
        ["op", "code", "message", "topic", "id"],
        {
            "op": "error",
            "code": "topic_limit",
            "message": "at most 32",
            "topic": "scanner.jobs",
            "id": "c1",
        },
    )


def test_error_without_topic_or_id_leaves_both_out() -> None:
    frame = protocol.error(ErrorCode.BAD_REQUEST, "frame is not a JSON object")
    assert json.loads(frame) == {
        "op": "error",
        "code": "bad_request",
        "message": "frame is not a JSON object",
    }


def test_error_codes_are_the_spec_codes() -> None:
    assert {code.value for code in ErrorCode} == {
        "bad_request",
        "unknown_topic",
        "forbidden",
        "invalid_scopes",
        "topic_limit",
        "rate_limited",
        "unavailable",
        "internal",
    }


# -- timestamps -------------------------------------------------------------------


def test_iso_ms_formats_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2026, 12, 3, 8, 0, 0, 123456, tzinfo=UTC)
    assert iso_ms(moment) == "2026-12-03T08:00:00.123Z"


def test_iso_ms_pads_milliseconds_to_three_digits() -> None:
    assert iso_ms(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.000Z"
    )
    assert iso_ms(datetime(2026, 1, 2, 3, 4, 5, 7000, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.007Z"
    )


def test_iso_ms_converts_other_offsets_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 12, 3, 9, 0, 0, 123000, tzinfo=paris)
    assert iso_ms(moment) == "2026-12-03T08:00:00.123Z"


def test_iso_ms_from_ns_formats_a_stream_timestamp() -> None:
    nanos = MOMENT_S * 1_000_000_000 + 123_456_789
    assert iso_ms_from_ns(nanos) == "2026-12-03T08:00:00.123Z"


def test_iso_ms_from_ns_of_zero_is_the_epoch() -> None:
    assert iso_ms_from_ns(0) == "1970-01-01T00:00:00.000Z"


def test_both_timestamp_forms_agree_and_match_the_wire_pattern() -> None:
    pattern = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
    for millis in (0, 1, 999):
        nanos = MOMENT_S * 1_000_000_000 + millis * 1_000_000
        moment = datetime.fromtimestamp(MOMENT_S, UTC) + timedelta(milliseconds=millis)
        assert iso_ms_from_ns(nanos) == iso_ms(moment)
        assert pattern.match(iso_ms(moment))


# -- decode_object ----------------------------------------------------------------


def test_decode_object_returns_a_json_object() -> None:
    assert decode_object(b'{"a": 1, "b": [true, null]}') == {"a": 1, "b": [True, None]}
    assert decode_object(b"{}") == {}


def test_decode_object_accepts_utf8_text() -> None:
    assert decode_object('{"name": "café"}'.encode()) == {"name": "café"}


@pytest.mark.parametrize(
    "payload", [b"[1, 2]", b'"text"', b"42", b"null", b"true", b"1.5"]
)
def test_decode_object_refuses_json_that_is_not_an_object(payload: bytes) -> None:
    assert decode_object(payload) is None


@pytest.mark.parametrize(
    "payload", [b"", b"not json", b'{"a": 1', b'{"a": 1} {"b": 2}', b"\xef\xbb\xbf{}"]
)
def test_decode_object_refuses_what_is_not_json(payload: bytes) -> None:
    assert decode_object(payload) is None


@pytest.mark.parametrize(
    "payload", [b'{"a": "\xff"}', b'{"\xc3": 1}', b'{"a": "\xed\xa0\x80"}']
)
def test_decode_object_refuses_invalid_utf8(payload: bytes) -> None:
    assert decode_object(payload) is None
