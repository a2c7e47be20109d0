"""Request and response bodies of the control-plane API."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from rubberduck.cache.config import CacheConfig
from rubberduck.redact import mask_url

PROXY_STATUSES = ("stopped", "starting", "running", "error")
# Ports below 1024 need root on most systems; they are refused here rather than failing at start.
FIRST_PROXY_PORT = 1024
_LINE_BREAKS = {"\n", "\r", "\t"}


def _controls(value: str, allowed: set[str]) -> bool:
    """Control characters (C0, DEL, C1) and the Unicode line/paragraph separators, except `allowed`."""
    return any(
        (unicodedata.category(char) == "Cc" or char in "\u2028\u2029") and char not in allowed
        for char in value
    )


def _one_line(value: str) -> str:
    """A name shown in lists and logs: one line of printable text, trimmed, not blank."""
    if _controls(value, set()):
        raise ValueError("must not contain control characters or line breaks")
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def _optional_line(value: str) -> str | None:
    """Like a name, but blank means none (an empty model is no model)."""
    if _controls(value, set()):
        raise ValueError("must not contain control characters or line breaks")
    return value.strip() or None


def _text(value: str | None) -> str | None:
    if value is not None and _controls(value, _LINE_BREAKS):
        raise ValueError("must not contain control characters other than line breaks and tabs")
    return value


OneLine = Annotated[str, AfterValidator(_one_line)]
OptionalLine = Annotated[str, AfterValidator(_optional_line)]
Port = Annotated[int, Field(ge=FIRST_PROXY_PORT, le=65535, strict=True)]  # strict: `true` is no port


def _check_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if _controls(value, set()):
        raise ValueError("must not contain control characters")
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class ProxyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: OneLine = Field(min_length=1, max_length=200)
    provider: OneLine = Field(min_length=1, max_length=40)
    model: OptionalLine | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    tags: list[OneLine] = Field(default_factory=list, max_length=50)
    port: Port | None = None
    upstream_url: str | None = Field(default=None, max_length=2000)
    options: dict[str, Any] = Field(default_factory=dict)
    cache: CacheConfig = Field(default_factory=CacheConfig)

    _url = field_validator("upstream_url")(_check_url)
    _description = field_validator("description")(_text)


class ProxyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: OneLine | None = Field(default=None, min_length=1, max_length=200)
    provider: OneLine | None = Field(default=None, min_length=1, max_length=40)
    model: OptionalLine | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    tags: list[OneLine] | None = Field(default=None, max_length=50)
    port: Port | None = None
    upstream_url: str | None = Field(default=None, max_length=2000)
    options: dict[str, Any] | None = None
    # Merged over the current settings: the fields given replace theirs, the rest stay.
    cache: dict[str, Any] | None = None

    _url = field_validator("upstream_url")(_check_url)
    _description = field_validator("description")(_text)


class ProxyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    provider: str
    model: str | None
    description: str | None
    tags: list[str]
    port: int
    upstream_url: str | None
    options: dict[str, Any]
    cache: CacheConfig
    status: str
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    # The stored URL keeps its password for forwarding; no answer shows it (nor a secret query value).
    _masked = field_validator("upstream_url")(mask_url)


class CacheCleared(BaseModel):
    deleted: int


class Health(BaseModel):
    status: str  # ok | degraded (the proxies still answer; `reasons` says what is missing)
    reasons: list[str] = []
    node: str  # this server's name (host:pid unless RUBBERDUCK_NODE_NAME is set)
    redis: str | None = None  # ok, or why not; None when this server is not a node of a team deployment
    version: str
    database: str
    running_proxies: int
    in_flight_requests: int
    log_rows_dropped: int
    log_rows_queued: int  # taken from requests, not yet written: stays small while the writer keeps up
