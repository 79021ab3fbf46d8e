"""Per-connection op budgets, driven by an injected clock."""

from __future__ import annotations

from bridge.ratelimit import OpLimiter, TokenBucket, Verdict

# Times and rates are binary fractions so that refills add up exactly.


def test_a_new_bucket_holds_its_burst() -> None:
    bucket = TokenBucket(rate=1.0, burst=3.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]


def test_the_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=4.0, burst=2.0, now=0.0)
    assert bucket.take(0.0)
    assert bucket.take(0.0)
    assert not bucket.take(0.0)
    assert not bucket.take(0.125)  # half a token
    assert bucket.take(0.25)  # the second half arrived
    assert not bucket.take(0.25)


def test_a_refused_take_does_not_spend_the_refill() -> None:
    bucket = TokenBucket(rate=4.0, burst=1.0, now=0.0)
    assert bucket.take(0.0)
    for moment in (0.0625, 0.125, 0.1875):
        assert not bucket.take(moment)
    assert bucket.take(0.25)


def test_the_bucket_never_holds_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=100.0, burst=2.0, now=0.0)
    assert [bucket.take(1000.0) for _ in range(3)] == [True, True, False]


def test_the_limiter_allows_ops_while_the_bucket_has_tokens() -> None:
    limiter = OpLimiter(rate=1.0, burst=3.0, strikes=5, now=0.0)
    assert [limiter.admit(0.0) for _ in range(3)] == [Verdict.ALLOW] * 3
    assert limiter.admit(0.0) is Verdict.REFUSE


def test_the_strikes_th_refusal_in_a_row_closes() -> None:
    limiter = OpLimiter(rate=1.0, burst=1.0, strikes=3, now=0.0)
    assert limiter.admit(0.0) is Verdict.ALLOW
    assert [limiter.admit(0.0) for _ in range(3)] == [
        Verdict.REFUSE,
        Verdict.REFUSE,
        Verdict.CLOSE,
    ]


def test_an_admitted_op_resets_the_strikes() -> None:
    limiter = OpLimiter(rate=1.0, burst=1.0, strikes=3, now=0.0)
    assert limiter.admit(0.0) is Verdict.ALLOW
    assert limiter.admit(0.0) is Verdict.REFUSE
    assert limiter.admit(0.5) is Verdict.REFUSE
    assert limiter.admit(1.0) is Verdict.ALLOW  # refilled: the count starts over
    assert limiter.admit(1.0) is Verdict.REFUSE
    assert limiter.admit(1.0) is Verdict.REFUSE
    assert limiter.admit(1.0) is Verdict.CLOSE


def test_a_limiter_with_one_strike_closes_on_the_first_refusal() -> None:
    limiter = OpLimiter(rate=1.0, burst=1.0, strikes=1, now=0.0)
    assert limiter.admit(0.0) is Verdict.ALLOW
    assert limiter.admit(0.0) is Verdict.CLOSE
