"""Per-client token buckets."""

import pytest

from exchange.ratelimit import RateLimited, RateLimiter


def test_a_burst_is_allowed_then_refused_until_tokens_refill() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.retry_after("a", now=100.0) for _ in range(3)] == [None, None, None]
    wait = limiter.retry_after("a", now=100.0)
    assert wait == pytest.approx(0.5)
    assert limiter.retry_after("b", now=100.0) is None  # buckets are per client
    assert limiter.retry_after("a", now=100.6) is None  # refilled 1.2 tokens
    assert limiter.retry_after("a", now=100.6) is not None


def test_a_cost_above_the_burst_is_taken_from_a_full_bucket_and_leaves_a_debt() -> None:
    limiter = RateLimiter(rate=1.0, burst=4)
    assert limiter.retry_after("a", cost=10, now=100.0) is None  # a bulk of 10 subjects
    assert limiter.retry_after("a", now=100.0) == pytest.approx(7.0)  # -6 tokens: 7 s to get one back
    assert limiter.retry_after("a", now=107.0) is None
    # A request that already took its token (the bulk's own request) needs one token less to be full.
    assert limiter.retry_after("b", now=100.0) is None
    assert limiter.retry_after("b", cost=9, now=100.0, admitted=True) is None
    assert limiter.retry_after("c", cost=2, now=100.0) is None
    assert limiter.retry_after("c", cost=3, now=100.0) == pytest.approx(1.0)  # needs 3, holds 2


def test_check_raises_rate_limited_with_whole_seconds() -> None:
    limiter = RateLimiter(rate=0.1, burst=1)
    limiter.check("a")
    with pytest.raises(RateLimited) as refused:
        limiter.check("a")
    assert refused.value.status == 429 and refused.value.reason == "rate_limited"
    assert refused.value.extra["retry_after"] == 10


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("exchange.ratelimit.MAX_BUCKETS", 10)
    limiter = RateLimiter(rate=1000.0, burst=5)
    for i in range(50):
        limiter.retry_after(f"c{i}", now=float(i))
    assert len(limiter._buckets) <= 11
