"""Ordering of the confirmation, the snapshot and live events for one
subscription (SPEC section 6, points 1 to 3)."""

from __future__ import annotations

from bridge.delivery import (
    Phase,
    StoredEvent,
    TopicSubscription,
    latest_per_subject,
    select,
)
from bridge.scopes import normalize

CONFIRMATION = b"subscribed"


def live(seq: int) -> bytes:
    return f"live-{seq}".encode()


def snap(seq: int) -> bytes:
    return f"snap-{seq}".encode()


def subscription() -> tuple[TopicSubscription, list[bytes]]:
    sent: list[bytes] = []
    return TopicSubscription("payload.list", {}, sent.append, "c1"), sent


def stored(seq: int, subject: str, **headers: str) -> StoredEvent:
    return StoredEvent(seq, subject, headers, snap(seq))


# -- phases -----------------------------------------------------------------------


def test_a_new_subscription_is_pending_at_position_zero() -> None:
    sub, sent = subscription()
    assert sub.phase is Phase.PENDING
    assert sub.position == 0
    assert sub.frame_id == "c1"
    assert sent == []


def test_a_pending_subscription_keeps_offered_frames_without_sending() -> None:
    sub, sent = subscription()
    sub.offer(11, live(11))
    sub.offer(12, live(12))
    assert sent == []
    assert sub.phase is Phase.PENDING


def test_going_live_sends_confirmation_then_snapshot_then_kept_frames() -> None:
    sub, sent = subscription()
    sub.offer(11, live(11))
    sub.offer(12, live(12))
    sub.go_live(CONFIRMATION, 10, [snap(3), snap(8)])
    assert sent == [CONFIRMATION, snap(3), snap(8), live(11), live(12)]
    assert sub.phase is Phase.LIVE
    assert sub.position == 12


def test_the_confirmation_is_sent_even_without_snapshot_or_kept_frames() -> None:
    sub, sent = subscription()
    sub.go_live(CONFIRMATION, 0, [])
    assert sent == [CONFIRMATION]
    assert sub.position == 0


def test_the_snapshot_may_come_from_a_generator() -> None:
    sub, sent = subscription()
    sub.go_live(CONFIRMATION, 5, (snap(seq) for seq in (1, 5)))
    assert sent == [CONFIRMATION, snap(1), snap(5)]


def test_kept_live_events_older_than_the_snapshot_are_dropped() -> None:
    sub, sent = subscription()
    for seq in (8, 9, 10, 11):
        sub.offer(seq, live(seq))
    sub.go_live(CONFIRMATION, 10, [snap(9), snap(10)])
    # 8, 9 and 10 are covered by the snapshot position; only 11 is new.
    assert sent == [CONFIRMATION, snap(9), snap(10), live(11)]


def test_a_kept_frame_offered_twice_is_sent_once() -> None:
    sub, sent = subscription()
    sub.offer(11, live(11))
    sub.offer(11, live(11))
    sub.offer(12, live(12))
    sub.go_live(CONFIRMATION, 10, [])
    assert sent == [CONFIRMATION, live(11), live(12)]


def test_live_offers_are_sent_at_once_in_order() -> None:
    sub, sent = subscription()
    sub.go_live(CONFIRMATION, 10, [])
    sub.offer(11, live(11))
    assert sent == [CONFIRMATION, live(11)]
    sub.offer(12, live(12))
    assert sent == [CONFIRMATION, live(11), live(12)]
    assert sub.position == 12


def test_live_offers_at_or_before_the_last_sent_sequence_are_dropped() -> None:
    sub, sent = subscription()
    sub.go_live(CONFIRMATION, 10, [])
    sub.offer(12, live(12))
    sub.offer(12, live(12))  # duplicate
    sub.offer(11, live(11))  # stale
    sub.offer(10, live(10))  # covered by the snapshot
    sub.offer(13, live(13))
    assert sent == [CONFIRMATION, live(12), live(13)]


def test_live_delivery_continues_after_the_last_kept_frame_sent() -> None:
    sub, sent = subscription()
    sub.offer(11, live(11))
    sub.offer(12, live(12))
    sub.go_live(CONFIRMATION, 10, [])
    sub.offer(12, live(12))
    sub.offer(13, live(13))
    assert sent == [CONFIRMATION, live(11), live(12), live(13)]


def test_live_offers_at_or_before_the_snapshot_position_are_dropped() -> None:
    sub, sent = subscription()
    sub.go_live(CONFIRMATION, 10, [snap(10)])
    sub.offer(9, live(9))
    sub.offer(10, live(10))
    assert sent == [CONFIRMATION, snap(10)]


def test_going_live_twice_does_nothing_the_second_time() -> None:
    sub, sent = subscription()
    sub.offer(11, live(11))
    sub.go_live(CONFIRMATION, 10, [snap(10)])
    sub.go_live(b"again", 20, [snap(20)])
    assert sent == [CONFIRMATION, snap(10), live(11)]
    assert sub.position == 11


def test_a_subscription_closed_while_pending_sends_nothing() -> None:
    sub, sent = subscription()
    sub.offer(11, live(11))
    sub.close()
    sub.go_live(CONFIRMATION, 10, [snap(10)])
    sub.offer(12, live(12))
    assert sent == []
    assert sub.phase is Phase.CLOSED


def test_a_subscription_closed_while_live_stops_sending() -> None:
    sub, sent = subscription()
    sub.go_live(CONFIRMATION, 10, [])
    sub.offer(11, live(11))
    sub.close()
    sub.offer(12, live(12))
    assert sent == [CONFIRMATION, live(11)]


# -- latest_per_subject and select -------------------------------------------------


def test_latest_per_subject_keeps_the_newest_event_of_each_subject() -> None:
    events = [
        stored(1, "payload.list.a"),
        stored(2, "payload.list.b"),
        stored(5, "payload.list.a"),
        stored(3, "payload.list.c"),
        stored(4, "payload.list.b"),
    ]
    assert [(e.seq, e.subject) for e in latest_per_subject(events)] == [
        (3, "payload.list.c"),
        (4, "payload.list.b"),
        (5, "payload.list.a"),
    ]


def test_latest_per_subject_ignores_an_older_event_read_later() -> None:
    events = [stored(7, "payload.list.a"), stored(2, "payload.list.a")]
    assert [e.seq for e in latest_per_subject(events)] == [7]


def test_latest_per_subject_of_nothing_is_empty() -> None:
    assert latest_per_subject([]) == []


def test_select_without_scopes_keeps_every_frame_in_order() -> None:
    events = [stored(1, "s.a", payloadId="a"), stored(2, "s.b")]
    assert select(events, {}) == [snap(1), snap(2)]


def test_select_keeps_only_frames_matching_the_scopes() -> None:
    events = [
        stored(1, "payload.list.a", payloadId="a"),
        stored(2, "payload.list.b", payloadId="b"),
        stored(3, "payload.list.c", payloadId="c"),
        stored(4, "payload.list"),
    ]
    scopes = normalize({"payloadId": ["a", "c"]}, ["payloadId"])
    assert select(events, scopes) == [snap(1), snap(3)]
