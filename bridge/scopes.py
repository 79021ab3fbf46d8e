"""Scope filters and the index that routes a message to the filters it matches.

A subscription's scopes map a scope key to the values it accepts; a message
matches when, for every key, its header of that name holds one of the values. A
message without the header does not match.

:class:`ScopeIndex` keeps each member under one *anchor* key (its key with the
fewest values), so routing a message costs one dictionary probe per scope key of
the topic plus the members found, never a scan of members that cannot match.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Generic, TypeVar

Scopes = Mapping[str, frozenset[str]]
"""Normalised scopes: key -> accepted values (never empty)."""

NO_SCOPES: Scopes = {}


class ScopeError(ValueError):
    """Requested scopes that the topic does not allow."""


def normalize(
    requested: Mapping[str, str | list[str]] | None, scope_keys: Collection[str]
) -> dict[str, frozenset[str]]:
    """Turn client scopes into :data:`Scopes`, refusing keys the topic lacks."""
    if not requested:
        return {}
    unknown = sorted(set(requested) - set(scope_keys))
    if unknown:
        allowed = ", ".join(sorted(scope_keys)) or "none"
        raise ScopeError(f"unknown scope key {unknown[0]!r}; allowed: {allowed}")
    scopes: dict[str, frozenset[str]] = {}
    for key, value in requested.items():
        values = frozenset((value,) if isinstance(value, str) else value)
        if not values:
            raise ScopeError(f"scope {key!r} needs at least one value")
        scopes[key] = values
    return scopes


def matches(scopes: Scopes, headers: Mapping[str, str]) -> bool:
    return all(headers.get(key) in values for key, values in scopes.items())


def as_lists(scopes: Scopes) -> dict[str, list[str]]:
    """Scopes as the ``subscribed`` frame shows them: sorted lists."""
    return {key: sorted(values) for key, values in sorted(scopes.items())}


M = TypeVar("M")


class ScopeIndex(Generic[M]):
    """Members (hashable) filed by their scopes, for routing by message headers."""

    __slots__ = ("_anchored", "_members", "_unscoped", "_unscoped_view")

    def __init__(self) -> None:
        self._members: dict[M, tuple[str, Scopes]] = {}
        self._unscoped: dict[M, None] = {}
        # A tuple rebuilt only when unscoped membership changes, because the
        # fan-out reads it once per message and it changes once per subscribe.
        self._unscoped_view: tuple[M, ...] = ()
        self._anchored: dict[str, dict[str, dict[M, None]]] = {}

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, member: M) -> bool:
        return member in self._members

    def add(self, member: M, scopes: Scopes) -> None:
        if member in self._members:
            self.remove(member)
        if not scopes:
            self._members[member] = ("", scopes)
            self._unscoped[member] = None
            self._unscoped_view = tuple(self._unscoped)
            return
        anchor = min(scopes, key=lambda key: (len(scopes[key]), key))
        self._members[member] = (anchor, scopes)
        by_value = self._anchored.setdefault(anchor, {})
        for value in scopes[anchor]:
            by_value.setdefault(value, {})[member] = None

    def remove(self, member: M) -> None:
        entry = self._members.pop(member, None)
        if entry is None:
            return
        anchor, scopes = entry
        if not scopes:
            del self._unscoped[member]
            self._unscoped_view = tuple(self._unscoped)
            return
        by_value = self._anchored[anchor]
        for value in scopes[anchor]:
            bucket = by_value[value]
            del bucket[member]
            if not bucket:
                del by_value[value]
        if not by_value:
            del self._anchored[anchor]

    def match(self, headers: Mapping[str, str]) -> list[M]:
        """Members whose scopes the headers satisfy, each once."""
        found = list(self._unscoped_view)
        if not self._anchored or not headers:
            return found
        for anchor, by_value in self._anchored.items():
            value = headers.get(anchor)
            if value is None:
                continue
            bucket = by_value.get(value)
            if bucket is None:
                continue
            for member in bucket:
                scopes = self._members[member][1]
                if len(scopes) == 1 or matches(scopes, headers):
                    found.append(member)
        return found
