"""The topic catalog as the edge loads it: topics, subject routing, streams, and
refusal of a broken catalog folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bridge import catalog
from bridge.catalog import Catalog, CatalogError, Topic

CATALOG = catalog.load()
TOPICS = Path(__file__).resolve().parents[2] / "schemas" / "topics"


def topic_document(name: str = "payload.list") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((TOPICS / f"{name}.json").read_text())
    return document


def folder_with(tmp_path: Path, files: dict[str, str | dict[str, Any]]) -> Path:
    for name, content in files.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


# -- the real catalog -------------------------------------------------------------


def test_load_returns_the_six_documented_topics() -> None:
    assert set(CATALOG) == {
        "capture.activity",
        "log.event",
        "payload.list",
        "retrylab.stats",
        "scanner.jobs",
        "tunnel.status",
    }
    assert len(CATALOG) == 6
    assert all(isinstance(topic, Topic) for topic in CATALOG.values())


def test_topics_carry_their_scope_keys_and_snapshot_flag() -> None:
    assert CATALOG["payload.list"].scope_keys == frozenset({"payloadId"})
    assert CATALOG["log.event"].scope_keys >= {"kind"}
    assert CATALOG["payload.list"].snapshot is True
    assert CATALOG["capture.activity"].snapshot is False
    assert CATALOG["payload.list"].retention.max_msgs_per_subject >= 1


def test_an_unknown_topic_is_not_in_the_catalog() -> None:
    assert CATALOG.get("payload.lists") is None
    assert "payload" not in CATALOG


# -- topic_of ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "topic", "rest"),
    [
        ("linkpeek.payload.list.123", "payload.list", "payload.list.123"),
        ("linkpeek.payload.list", "payload.list", "payload.list"),
        ("linkpeek.tunnel.status.t1.edge", "tunnel.status", "tunnel.status.t1.edge"),
        ("linkpeek.log.event", "log.event", "log.event"),
    ],
)
def test_topic_of_finds_the_topic_and_the_unprefixed_subject(
    subject: str, topic: str, rest: str
) -> None:
    found = CATALOG.topic_of(subject, "linkpeek")
    assert found is not None
    assert found[0] is CATALOG[topic]
    assert found[1] == rest


@pytest.mark.parametrize(
    "subject",
    [
        "other.payload.list.123",
        "linkpeekx.payload.list.123",
        "linkpeek",
        "linkpeek.",
        "linkpeek.payload",
        "linkpeek.payload.lists",
        "linkpeek.nope.topic",
        "payload.list.123",
    ],
)
def test_topic_of_is_none_outside_the_prefix_or_the_catalog(subject: str) -> None:
    assert CATALOG.topic_of(subject, "linkpeek") is None


def test_topic_of_works_with_a_dotted_prefix() -> None:
    found = CATALOG.topic_of("acme.prod.scanner.jobs.j1", "acme.prod")
    assert found == (CATALOG["scanner.jobs"], "scanner.jobs.j1")
    assert CATALOG.topic_of("acme.scanner.jobs.j1", "acme.prod") is None


# -- streams ----------------------------------------------------------------------


def test_the_stream_name_joins_prefix_and_topic_with_underscores() -> None:
    topic = CATALOG["payload.list"]
    assert topic.stream_name("linkpeek") == "linkpeek_payload_list"
    assert topic.stream_name("acme.prod") == "acme_prod_payload_list"
    assert topic.stream_name("my-app") == "my_app_payload_list"


def test_a_topics_stream_takes_the_bare_subject_and_every_entity() -> None:
    assert CATALOG["payload.list"].subjects("linkpeek") == [
        "linkpeek.payload.list",
        "linkpeek.payload.list.>",
    ]


# -- broken catalogs --------------------------------------------------------------


def test_a_copy_of_a_good_file_loads(tmp_path: Path) -> None:
    loaded = catalog.load(
        folder_with(tmp_path, {"payload.list.json": topic_document()})
    )
    assert isinstance(loaded, Catalog)
    assert list(loaded) == ["payload.list"]
    assert loaded["payload.list"] == CATALOG["payload.list"]


def test_a_file_that_is_not_json_is_refused_naming_it(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        {"payload.list.json": topic_document(), "tunnel.status.json": '{"topic": '},
    )
    with pytest.raises(CatalogError, match=re.escape("tunnel.status.json")):
        catalog.load(folder)


def test_a_topic_named_unlike_its_file_is_refused(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"tunnel.status.json": topic_document()})
    with pytest.raises(CatalogError, match=re.escape("tunnel.status.json")):
        catalog.load(folder)


def test_a_topic_name_that_is_not_dotted_words_is_refused(tmp_path: Path) -> None:
    document = topic_document() | {"topic": "payloads"}
    with pytest.raises(CatalogError, match=re.escape("payloads.json")):
        catalog.load(folder_with(tmp_path, {"payloads.json": document}))


def test_a_scope_key_that_is_not_a_name_is_refused(tmp_path: Path) -> None:
    document = topic_document() | {"scope_keys": ["payloadId", "payload-id"]}
    with pytest.raises(CatalogError, match="'payload-id'"):
        catalog.load(folder_with(tmp_path, {"payload.list.json": document}))


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    document = topic_document() | {"owner": "team-a"}
    with pytest.raises(CatalogError, match=re.escape("payload.list.json")):
        catalog.load(folder_with(tmp_path, {"payload.list.json": document}))


def test_a_missing_field_is_refused(tmp_path: Path) -> None:
    document = topic_document()
    del document["scope_keys"]
    with pytest.raises(CatalogError, match=re.escape("payload.list.json")):
        catalog.load(folder_with(tmp_path, {"payload.list.json": document}))


@pytest.mark.parametrize("field", ["max_msgs_per_subject", "max_age_seconds"])
def test_non_positive_retention_is_refused(tmp_path: Path, field: str) -> None:
    document = topic_document()
    document["retention"][field] = 0
    with pytest.raises(CatalogError, match="retention"):
        catalog.load(folder_with(tmp_path, {"payload.list.json": document}))


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no topics"):
        catalog.load(tmp_path)
