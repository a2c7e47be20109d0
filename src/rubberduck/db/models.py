"""Database tables. Migrations in db/migrations mirror these definitions."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID
from fastapi_users_db_sqlalchemy.generics import GUID, TIMESTAMPAware, now_utc
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    __tablename__ = "users"
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPAware(timezone=True), default=now_utc)
    # Carried in every access token; bumping it (password reset) ends all of the user's sessions at once.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Proxy(Base):
    __tablename__ = "proxies"
    # One user's proxies have distinct names; different users may share a name.
    __table_args__ = (Index("uq_proxies_owner_name", "owner_id", "name", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(GUID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    port: Mapped[int] = mapped_column(Integer, unique=True)
    upstream_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # Provider-specific options that are not secrets (e.g. an AWS profile name and region).
    options: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # The failure-simulation config (faults.config.FailureConfig as JSON); empty means none.
    failure: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # How the proxy records and replays (cache.config.CacheConfig as JSON); empty means the defaults.
    cache: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="stopped")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Whether the proxy should be running: survives restarts, unlike `status`.
    desired_running: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPAware(timezone=True), default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMPAware(timezone=True), default=now_utc, onupdate=now_utc
    )


class AppSetting(Base):
    """Server-wide settings a superuser changes at run time, one JSON value per key."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, object]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMPAware(timezone=True), default=now_utc, onupdate=now_utc
    )


class CacheEntryRow(Base):
    """One recorded answer: the request's key (namespace included) and which occurrence of it."""

    __tablename__ = "cache_entries"
    # Browsing and clearing one namespace, and finding the nearest recording of an operation.
    __table_args__ = (Index("ix_cache_entries_namespace", "proxy_id", "namespace", "operation"),)

    proxy_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("proxies.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    occurrence: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    namespace: Mapped[str] = mapped_column(String(200), default="", server_default="")
    operation: Mapped[str | None] = mapped_column(String(100), nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[int] = mapped_column(Integer)
    headers: Mapped[list[list[str]]] = mapped_column(JSON)
    # Chunks are stored framed (see cache.entry) so a replayed stream keeps its boundaries.
    body: Mapped[bytes] = mapped_column(LargeBinary)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(Integer)
    # The canonical request the entry answered (no credentials), the paths left out of its key, and
    # each chunk's offset from the request's start (streams), for explaining misses and recorded pacing.
    request: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    ignored: Mapped[list[str]] = mapped_column(JSON, default=list)
    offsets: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPAware(timezone=True), default=now_utc)
    expires_at: Mapped[datetime | None] = mapped_column(TIMESTAMPAware(timezone=True), nullable=True)
    hits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_hit_at: Mapped[datetime | None] = mapped_column(TIMESTAMPAware(timezone=True), nullable=True)


class RequestLog(Base):
    __tablename__ = "request_logs"
    __table_args__ = (
        # The log API's pages: one user's rows newest first, optionally one proxy's.
        # The filter columns ride along so a filter that matches little is checked inside the index.
        Index(
            "ix_request_logs_user_time",
            "user_id",
            "created_at",
            "id",
            "status",
            "cache_status",
            "fault",
            "model",
            "proxy_id",
        ),
        Index(
            "ix_request_logs_proxy_time",
            "proxy_id",
            "created_at",
            "id",
            "status",
            "cache_status",
            "fault",
            "model",
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPAware(timezone=True), index=True)
    proxy_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[uuid.UUID | None] = mapped_column(GUID, nullable=True)
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2000))
    operation: Mapped[str | None] = mapped_column(String(60), nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    upstream_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    ttfb_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    cache_status: Mapped[str] = mapped_column(String(10))
    cache_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    fault: Mapped[str | None] = mapped_column(String(40), nullable=True)
    input_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cached_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    saved_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class MetricsRollup(Base):
    """Per-proxy request statistics per time bucket, at 1-minute, 15-minute and 1-hour resolution.

    Latencies are kept as a histogram (fixed buckets) so percentiles can be computed for any set of
    proxies and any span, not just the ones stored.
    """

    __tablename__ = "metrics_rollups"

    resolution: Mapped[str] = mapped_column(String(4), primary_key=True)  # 1m | 15m | 1h
    bucket_start: Mapped[datetime] = mapped_column(TIMESTAMPAware(timezone=True), primary_key=True)
    proxy_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # In the key: a proxy id freed by a deletion and given to someone else must not mix their numbers.
    user_id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, index=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    cache_hits: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    faults: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    saved_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_histogram: Mapped[list[int]] = mapped_column(JSON, default=list)


class OAuthAccount(Base):
    """A Google/GitHub identity linked to a user. The provider's tokens are not kept: login needs them once."""

    __tablename__ = "oauth_accounts"
    __table_args__ = (UniqueConstraint("oauth_name", "account_id", name="uq_oauth_accounts_identity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(GUID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    oauth_name: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(String(320))
    account_email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(TIMESTAMPAware(timezone=True), default=now_utc)


class RevokedToken(Base):
    """Access tokens ended by logout, kept until they would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMPAware(timezone=True), index=True)
