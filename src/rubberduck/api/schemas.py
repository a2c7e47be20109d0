"""Request and response bodies of the control-plane API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

PROXY_STATUSES = ("stopped", "starting", "running", "error")


def _check_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class ProxyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    provider: str = Field(min_length=1, max_length=40)
    model: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    port: int | None = Field(default=None, ge=1, le=65535)
    upstream_url: str | None = Field(default=None, max_length=2000)
    options: dict[str, Any] = Field(default_factory=dict)

    _url = field_validator("upstream_url")(_check_url)


class ProxyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    provider: str | None = Field(default=None, min_length=1, max_length=40)
    model: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    tags: list[str] | None = Field(default=None, max_length=50)
    port: int | None = Field(default=None, ge=1, le=65535)
    upstream_url: str | None = Field(default=None, max_length=2000)
    options: dict[str, Any] | None = None

    _url = field_validator("upstream_url")(_check_url)


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
    status: str
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class CacheCleared(BaseModel):
    deleted: int


class Health(BaseModel):
    status: str
    version: str
    database: str
    running_proxies: int
    in_flight_requests: int
    log_rows_dropped: int
    log_rows_queued: int  # taken from requests, not yet written: stays small while the writer keeps up
