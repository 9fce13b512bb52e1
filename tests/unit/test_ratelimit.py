"""Token buckets with an injected clock."""

from chatd.ratelimit import KeyedLimiter, TokenBucket


def test_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.4) is False  # 0.8 of a token so far
    assert bucket.take(0.5) is True
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]  # refills up to the burst only


def test_a_clock_going_back_adds_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=10.0)
    assert bucket.take(10.0) and not bucket.take(5.0)


def test_keyed_limiter_keeps_addresses_apart_and_forgets_the_oldest() -> None:
    limiter = KeyedLimiter(rate=0.0, burst=1, max_keys=2)
    assert limiter.allow("a", 0) and not limiter.allow("a", 0)
    assert limiter.allow("b", 0)
    assert limiter.allow("c", 0)  # "a" is forgotten: 3 keys over the limit of 2
    assert limiter.allow("a", 0) and not limiter.allow("c", 0)
