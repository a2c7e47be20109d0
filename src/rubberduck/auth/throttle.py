"""Sliding-window counters for brute-force protection: failed logins per (account, client address) and
per client address."""

from __future__ import annotations

import ipaddress
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
    """Failed logins counted per (account, address) and per address; either over its limit refuses.

    Never per account alone: then anyone, from anywhere, could lock the owner out by failing on purpose.
    The owner's right password from an address that has not failed still logs in. A success clears the
    (account, address) count but not the address's, so an attacker who owns one account cannot use it
    to reset the counter while guessing others from the same address.
    """

    def __init__(self, per_account: int, per_ip: int, window: float) -> None:
        self.pairs = SlidingWindow(per_account, window)
        self.ips = SlidingWindow(per_ip, window)

    def retry_after(self, ip: str, account: str) -> float:
        address = address_key(ip)
        return max(self.pairs.retry_after(_pair(address, account)), self.ips.retry_after(address))

    def failed(self, ip: str, account: str) -> None:
        address = address_key(ip)
        self.pairs.hit(_pair(address, account))
        self.ips.hit(address)

    def succeeded(self, ip: str, account: str) -> None:
        self.pairs.clear(_pair(address_key(ip), account))


def address_key(ip: str) -> str:
    """What one client's failures count against: its IPv4 address, or its IPv6 /64.

    One host usually holds a whole IPv6 /64, so counting single v6 addresses would let it rotate them.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _pair(address: str, account: str) -> str:
    return f"{address} {account.lower()}"  # an address holds no blank
