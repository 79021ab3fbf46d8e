"""The topic catalog: what each topic is, its scope keys, snapshot and retention.

One JSON file per topic under ``schemas/topics/``; installed wheels carry a copy
as ``bridge/_catalog``. The edge derives each topic's stream from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

_TOPIC_NAME = re.compile(r"^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)+$")
_SCOPE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


class CatalogError(ValueError):
    pass


class Retention(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_msgs_per_subject: int
    max_age_seconds: int
    max_bytes: int = -1


class TopicFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    topic: str
    description: str
    scope_keys: list[str]
    snapshot: bool
    retention: Retention
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    description: str
    scope_keys: frozenset[str]
    snapshot: bool
    retention: Retention
    data_schema: Mapping[str, Any]

    def stream_name(self, prefix: str) -> str:
        """JetStream stream holding the topic: ``linkpeek_payload_list``."""
        return f"{prefix}.{self.name}".replace(".", "_").replace("-", "_")

    def subjects(self, prefix: str) -> list[str]:
        base = f"{prefix}.{self.name}"
        return [base, f"{base}.>"]


class Catalog(Mapping[str, Topic]):
    def __init__(self, topics: Mapping[str, Topic]) -> None:
        self._topics = dict(topics)

    def __getitem__(self, name: str) -> Topic:
        return self._topics[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._topics)

    def __len__(self) -> int:
        return len(self._topics)

    def topic_of(self, subject: str, prefix: str) -> tuple[Topic, str] | None:
        """The topic a prefixed NATS subject belongs to, and the unprefixed subject."""
        if not subject.startswith(prefix + "."):
            return None
        rest = subject[len(prefix) + 1 :]
        parts = rest.split(".")
        for end in range(len(parts), 0, -1):
            topic = self._topics.get(".".join(parts[:end]))
            if topic is not None:
                return topic, rest
        return None


def default_path() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_catalog" / "topics", here.parent / "schemas" / "topics"):
        if candidate.is_dir():
            return candidate
    raise CatalogError(f"no topic catalog next to {here}")


def load(path: Path | None = None) -> Catalog:
    folder = path or default_path()
    topics: dict[str, Topic] = {}
    for file in sorted(folder.glob("*.json")):
        topic = _read(file)
        topics[topic.name] = topic
    if not topics:
        raise CatalogError(f"no topics in {folder}")
    return Catalog(topics)


def _read(file: Path) -> Topic:
    try:
        spec = msgspec.json.decode(file.read_bytes(), type=TopicFile)
    except (OSError, msgspec.DecodeError) as exc:
        raise CatalogError(f"{file.name}: {exc}") from None
    if spec.topic != file.stem or not _TOPIC_NAME.match(spec.topic):
        raise CatalogError(f"{file.name}: topic must be the file name, dotted words")
    bad_keys = [key for key in spec.scope_keys if not _SCOPE_KEY.match(key)]
    if bad_keys:
        raise CatalogError(f"{file.name}: scope key {bad_keys[0]!r} is not a name")
    retention = spec.retention
    if retention.max_msgs_per_subject < 1 or retention.max_age_seconds < 1:
        raise CatalogError(f"{file.name}: retention values must be positive")
    return Topic(
        name=spec.topic,
        description=spec.description,
        scope_keys=frozenset(spec.scope_keys),
        snapshot=spec.snapshot,
        retention=retention,
        data_schema=spec.data,
    )
