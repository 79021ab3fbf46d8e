"""Whether a connection may subscribe to a topic and with which scopes, and which
Origins may open a WebSocket, checked against the real topic catalog."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from bridge import catalog, sessions
from bridge.policy import Refusal, admit, origin_allowed
from bridge.protocol import ErrorCode, ScopeValue
from bridge.scopes import Scopes
from bridge.sessions import Session

CATALOG = catalog.load()
LIMIT = 32


def session(
    topics: list[str] | None = None,
    scopes: dict[str, dict[str, ScopeValue]] | None = None,
) -> Session:
    return sessions.mint("alice", topics, scopes, ttl=3600, idle_timeout=600, now=0)


def verdict(
    topic: str,
    requested: dict[str, ScopeValue] | None = None,
    owner: Session | None = None,
    held: Collection[str] = (),
    limit: int = LIMIT,
) -> Scopes | Refusal:
    return admit(CATALOG, owner or session(), held, limit, topic, requested)


def refusal(result: Scopes | Refusal) -> Refusal:
    assert isinstance(result, Refusal), result
    return result


# -- admit ------------------------------------------------------------------------


def test_a_topic_without_scopes_is_admitted_unscoped() -> None:
    assert verdict("payload.list") == {}


def test_requested_scopes_are_admitted_normalised() -> None:
    assert verdict("scanner.jobs", {"jobId": ["7", "8"], "scannerId": "s"}) == {
        "jobId": frozenset({"7", "8"}),
        "scannerId": frozenset({"s"}),
    }


def test_an_unknown_topic_is_refused() -> None:
    refused = refusal(verdict("payload.lists"))
    assert refused.code is ErrorCode.UNKNOWN_TOPIC
    assert "payload.lists" in refused.message


def test_a_topic_outside_the_sessions_topics_is_forbidden() -> None:
    owner = session(topics=["payload.list"])
    refused = refusal(verdict("tunnel.status", owner=owner))
    assert refused.code is ErrorCode.FORBIDDEN
    assert "tunnel.status" in refused.message


def test_a_topic_within_the_sessions_topics_is_admitted() -> None:
    owner = session(topics=["payload.list", "tunnel.status"])
    assert verdict("tunnel.status", owner=owner) == {}


def test_a_scope_key_the_topic_does_not_declare_is_invalid() -> None:
    refused = refusal(verdict("payload.list", {"tunnelId": "t1"}))
    assert refused.code is ErrorCode.INVALID_SCOPES
    assert "tunnelId" in refused.message


def test_a_scope_without_values_is_invalid() -> None:
    refused = refusal(verdict("payload.list", {"payloadId": []}))
    assert refused.code is ErrorCode.INVALID_SCOPES


def test_forced_session_scopes_apply_when_none_are_requested() -> None:
    owner = session(scopes={"payload.list": {"payloadId": "123"}})
    assert verdict("payload.list", owner=owner) == {"payloadId": frozenset({"123"})}
    assert verdict("payload.list", {}, owner=owner) == {"payloadId": frozenset({"123"})}


def test_requesting_other_values_than_the_forced_ones_is_forbidden() -> None:
    owner = session(scopes={"payload.list": {"payloadId": "123"}})
    for requested in (
        {"payloadId": "456"},
        {"payloadId": ["123", "456"]},
    ):
        refused = refusal(verdict("payload.list", requested, owner=owner))
        assert refused.code is ErrorCode.FORBIDDEN
        assert "123" in refused.message


def test_requesting_exactly_the_forced_values_is_admitted() -> None:
    owner = session(scopes={"scanner.jobs": {"jobId": ["1", "2"]}})
    assert verdict("scanner.jobs", {"jobId": ["2", "1", "2"]}, owner=owner) == {
        "jobId": frozenset({"1", "2"})
    }


def test_a_single_string_equals_a_forced_list_of_one() -> None:
    owner = session(scopes={"payload.list": {"payloadId": ["123"]}})
    assert verdict("payload.list", {"payloadId": "123"}, owner=owner) == {
        "payloadId": frozenset({"123"})
    }


def test_forced_scopes_of_one_topic_leave_others_free() -> None:
    owner = session(scopes={"payload.list": {"payloadId": "123"}})
    assert verdict("tunnel.status", {"tunnelId": "t9"}, owner=owner) == {
        "tunnelId": frozenset({"t9"})
    }


def test_forced_scopes_with_a_key_the_topic_lacks_are_invalid() -> None:
    owner = session(scopes={"payload.list": {"tunnelId": "t1"}})
    refused = refusal(verdict("payload.list", owner=owner))
    assert refused.code is ErrorCode.INVALID_SCOPES


def test_a_new_topic_beyond_the_limit_is_refused() -> None:
    refused = refusal(
        verdict("payload.list", held={"tunnel.status", "scanner.jobs"}, limit=2)
    )
    assert refused.code is ErrorCode.TOPIC_LIMIT
    assert "2" in refused.message


def test_a_new_topic_below_the_limit_is_admitted() -> None:
    assert verdict("payload.list", held={"tunnel.status"}, limit=2) == {}


def test_a_held_topic_may_be_subscribed_again_at_the_limit() -> None:
    held = {"payload.list", "tunnel.status"}
    assert verdict("payload.list", {"payloadId": "9"}, held=held, limit=2) == {
        "payloadId": frozenset({"9"})
    }


def test_the_topic_is_checked_before_the_limit() -> None:
    held = {"payload.list", "tunnel.status"}
    assert refusal(verdict("nope.topic", held=held, limit=2)).code is (
        ErrorCode.UNKNOWN_TOPIC
    )
    owner = session(topics=["payload.list"])
    assert refusal(verdict("scanner.jobs", owner=owner, held=held, limit=2)).code is (
        ErrorCode.FORBIDDEN
    )


# -- origin_allowed ----------------------------------------------------------------


@pytest.mark.parametrize("allowed", [None, ("https://app.example.com",), ("*",)])
def test_a_request_without_origin_is_allowed(allowed: tuple[str, ...] | None) -> None:
    assert origin_allowed(None, "h:9009", allowed)
    assert origin_allowed(None, None, allowed)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://h:9009", "h:9009"),
        ("http://h:9009", "h:9009"),
        ("https://h:9009/", "h:9009"),
        ("https://H:9009", "h:9009"),
        ("https://h", "h:443"),
        ("https://h:443", "h"),
        ("https://h", "h"),
        ("http://h", "h:80"),
        ("https://[::1]:9009", "[::1]:9009"),
        ("https://[::1]", "[::1]:443"),
    ],
)
def test_unset_origins_allow_the_edges_own_origin(origin: str, host: str) -> None:
    assert origin_allowed(origin, host, None)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://evil:9009", "h:9009"),
        ("https://h:9010", "h:9009"),
        ("https://h", "h:80"),
        ("http://h", "h:443"),
        ("https://h.evil:9009", "h:9009"),
        ("null", "h:9009"),
        ("https://h:9009", None),
    ],
)
def test_unset_origins_refuse_other_origins(origin: str, host: str | None) -> None:
    assert not origin_allowed(origin, host, None)


def test_a_listed_origin_is_allowed() -> None:
    allowed = ("https://app.example.com", "https://admin.example.com")
    assert origin_allowed("https://admin.example.com", "edge:9009", allowed)
    assert origin_allowed("https://app.example.com/", "edge:9009", allowed)


def test_an_origin_missing_from_the_list_is_refused_even_if_same_origin() -> None:
    allowed = ("https://app.example.com",)
    assert not origin_allowed("https://evil.example.com", "edge:9009", allowed)
    assert not origin_allowed("https://edge:9009", "edge:9009", allowed)


def test_a_star_allows_any_origin() -> None:
    assert origin_allowed("https://anything.example", "edge:9009", ("*",))
    assert origin_allowed("null", None, ("https://app.example.com", "*"))
