"""Per-client token buckets: the sidecar's rate limit.

Each client (its address) has a bucket of ``burst`` tokens refilled at ``rate``
tokens per second; a request takes one token or is refused with the number of
seconds until one is back (the ``Retry-After`` of the 429). Pure and clocked by
the caller, so it is tested without sleeping. The table of buckets is bounded:
when it grows past ``max_clients``, buckets that have refilled completely (and
so carry no information) are dropped first, then the oldest.
"""

from __future__ import annotations

import math

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, rate: float, burst: int, max_clients: int = 10_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        # client -> (tokens, time of last update)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str, now: float) -> float:
        """Take a token for ``client``: 0.0 when allowed, else seconds to wait (> 0)."""
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
        if tokens >= 1.0:
            self._store(client, tokens - 1.0, now)
            return 0.0
        self._store(client, tokens, now)
        return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> int:
        """Whole seconds for a ``Retry-After`` header (at least 1)."""
        return max(1, math.ceil(wait))

    def __len__(self) -> int:
        return len(self._buckets)

    def _store(self, client: str, tokens: float, now: float) -> None:
        self._buckets.pop(client, None)  # re-insert: dict order is recency order
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self.max_clients:
            self._evict(now)

    def _evict(self, now: float) -> None:
        full_after = self.burst / self.rate
        for key, (_, last) in list(self._buckets.items()):
            if now - last >= full_after:
                del self._buckets[key]
        while len(self._buckets) > self.max_clients:
            del self._buckets[next(iter(self._buckets))]
