"""Scope filters: normalising client scopes, matching message headers, and the
index that routes a message to the members whose scopes it satisfies."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping

import pytest

from bridge.scopes import ScopeError, ScopeIndex, as_lists, matches, normalize

KEYS = ("jobId", "scannerId")


class CountingHeaders(Mapping[str, str]):
    """Message headers that count every lookup made on them."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.lookups = 0

    def get(self, key: str, default: str | None = None) -> str | None:
        self.lookups += 1
        return self._values.get(key, default)

    def __getitem__(self, key: str) -> str:
        self.lookups += 1
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        self.lookups += 1
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        for key in self._values:
            self.lookups += 1
            yield key

    def __len__(self) -> int:
        return len(self._values)


def scoped(**values: str | list[str]) -> dict[str, frozenset[str]]:
    return normalize(values, KEYS)


# -- normalize --------------------------------------------------------------------


def test_a_string_value_becomes_a_set_of_one() -> None:
    assert normalize({"jobId": "7"}, KEYS) == {"jobId": frozenset({"7"})}


def test_a_list_value_accepts_each_of_its_values() -> None:
    assert normalize({"jobId": ["7", "8", "7"]}, KEYS) == {
        "jobId": frozenset({"7", "8"})
    }


def test_several_keys_are_kept_side_by_side() -> None:
    assert normalize({"jobId": "7", "scannerId": ["a", "b"]}, KEYS) == {
        "jobId": frozenset({"7"}),
        "scannerId": frozenset({"a", "b"}),
    }


def test_an_empty_list_is_refused_naming_the_key() -> None:
    with pytest.raises(ScopeError, match="'jobId'"):
        normalize({"jobId": []}, KEYS)


def test_a_key_the_topic_does_not_declare_is_refused_naming_it() -> None:
    with pytest.raises(ScopeError, match="'tenant'") as refused:
        normalize({"jobId": "7", "tenant": "acme"}, KEYS)
    assert "jobId" in str(refused.value)
    assert "scannerId" in str(refused.value)


def test_a_topic_without_scope_keys_refuses_every_key() -> None:
    with pytest.raises(ScopeError, match=r"'jobId'.*none"):
        normalize({"jobId": "7"}, ())


@pytest.mark.parametrize("requested", [None, {}])
def test_no_requested_scopes_normalise_to_an_empty_mapping(
    requested: dict[str, str] | None,
) -> None:
    assert normalize(requested, KEYS) == {}


# -- matches and as_lists ---------------------------------------------------------


def test_empty_scopes_match_any_headers() -> None:
    assert matches({}, {})
    assert matches({}, {"jobId": "7"})


def test_scopes_match_when_every_key_holds_one_of_its_values() -> None:
    scopes = scoped(jobId=["7", "8"], scannerId="a")
    assert matches(scopes, {"jobId": "8", "scannerId": "a", "other": "x"})
    assert not matches(scopes, {"jobId": "9", "scannerId": "a"})
    assert not matches(scopes, {"jobId": "7", "scannerId": "b"})


def test_a_missing_header_never_matches() -> None:
    assert not matches(scoped(jobId="7"), {})
    assert not matches(scoped(jobId="7", scannerId="a"), {"jobId": "7"})


def test_as_lists_sorts_keys_and_values() -> None:
    shown = as_lists(
        {"scannerId": frozenset({"b", "a", "c"}), "jobId": frozenset({"9"})}
    )
    assert shown == {"jobId": ["9"], "scannerId": ["a", "b", "c"]}
    assert list(shown) == ["jobId", "scannerId"]


def test_as_lists_of_no_scopes_is_empty() -> None:
    assert as_lists({}) == {}


# -- ScopeIndex ------------------------------------------------------------------


def test_unscoped_members_match_every_message() -> None:
    index: ScopeIndex[str] = ScopeIndex()
    index.add("all", {})
    assert index.match({}) == ["all"]
    assert index.match({"jobId": "7"}) == ["all"]
    assert index.match({"unrelated": "x"}) == ["all"]


def test_a_scoped_member_matches_only_its_values() -> None:
    index: ScopeIndex[str] = ScopeIndex()
    index.add("seven", scoped(jobId="7"))
    assert index.match({"jobId": "7"}) == ["seven"]
    assert index.match({"jobId": "8"}) == []


def test_a_missing_header_never_matches_a_scoped_member() -> None:
    index: ScopeIndex[str] = ScopeIndex()
    index.add("seven", scoped(jobId="7"))
    assert index.match({}) == []
    assert index.match({"scannerId": "7"}) == []


def test_a_member_with_several_values_is_returned_once() -> None:
    index: ScopeIndex[str] = ScopeIndex()
    index.add("many", scoped(jobId=["1", "2", "3"]))
    for value in ("1", "2", "3"):
        assert index.match({"jobId": value}) == ["many"]
    assert index.match({"jobId": "4"}) == []


