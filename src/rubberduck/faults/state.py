"""A proxy's live fault state: its config, its seeded dice, its rate-limit window, its IP filter."""

from __future__ import annotations

import random
from dataclasses import dataclass

from rubberduck.faults.config import FailureConfig
from rubberduck.faults.ipmatch import IPFilter
from rubberduck.faults.ratelimit import SlidingWindowLimiter


@dataclass(slots=True)
class Roll:
    """The dice for one request, always drawn in the same order so a seed replays exactly."""

    timeout: float
    error: float
    truncate: float
    jitter: float


class FaultState:
    """Built when a proxy starts or its failure config changes; kept across other config pushes."""

    def __init__(self, config: FailureConfig) -> None:
        self.config = config
        self.active = config.is_active
        self.rng = random.Random(config.seed)
        self.ip_filter = IPFilter.build(config.ip_allow, config.ip_block)
        limit = config.rate_limit
        self.limiter = SlidingWindowLimiter(limit.rpm, limit.tpm) if (limit.rpm or limit.tpm) else None
        # Cumulative thresholds: one roll picks at most one error, so rates are exact, never compounded.
        self.error_bands: list[tuple[float, int, float | None]] = []
        upper = 0.0
        for error in config.errors:
            upper += error.rate
            self.error_bands.append((upper, error.status, error.retry_after_s))

    def roll(self) -> Roll:
        draw = self.rng.random
        return Roll(draw(), draw(), draw(), draw())

    def pick_error(self, roll: float) -> tuple[int, float | None] | None:
        for upper, status, retry_after in self.error_bands:
            if roll < upper:
                return status, retry_after
        return None


NO_FAULTS = FailureConfig()
