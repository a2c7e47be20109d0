"""The failure configuration of one proxy: typed, validated, and stored as JSON on the proxy."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rubberduck.faults.ipmatch import parse_pattern

Rate = Annotated[float, Field(ge=0.0, le=1.0, description="probability per request, 0-1")]
SIMULATED_STATUSES = (400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529)
SimulatedStatus = Literal[400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529]


class _Strict(BaseModel):
    # Python's JSON parser reads NaN and Infinity: no rate, delay or limit may be either.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TimeoutFault(_Strict):
    rate: Rate = 0.0
    mode: Literal["delay", "hang"] = "delay"
    delay_ms: int = Field(default=30_000, ge=0, le=3_600_000)


class Latency(_Strict):
    ms: int = Field(default=0, ge=0, le=600_000)
    jitter_ms: int = Field(default=0, ge=0, le=600_000)


class ErrorFault(_Strict):
    status: SimulatedStatus
    rate: Rate
    retry_after_s: float | None = Field(default=None, ge=0, le=3600, description="for 429/503/529")


class StreamFault(_Strict):
    truncate_rate: Rate = 0.0
    truncate_after_chunks: int = Field(default=3, ge=0, le=1_000_000)
    chunk_delay_ms: int = Field(default=0, ge=0, le=60_000)


class RateLimit(_Strict):
    rpm: int | None = Field(default=None, ge=1, le=10_000_000)
    tpm: int | None = Field(default=None, ge=1, le=10_000_000_000)


def _check_patterns(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        parse_pattern(pattern)
    return patterns


class IPLists(_Strict):
    ip_allow: list[str] = Field(default_factory=list, max_length=1000)
    ip_block: list[str] = Field(default_factory=list, max_length=1000)

    _allow = field_validator("ip_allow")(_check_patterns)
    _block = field_validator("ip_block")(_check_patterns)


class FailureConfig(IPLists):
    seed: int | None = Field(default=None, description="same seed + same request sequence = same faults")
    timeout: TimeoutFault = Field(default_factory=TimeoutFault)
    latency: Latency = Field(default_factory=Latency)
    errors: list[ErrorFault] = Field(default_factory=list, max_length=len(SIMULATED_STATUSES))
    stream: StreamFault = Field(default_factory=StreamFault)
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    allow_header_faults: bool = False

    @field_validator("errors")
    @classmethod
    def _errors_are_a_distribution(cls, errors: list[ErrorFault]) -> list[ErrorFault]:
        statuses = [error.status for error in errors]
        if len(set(statuses)) != len(statuses):
            raise ValueError("each status may appear only once")
        if sum(error.rate for error in errors) > 1.0 + 1e-9:
            raise ValueError("the error rates add up to more than 1")
        return errors

    @property
    def is_active(self) -> bool:
        return self != FailureConfig(seed=self.seed)
