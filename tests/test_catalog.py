"""The topic catalog in schemas/ is well formed and declares the six topics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
TOPIC_FILES = sorted((SCHEMAS / "topics").glob("*.json"))

# The six topics of the product documentation.
DOCUMENTED_TOPICS = {
    "log.event",
    "capture.activity",
    "payload.list",
    "retrylab.stats",
    "scanner.jobs",
    "tunnel.status",
}
SNAPSHOT_TOPICS = {"payload.list", "retrylab.stats", "scanner.jobs", "tunnel.status"}


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def catalog_validator() -> jsonschema.Draft202012Validator:
    schema = load(SCHEMAS / "catalog.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_catalog_declares_exactly_the_documented_topics() -> None:
    assert {path.stem for path in TOPIC_FILES} == DOCUMENTED_TOPICS


@pytest.mark.parametrize("path", TOPIC_FILES, ids=lambda path: path.stem)
def test_topic_file_satisfies_the_catalog_schema(
    path: Path, catalog_validator: jsonschema.Draft202012Validator
) -> None:
    errors = [error.message for error in catalog_validator.iter_errors(load(path))]
    assert errors == []


@pytest.mark.parametrize("path", TOPIC_FILES, ids=lambda path: path.stem)
def test_topic_name_equals_file_name(path: Path) -> None:
    assert load(path)["topic"] == path.stem


@pytest.mark.parametrize("path", TOPIC_FILES, ids=lambda path: path.stem)
def test_topic_data_is_a_valid_draft_2020_12_schema_of_an_object(path: Path) -> None:
    data = load(path)["data"]
    jsonschema.Draft202012Validator.check_schema(data)
    assert data["type"] == "object"
    assert set(data["required"]) <= set(data["properties"])


def test_catalog_schema_refuses_unknown_top_level_fields(
    catalog_validator: jsonschema.Draft202012Validator,
) -> None:
    document = load(SCHEMAS / "topics" / "payload.list.json")
    document["partitions"] = 4
    assert not catalog_validator.is_valid(document)


def test_catalog_schema_refuses_a_data_schema_that_is_not_a_schema(
    catalog_validator: jsonschema.Draft202012Validator,
) -> None:
    document = load(SCHEMAS / "topics" / "payload.list.json")
    document["data"]["properties"]["downloads"] = {"type": "counter"}
    assert not catalog_validator.is_valid(document)


def test_only_state_topics_have_snapshots() -> None:
    topics = [load(path) for path in TOPIC_FILES]
    assert {t["topic"] for t in topics if t["snapshot"]} == SNAPSHOT_TOPICS


def test_log_event_is_scoped_by_kind() -> None:
    # The edge publishes its own records there with a `kind` header.
    assert "kind" in load(SCHEMAS / "topics" / "log.event.json")["scope_keys"]


def test_streams_of_all_topics_fit_in_256_mib() -> None:
    # JetStream reserves max_bytes of every stream up front, and the tests run
    # many servers on one machine.
    total = sum(load(path)["retention"]["max_bytes"] for path in TOPIC_FILES)
    assert total <= 256 * 1024 * 1024
