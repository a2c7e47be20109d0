"""A proxy's cache settings: how it records and replays (the `cache` object of the proxy API)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rubberduck.cache.paths import validate_paths

CacheMode = Literal["record", "replay", "refresh", "off"]
Repeats = Literal["same", "sequence"]
Timing = Literal["instant", "recorded"]

MAX_TTL_SECONDS = 10 * 365 * 24 * 3600


class CacheConfig(BaseModel):
    """`record`: hit → replay, miss → upstream, 2xx stored. `replay`: the upstream is never contacted, a miss
    is a `replay_miss` error. `refresh`: always upstream, a 2xx replaces the entry. `off`: the cache is
    neither read nor written.
    """

    # Defaults count as required in answers, so the UI's generated types always have every field.
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)

    mode: CacheMode = "record"
    # `sequence`: the Nth identical request (per namespace) is its own entry, replayed in order.
    repeats: Repeats = "same"
    # JSON paths left out of the key (volatile fields such as `metadata.request_id`).
    ignore: tuple[str, ...] = Field(default=(), max_length=50)
    # `recorded`: a replayed stream keeps the pace it was recorded at.
    timing: Timing = "instant"
    ttl_seconds: int | None = Field(default=None, ge=1, le=MAX_TTL_SECONDS, strict=True)

    @field_validator("ignore")
    @classmethod
    def _valid_paths(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(validate_paths(list(paths)))


DEFAULT_CACHE = CacheConfig()


def merged_cache(current: dict[str, Any] | None, change: dict[str, Any]) -> CacheConfig:
    """A PATCH of the `cache` object: the fields given replace the current ones, the rest stay."""
    return CacheConfig.model_validate({**(current or {}), **change})
