"""Per-client rate limits: a token bucket per client, refused with 429 and Retry-After.

Buckets live in this gateway instance: with N instances behind a balancer a client gets up to N
times the rate. That bounds abuse by one leaked credential without a shared store in the hot path;
a shared limit (e.g. in Redis) is a deployment choice documented in docs/security.md.
"""

import math
import threading
import time

from protocol.errors import ShuyuanError
from protocol.reasons import Reason

MAX_BUCKETS = 10_000


class RateLimited(ShuyuanError):
    """Too many requests from one client (DESIGN.md §6 `rate_limited`)."""

    status = 429
    reason = Reason.RATE_LIMITED


class RateLimiter:
    """Token buckets keyed by client: `rate` requests per second on average, bursts up to `burst`."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def retry_after(
        self, key: str, *, cost: int = 1, now: float | None = None, admitted: bool = False
    ) -> float | None:
        """Take `cost` tokens for key; None when allowed, else the seconds until they may be taken.

        A cost above the burst (a bulk query of more subjects than the burst) is admitted from a full
        bucket and leaves it in debt, so the client's average rate stays bounded by `rate` either way.
        `admitted`: the request already took its own token, so a full bucket holds one token less.
        """
        now = time.monotonic() if now is None else now
        needed = min(float(cost), self._burst - (1.0 if admitted else 0.0))
        with self._lock:
            tokens, last = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens >= needed:
                self._store(key, tokens - cost, now)
                return None
            self._store(key, tokens, now)
            return (needed - tokens) / self._rate

    def check(self, key: str, *, cost: int = 1, admitted: bool = False) -> None:
        """Raise RateLimited (with whole seconds of Retry-After) when key has not `cost` tokens left."""
        wait = self.retry_after(key, cost=cost, admitted=admitted)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            raise RateLimited(f"rate limit exceeded; retry in {seconds} s", retry_after=seconds)

    def _store(self, key: str, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= MAX_BUCKETS:
            # Full buckets carry no state worth keeping; dropping them bounds memory.
            self._buckets = {
                k: (t, at)
                for k, (t, at) in self._buckets.items()
                if min(self._burst, t + (now - at) * self._rate) < self._burst
            }
        self._buckets[key] = (tokens, now)