def test_a_member_with_two_keys_needs_both_headers_to_match() -> None:
    index: ScopeIndex[str] = ScopeIndex()
    # Anchored on scannerId (fewer values); jobId is checked on the candidate.
    index.add("both", scoped(jobId=["1", "2", "3"], scannerId="s"))
    assert index.match({"jobId": "2", "scannerId": "s"}) == ["both"]
    assert index.match({"jobId": "9", "scannerId": "s"}) == []
    assert index.match({"jobId": "2", "scannerId": "t"}) == []
    assert index.match({"jobId": "2"}) == []
    assert index.match({"scannerId": "s"}) == []


def test_unscoped_and_scoped_members_are_returned_together() -> None:
    index: ScopeIndex[str] = ScopeIndex()
    index.add("all", {})
    index.add("seven", scoped(jobId="7"))
    index.add("eight", scoped(jobId="8"))
    index.add("seven-a", scoped(jobId="7", scannerId="a"))
    assert sorted(index.match({"jobId": "7", "scannerId": "a"})) == [
        "all",
        "seven",
        "seven-a",
    ]


def test_adding_a_member_again_replaces_its_scopes() -> None:
    index: ScopeIndex[str] = ScopeIndex()
    index.add("m", scoped(jobId="1"))
    index.add("m", scoped(jobId="2"))
    assert len(index) == 1
    assert index.match({"jobId": "1"}) == []
    assert index.match({"jobId": "2"}) == ["m"]


def test_replacing_scopes_with_none_makes_the_member_unscoped_and_back() -> None:
    index: ScopeIndex[str] = ScopeIndex()
    index.add("m", scoped(jobId="1"))
    index.add("m", {})
    assert index.match({"jobId": "2"}) == ["m"]
    index.add("m", scoped(jobId="1"))
    assert index.match({"jobId": "2"}) == []
    assert index.match({"jobId": "1"}) == ["m"]
    assert len(index) == 1


def test_len_and_in_follow_adds_and_removes() -> None:
    index: ScopeIndex[str] = ScopeIndex()
    assert len(index) == 0
    assert "a" not in index
    index.add("a", {})
    index.add("b", scoped(jobId="1"))
    assert len(index) == 2
    assert "a" in index
    assert "b" in index
    index.remove("a")
    assert "a" not in index
    assert len(index) == 1


def test_removing_an_unknown_member_does_nothing() -> None:
    index: ScopeIndex[str] = ScopeIndex()
    index.add("a", scoped(jobId="1"))
    index.remove("nobody")
    assert len(index) == 1
    assert index.match({"jobId": "1"}) == ["a"]


def test_removed_members_are_no_longer_matched() -> None:
    index: ScopeIndex[str] = ScopeIndex()
    index.add("a", scoped(jobId=["1", "2"]))
    index.add("b", scoped(jobId="1"))
    index.add("c", {})
    index.remove("a")
    index.remove("c")
    assert index.match({"jobId": "1"}) == ["b"]
    assert index.match({"jobId": "2"}) == []


def test_removing_every_scoped_member_leaves_no_buckets_to_probe() -> None:
    index: ScopeIndex[int] = ScopeIndex()
    for member in range(100):
        index.add(member, scoped(jobId=[str(member), "shared"], scannerId="s"))
    for member in range(100):
        index.remove(member)
    headers = CountingHeaders({"jobId": "shared", "scannerId": "s"})
    assert index.match(headers) == []
    # No bucket left behind: not one header is looked up.
    assert headers.lookups == 0
    index.add(7, scoped(jobId="shared"))
    assert index.match({"jobId": "shared"}) == [7]


@functools.cache
def _crowded_index(others: int) -> ScopeIndex[str]:
    """Three members matching jobId=7 and scannerId=s, and ``others`` that do not:
    a third on jobId only, a third on scannerId only, a third on both keys."""
    index: ScopeIndex[str] = ScopeIndex()
    for n in range(others):
        value = frozenset({f"other-{n}"})
        kind = n % 3
        if kind == 0:
            index.add(f"job-{n}", {"jobId": value})
        elif kind == 1:
            index.add(f"scanner-{n}", {"scannerId": value})
        else:
            index.add(f"pair-{n}", {"jobId": value, "scannerId": value})
    index.add("seven", scoped(jobId="7"))
    index.add("seven-or-eight", scoped(jobId=["7", "8"]))
    index.add("seven-at-s", scoped(jobId="7", scannerId=["s", "t"]))
    return index


def _lookups(index: ScopeIndex[str]) -> tuple[list[str], int]:
    headers = CountingHeaders({"jobId": "7", "scannerId": "s", "traceparent": "x"})
    found = index.match(headers)
    return found, headers.lookups


def test_match_cost_is_bounded_by_scope_keys_and_candidates_not_members() -> None:
    index = _crowded_index(10_000)
    assert len(index) == 10_003
    found, lookups = _lookups(index)
    assert sorted(found) == ["seven", "seven-at-s", "seven-or-eight"]
    # One probe per anchor key, plus for a candidate with several keys one lookup
    # per key; the 10,000 members on other values are never looked at.
    assert lookups <= len(KEYS) + len(found) * len(KEYS)


def test_match_cost_does_not_grow_with_non_matching_members() -> None:
    few = _lookups(_crowded_index(10))
    many = _lookups(_crowded_index(10_000))
    assert sorted(few[0]) == sorted(many[0])
    assert few[1] == many[1]
