"""Session tokens and what a session allows, for how long."""

from __future__ import annotations

import base64
import hashlib
import re

import msgspec
import pytest

from bridge import sessions
from bridge.sessions import TOKEN_PREFIX, Session, mint, new_token, token_key

NOW = 1_796_284_800.0


# -- tokens -----------------------------------------------------------------------


def test_a_token_carries_at_least_256_random_bits_in_url_safe_text() -> None:
    token = new_token()
    assert token.startswith(TOKEN_PREFIX)
    random_part = token.removeprefix(TOKEN_PREFIX)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", random_part)
    assert len(random_part) * 6 >= 256
    raw = base64.urlsafe_b64decode(random_part + "=" * (-len(random_part) % 4))
    assert len(raw) * 8 >= 256


def test_tokens_differ() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000


def test_the_token_key_is_the_sha256_hex_of_the_token() -> None:
    token = new_token()
    key = token_key(token)
    assert key == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert token not in key
    assert token.removeprefix(TOKEN_PREFIX) not in key


def test_different_tokens_have_different_keys() -> None:
    assert token_key(new_token()) != token_key(new_token())


# -- expiry and topics ------------------------------------------------------------


def test_a_minted_session_starts_now_and_ends_after_its_ttl() -> None:
    session = mint("alice", None, None, ttl=3600, idle_timeout=600, now=NOW)
    assert session.subject == "alice"
    assert session.created_at == NOW
    assert session.last_used_at == NOW
    assert session.expires_at == NOW + 3600
    assert session.idle_timeout == 600
    assert session.scopes == {}


def test_a_session_expires_at_its_ttl_even_when_in_use() -> None:
    session = mint("alice", None, None, ttl=100, idle_timeout=60, now=NOW)
    used = msgspec.structs.replace(session, last_used_at=NOW + 90)
    assert not used.expired(NOW + 99.9)
    assert used.expired(NOW + 100)
    assert used.expired(NOW + 1000)


def test_a_session_expires_after_idling_past_its_idle_timeout() -> None:
    session = mint("alice", None, None, ttl=10_000, idle_timeout=60, now=NOW)
    assert not session.expired(NOW + 59.9)
    assert session.expired(NOW + 60)


def test_using_a_session_pushes_back_its_idle_expiry() -> None:
    session = mint("alice", None, None, ttl=10_000, idle_timeout=60, now=NOW)
    used = msgspec.structs.replace(session, last_used_at=NOW + 50)
    assert not used.expired(NOW + 100)
    assert used.expired(NOW + 110)


def test_a_session_without_topics_allows_every_topic() -> None:
    session = mint("alice", None, None, ttl=60, idle_timeout=60, now=NOW)
    assert session.allows("payload.list")
    assert session.allows("anything.at.all")


def test_a_session_with_topics_allows_only_those() -> None:
    session = mint("alice", ["payload.list"], None, ttl=60, idle_timeout=60, now=NOW)
    assert session.allows("payload.list")
    assert not session.allows("tunnel.status")


def test_a_session_with_an_empty_topic_list_allows_nothing() -> None:
    session = mint("alice", [], None, ttl=60, idle_timeout=60, now=NOW)
    assert not session.allows("payload.list")


# -- encoding ---------------------------------------------------------------------


def test_a_session_survives_encode_and_decode() -> None:
    session = mint(
        "alice",
        ["payload.list", "tunnel.status"],
        {"payload.list": {"payloadId": ["1", "2"]}, "tunnel.status": {"tunnelId": "t"}},
        ttl=3600,
        idle_timeout=600,
        now=NOW,
    )
    assert sessions.decode(sessions.encode(session)) == session


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"{}",
        b'{"subject": 5}',
        b'{"subject": "a", "created_at": 1, "expires_at": 2, "idle_timeout": 3}',
    ],
)
def test_decoding_garbage_gives_none(data: bytes) -> None:
    assert sessions.decode(data) is None


def test_a_session_has_no_token_to_leak() -> None:
    session = mint("alice", None, None, ttl=60, idle_timeout=60, now=NOW)
    assert "token" not in Session.__struct_fields__
    assert b"rt_" not in sessions.encode(session)
