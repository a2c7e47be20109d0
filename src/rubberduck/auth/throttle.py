"""Sliding-window counters for brute-force protection: failed logins per account and per client IP."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindow:
    """At most `limit` hits per key within `window` seconds; memory bounded to `max_keys` keys.

    Process-local on purpose: one Rubberduck process serves the control plane. Evicting the least
    recently used key when full means a flood of made-up keys can only forget old ones, never grow memory.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> float:
        """Seconds until one more hit is allowed for `key`; 0 when it is allowed now."""
        hits = self._recent(key)
        if hits is None or len(hits) < self.limit:
            return 0.0
        # The oldest hit that still counts has to leave the window first.
        return max(hits[-self.limit] + self.window - self.clock(), 0.001)

    def hit(self, key: str) -> None:
        hits = self._recent(key)
        if hits is None:
            hits = self._hits[key] = deque()
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        hits.append(self.clock())
        self._hits.move_to_end(key)
        while len(hits) > self.limit:  # older hits can no longer decide anything
            hits.popleft()

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)

    def _recent(self, key: str) -> deque[float] | None:
        hits = self._hits.get(key)
        if hits is None:
            return None
        cutoff = self.clock() - self.window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if not hits:
            del self._hits[key]
            return None
        return hits


class LoginThrottle:
    """Failed logins counted per account and per IP; either over its limit refuses further attempts.

    A success clears the account's count (the owner is back) but not the IP's, so an attacker who owns
    one account cannot use it to reset the counter while guessing others from the same address.
    """

    def __init__(self, per_account: int, per_ip: int, window: float) -> None:
        self.accounts = SlidingWindow(per_account, window)
        self.ips = SlidingWindow(per_ip, window)

    def retry_after(self, ip: str, account: str) -> float:
        return max(self.accounts.retry_after(account.lower()), self.ips.retry_after(ip))

    def failed(self, ip: str, account: str) -> None:
        self.accounts.hit(account.lower())
        self.ips.hit(ip)

    def succeeded(self, account: str) -> None:
        self.accounts.clear(account.lower())
