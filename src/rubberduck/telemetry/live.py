"""The live log: each written row goes to every subscriber whose filter it passes."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from rubberduck.telemetry.sqlite_rows import LogRow

RowFilter = Callable[[LogRow], bool]


class TooManySubscriptions(Exception):
    """The owner already has as many live subscriptions as allowed."""


@dataclass(eq=False)
class Subscription:
    matches: RowFilter
    queue: asyncio.Queue[LogRow | None]  # None: the broadcaster closed, the stream ends
    owner: Hashable = None
    dropped: int = 0


class LogBroadcaster:
    def __init__(self, queue_size: int = 1000, per_owner: int | None = None) -> None:
        self.queue_size = queue_size
        self.per_owner = per_owner  # live subscriptions one owner may hold; None: no cap
        self.subscriptions: set[Subscription] = set()
        self.owners: Counter[Hashable] = Counter()
        self.closed = False

    def subscribe(self, matches: RowFilter, owner: Hashable = None) -> Subscription:
        """Raises TooManySubscriptions when `owner` already holds `per_owner` of them."""
        if self.per_owner is not None and self.owners[owner] >= self.per_owner:
            raise TooManySubscriptions(owner)
        subscription = Subscription(matches, asyncio.Queue(maxsize=self.queue_size), owner)
        self.subscriptions.add(subscription)
        self.owners[owner] += 1
        if self.closed:
            _end(subscription)
        return subscription

    def close(self) -> None:
        """The server is stopping: every stream ends now (it would otherwise keep its connection open)."""
        self.closed = True
        for subscription in list(self.subscriptions):
            _end(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self.subscriptions:
            self.subscriptions.discard(subscription)
            self.owners[subscription.owner] -= 1
            if self.owners[subscription.owner] <= 0:
                del self.owners[subscription.owner]

    def __call__(self, rows: list[LogRow]) -> None:
        for subscription in list(self.subscriptions):
            for row in rows:
                if subscription.matches(row):
                    try:
                        subscription.queue.put_nowait(row)
                    except asyncio.QueueFull:  # a slow reader loses rows, never slows the writer
                        subscription.dropped += 1


def _end(subscription: Subscription) -> None:
    queue = subscription.queue
    if queue.full():
        queue.get_nowait()  # the end matters more than the oldest row
        subscription.dropped += 1
    queue.put_nowait(None)
