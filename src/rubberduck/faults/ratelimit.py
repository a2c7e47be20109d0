"""Sliding-window request and token limits, exact under concurrency (check-and-record never awaits)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

WINDOW_SECONDS = 60.0


@dataclass(slots=True)
class Quota:
    """What a provider's rate-limit headers report, and whether this request may pass."""

    allowed: bool
    limit_requests: int | None
    remaining_requests: int | None
    reset_requests_s: float
    limit_tokens: int | None
    remaining_tokens: int | None
    reset_tokens_s: float
    retry_after_s: float
    reason: str = ""


class TokenCharge:
    """One request's entry in the token window, corrected once the real usage is known."""

    __slots__ = ("at", "in_window", "tokens")

    def __init__(self, at: float, tokens: int) -> None:
        self.at = at
        self.tokens = tokens
        self.in_window = True


class SlidingWindowLimiter:
    def __init__(self, rpm: int | None, tpm: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._clock = clock
        self._requests: deque[float] = deque()
        self._charges: deque[TokenCharge] = deque()
        self._tokens_in_window = 0

    def _now(self) -> float:
        return self._clock()

    def _expire(self, now: float) -> None:
        horizon = now - WINDOW_SECONDS
        while self._requests and self._requests[0] <= horizon:
            self._requests.popleft()
        while self._charges and self._charges[0].at <= horizon:
            charge = self._charges.popleft()
            charge.in_window = False
            self._tokens_in_window -= charge.tokens

    def acquire(self, estimated_tokens: int) -> tuple[Quota, TokenCharge | None]:
        """Admit and record the request, or refuse it with the seconds until it would fit."""
        now = self._now()
        self._expire(now)
        reset_requests = self._requests[0] + WINDOW_SECONDS - now if self._requests else 0.0
        reset_tokens = self._charges[0].at + WINDOW_SECONDS - now if self._charges else 0.0
        over_requests = self.rpm is not None and len(self._requests) >= self.rpm
        over_tokens = (
            self.tpm is not None
            and self._tokens_in_window > 0
            and self._tokens_in_window + estimated_tokens > self.tpm
        )
        if over_requests or over_tokens:
            retry = max(reset_requests if over_requests else 0.0, reset_tokens if over_tokens else 0.0)
            reason = "requests per minute" if over_requests else "tokens per minute"
            return self._quota(False, reset_requests, reset_tokens, retry, reason), None
        self._requests.append(now)
        charge = TokenCharge(now, estimated_tokens)
        self._charges.append(charge)
        self._tokens_in_window += estimated_tokens
        return self._quota(
            True, reset_requests or WINDOW_SECONDS, reset_tokens or WINDOW_SECONDS, 0.0
        ), charge

    def correct(self, charge: TokenCharge, actual_tokens: int) -> None:
        """Replace the estimate with the real input + output tokens (if still in the window).

        The log writer calls it once it has read the answer's usage, off the request path.
        """
        if charge.in_window:
            self._tokens_in_window += actual_tokens - charge.tokens
        charge.tokens = actual_tokens

    def peek(self) -> Quota:
        """The window as it stands, recording nothing (for a 429 another fault simulates)."""
        now = self._now()
        self._expire(now)
        reset_requests = self._requests[0] + WINDOW_SECONDS - now if self._requests else 0.0
        reset_tokens = self._charges[0].at + WINDOW_SECONDS - now if self._charges else 0.0
        return self._quota(True, reset_requests, reset_tokens, 0.0)

    def _quota(
        self, allowed: bool, reset_requests: float, reset_tokens: float, retry: float, reason: str = ""
    ) -> Quota:
        return Quota(
            allowed=allowed,
            limit_requests=self.rpm,
            remaining_requests=None if self.rpm is None else max(0, self.rpm - len(self._requests)),
            reset_requests_s=max(0.0, reset_requests),
            limit_tokens=self.tpm,
            remaining_tokens=None if self.tpm is None else max(0, self.tpm - self._tokens_in_window),
            reset_tokens_s=max(0.0, reset_tokens),
            retry_after_s=max(0.0, retry),
            reason=reason,
        )


# What a 429 reports for a dimension the proxy does not limit: OpenAI's tier-1 limits for gpt-4o-mini.
PLAUSIBLE_RPM = 500
PLAUSIBLE_TPM = 200_000


def refusal_quota(quota: Quota | None, retry_after_s: float) -> Quota:
    """The quota a simulated 429 reports: the limiter's own numbers where it limits, plausible ones elsewhere.

    A provider's 429 always carries both the request and the token limits. When no limit the proxy keeps
    explains the refusal (an injected 429), the first dimension it does not limit is shown exhausted,
    resetting when the client is told to retry.
    """
    base = quota or Quota(False, None, None, 0.0, None, None, 0.0, retry_after_s)
    quota = replace(base, allowed=False, retry_after_s=retry_after_s)
    explained = bool(base.reason)  # the limiter refused: its numbers say why
    if quota.limit_requests is None:
        quota.limit_requests = PLAUSIBLE_RPM
        quota.remaining_requests = PLAUSIBLE_RPM if explained else 0
        quota.reset_requests_s = 0.0 if explained else retry_after_s
        explained = True
    if quota.limit_tokens is None:
        quota.limit_tokens = PLAUSIBLE_TPM
        quota.remaining_tokens = PLAUSIBLE_TPM if explained else 0
        quota.reset_tokens_s = 0.0 if explained else retry_after_s
    return quota


def estimate_tokens(body: object, raw_size: int) -> int:
    """A pre-call estimate: about 4 bytes of prompt per token, plus the requested output budget."""
    budget = 0
    if isinstance(body, dict):
        for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
            value = body.get(name)
            if isinstance(value, int) and value > 0:
                budget = value
                break
        config = body.get("generationConfig") or body.get("inferenceConfig")
        if not budget and isinstance(config, dict):
            value = config.get("maxOutputTokens") or config.get("maxTokens")
            budget = value if isinstance(value, int) and value > 0 else 0
    return max(1, raw_size // 4) + budget
