"""Token buckets: per connection (frames) and per client address (HTTP forms)."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["KeyedLimiter", "TokenBucket"]


class TokenBucket:
    """``rate`` events per second sustained, ``burst`` at once."""

    __slots__ = ("_at", "_burst", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self._tokens = min(self._burst, self._tokens + max(0.0, now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class KeyedLimiter:
    """One :class:`TokenBucket` per key (a client address), remembering at most
    ``max_keys`` keys: the least recently seen is forgotten first."""

    def __init__(self, rate: float, burst: float, max_keys: int = 10_000) -> None:
        self._rate, self._burst, self._max_keys = rate, burst, max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        bucket = self._buckets.pop(key, None) or TokenBucket(self._rate, self._burst, now)
        self._buckets[key] = bucket
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return bucket.take(now)
