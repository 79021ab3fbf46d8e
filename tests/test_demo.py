"""The demo producer publishes catalog-valid traffic on all six topics."""

from __future__ import annotations

import itertools
import json
import random
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bridge.demo import DemoEvent, demo_events, message_headers

TOPICS_DIR = Path(__file__).resolve().parent.parent / "schemas" / "topics"
CATALOG: dict[str, dict[str, Any]] = {
    path.stem: json.loads(path.read_text(encoding="utf-8"))
    for path in TOPICS_DIR.glob("*.json")
}

# Kinds of log.event records that only the edge writes (SPEC section 7).
EDGE_KINDS = {
    "connect",
    "disconnect",
    "session.created",
    "session.revoked",
    "auth.failed",
    "config",
}
SUBJECT_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
TRACEPARENT = re.compile(r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-01$")

# jsonschema only checks date-time when an optional RFC 3339 package is
# installed; check it with the standard library so the test never skips it.
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def is_date_time(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value)
    return True


@pytest.fixture(scope="module")
def events() -> list[DemoEvent]:
    return list(itertools.islice(demo_events(random.Random(1)), 2000))


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def test_demo_events_cover_all_six_topics(events: list[DemoEvent]) -> None:
    assert {event.topic for event in events} == set(CATALOG)
    assert len(CATALOG) == 6


def test_demo_events_validate_against_their_topic_schema(
    events: list[DemoEvent],
) -> None:
    validators = {
        topic: jsonschema.Draft202012Validator(entry["data"], format_checker=FORMATS)
        for topic, entry in CATALOG.items()
    }
    for event in events:
        errors = [e.message for e in validators[event.topic].iter_errors(event.data)]
        assert errors == [], (event.topic, event.data)


def test_demo_event_data_survives_a_json_round_trip(events: list[DemoEvent]) -> None:
    for event in events:
        assert json.loads(json.dumps(event.data)) == event.data


def test_demo_scopes_use_only_the_topics_scope_keys(events: list[DemoEvent]) -> None:
    for event in events:
        assert set(event.scopes) <= set(CATALOG[event.topic]["scope_keys"]), event


def test_demo_scope_headers_repeat_the_event_data(events: list[DemoEvent]) -> None:
    # A subscriber scoped to payloadId=X must get the events whose data is
    # about payload X, so each header value is the same-named data field.
    for event in events:
        for key, value in event.scopes.items():
            assert event.data[camel_to_snake(key)] == value, (key, event)


def test_every_demo_scope_key_is_used(events: list[DemoEvent]) -> None:
    used = {(event.topic, key) for event in events for key in event.scopes}
    declared = {(t, key) for t, entry in CATALOG.items() for key in entry["scope_keys"]}
    assert used == declared


def test_demo_entities_are_subject_safe(events: list[DemoEvent]) -> None:
    for event in events:
        assert event.entity is None or SUBJECT_TOKEN.match(event.entity), event
        tail = "" if event.entity is None else f".{event.entity}"
        assert event.subject("linkpeek") == f"linkpeek.{event.topic}{tail}"


def test_demo_log_events_never_use_edge_reserved_kinds(
    events: list[DemoEvent],
) -> None:
    kinds = {event.data["kind"] for event in events if event.topic == "log.event"}
    assert kinds
    assert not kinds & EDGE_KINDS
    for event in events:
        if event.topic == "log.event":
            assert event.scopes["kind"] == event.data["kind"]


def test_demo_snapshot_topics_keep_a_small_stable_population(
    events: list[DemoEvent],
) -> None:
    for topic, entry in CATALOG.items():
        if not entry["snapshot"]:
            continue
        entities = {event.entity for event in events if event.topic == topic}
        assert None not in entities
        assert 3 <= len(entities) <= 32, (topic, len(entities))


def test_demo_announces_every_snapshot_entity_before_changing_any(
    events: list[DemoEvent],
) -> None:
    # A subscriber joining right after the demo starts gets a full snapshot.
    first_seen: dict[tuple[str, str | None], int] = {}
    seen_twice: list[int] = []
    for index, event in enumerate(events):
        if not CATALOG[event.topic]["snapshot"]:
            continue
        key = (event.topic, event.entity)
        if key in first_seen:
            seen_twice.append(index)
        else:
            first_seen.setdefault(key, index)
    assert max(first_seen.values()) < min(seen_twice)


def test_demo_download_counters_never_go_down(events: list[DemoEvent]) -> None:
    downloads: dict[str | None, int] = {}
    for event in events:
        if event.topic == "payload.list":
            count = event.data["downloads"]
            assert count >= downloads.get(event.entity, 0)
            downloads[event.entity] = count
    assert sum(downloads.values()) > 0


def test_demo_scanner_jobs_go_through_their_lifecycle(
    events: list[DemoEvent],
) -> None:
    allowed = {
        "queued": {"running"},
        "running": {"running", "completed", "failed"},
        "completed": {"queued"},
        "failed": {"queued"},
    }
    last: dict[str | None, str] = {}
    for event in events:
        if event.topic != "scanner.jobs":
            continue
        status = event.data["status"]
        if event.entity in last:
            assert status in allowed[last[event.entity]], (last[event.entity], status)
        last[event.entity] = status
    statuses = {e.data["status"] for e in events if e.topic == "scanner.jobs"}
    assert {"queued", "running", "completed"} <= statuses
    assert any("diff" in e.data for e in events if e.topic == "scanner.jobs")


def test_demo_stream_is_reproducible_from_its_seed() -> None:
    def topics_and_entities(seed: int) -> list[tuple[str, str | None]]:
        stream = itertools.islice(demo_events(random.Random(seed)), 300)
        return [(event.topic, event.entity) for event in stream]

    assert topics_and_entities(7) == topics_and_entities(7)


def test_demo_headers_carry_scopes_and_a_fresh_traceparent(
    events: list[DemoEvent],
) -> None:
    event = next(e for e in events if e.topic == "tunnel.status")
    first, second = message_headers(event), message_headers(event)
    assert {k: v for k, v in first.items() if k != "traceparent"} == event.scopes
    assert TRACEPARENT.match(first["traceparent"])
    assert TRACEPARENT.match(second["traceparent"])
    assert first["traceparent"][3:35] != second["traceparent"][3:35]
