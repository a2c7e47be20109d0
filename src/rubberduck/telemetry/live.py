"""The live log: each written row goes to every subscriber whose filter it passes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from rubberduck.telemetry.sqlite_rows import LogRow

RowFilter = Callable[[LogRow], bool]


@dataclass(eq=False)
class Subscription:
    matches: RowFilter
    queue: asyncio.Queue[LogRow]
    dropped: int = 0


class LogBroadcaster:
    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self.subscriptions: set[Subscription] = set()

    def subscribe(self, matches: RowFilter) -> Subscription:
        subscription = Subscription(matches, asyncio.Queue(maxsize=self.queue_size))
        self.subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)

    def __call__(self, rows: list[LogRow]) -> None:
        for subscription in list(self.subscriptions):
            for row in rows:
                if subscription.matches(row):
                    try:
                        subscription.queue.put_nowait(row)
                    except asyncio.QueueFull:  # a slow reader loses rows, never slows the writer
                        subscription.dropped += 1
