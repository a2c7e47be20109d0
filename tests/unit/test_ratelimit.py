"""The sliding-window limiter's token corrections, the quota a simulated 429 reports, OpenAI's durations."""

from __future__ import annotations

from rubberduck.faults.ratelimit import (
    PLAUSIBLE_RPM,
    PLAUSIBLE_TPM,
    WINDOW_SECONDS,
    SlidingWindowLimiter,
    refusal_quota,
)
from rubberduck.providers.openai import duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_real_usage_replaces_the_estimate_in_the_window() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(None, 1000, clock)
    quota, charge = limiter.acquire(25)
    assert quota.allowed and charge is not None
    limiter.correct(charge, 1100)
    refused, _ = limiter.acquire(25)
    assert not refused.allowed and refused.reason == "tokens per minute"
    assert refused.remaining_tokens == 0
    clock.now += WINDOW_SECONDS  # the corrected charge leaves the window with its corrected size
    assert limiter.acquire(25)[0].allowed
    assert limiter.peek().remaining_tokens == 1000 - 25


def test_a_correction_after_the_charge_left_the_window_changes_nothing() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(None, 1000, clock)
    _, charge = limiter.acquire(25)
    assert charge is not None
    clock.now += WINDOW_SECONDS
    assert limiter.peek().remaining_tokens == 1000
    limiter.correct(charge, 5000)
    assert limiter.peek().remaining_tokens == 1000


def test_peek_records_nothing() -> None:
    limiter = SlidingWindowLimiter(2, None, Clock())
    for _ in range(3):
        assert limiter.peek().remaining_requests == 2
    limiter.acquire(1)
    assert limiter.peek().remaining_requests == 1


def test_an_injected_429_without_a_limiter_shows_the_requests_exhausted() -> None:
    quota = refusal_quota(None, 2.5)
    assert (quota.limit_requests, quota.remaining_requests, quota.reset_requests_s) == (PLAUSIBLE_RPM, 0, 2.5)
    assert (quota.limit_tokens, quota.remaining_tokens, quota.reset_tokens_s) == (
        PLAUSIBLE_TPM,
        PLAUSIBLE_TPM,
        0.0,
    )
    assert not quota.allowed and quota.retry_after_s == 2.5


def test_a_limiter_refusal_keeps_its_numbers_and_fills_in_the_other_dimension() -> None:
    limiter = SlidingWindowLimiter(1, None, Clock())
    limiter.acquire(10)
    refused, _ = limiter.acquire(10)
    quota = refusal_quota(refused, refused.retry_after_s)
    assert (quota.limit_requests, quota.remaining_requests) == (1, 0)
    assert quota.reset_requests_s == WINDOW_SECONDS
    assert (quota.limit_tokens, quota.remaining_tokens, quota.reset_tokens_s) == (
        PLAUSIBLE_TPM,
        PLAUSIBLE_TPM,
        0.0,
    )


def test_openai_durations() -> None:
    cases = {0: "0s", 0.0004: "0s", 0.001: "1ms", 0.02: "20ms", 0.9996: "1s", 6: "6s", 86.4: "1m26.4s"}
    cases |= {360: "6m0s", 59.9999: "1m0s", 3599.5: "59m59.5s"}
    assert {value: duration(value) for value in cases} == cases
