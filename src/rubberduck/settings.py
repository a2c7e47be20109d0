"""One Settings object, read once from flags and RUBBERDUCK_* environment variables."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rubberduck.permissions import owner_only


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUBBERDUCK_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 9000
    data_dir: Path = Path("./data")
    # Empty means "SQLite file in data_dir"; any SQLAlchemy async URL works (postgresql+asyncpg://...).
    database_url: str = ""
    # Set: this server is a node of a team deployment; what nodes share in real time lives there
    # (cache entries and their invalidation, rate-limit windows, counters, config pushes, the live log).
    redis_url: str = Field(default="", repr=False)
    # The most a Redis operation may add to a proxied request before the node carries on without it.
    redis_timeout_seconds: float = Field(default=0.05, gt=0)
    # How this node names itself in /healthz and log rows; empty: host:pid.
    node_name: str = ""
    # Set by `serve --workers N` in its children: the control and proxy ports bind with SO_REUSEPORT.
    reuse_port: bool = False
    # Empty means "generate once and keep in data_dir/secret.key" (never a built-in default).
    secret: str = Field(default="", repr=False)
    jwt_lifetime_seconds: int = 3600 * 24
    first_proxy_port: int = 8001
    # Where proxy instances listen; a proxy port is reachable only locally unless set otherwise.
    proxy_host: str = "127.0.0.1"
    upstream_timeout_seconds: float = 600.0
    upstream_connect_timeout_seconds: float = 10.0
    max_request_bytes: int = 64 * 1024 * 1024
    # Proxy ports: a request head (request line and headers) larger than this gets a 431; a body that
    # sends nothing for `request_body_idle_seconds`, or is not complete `request_body_timeout_seconds`
    # after it began (a trickle), gets a 408. A declared length past max_request_bytes: a 413 at once.
    max_request_header_bytes: int = Field(default=64 * 1024, gt=0)
    request_body_idle_seconds: float = Field(default=30.0, gt=0)
    request_body_timeout_seconds: float = Field(default=120.0, gt=0)
    # Open GET /api/logs/stream connections per user; one more gets a 429. No stream holds a DB session.
    max_live_streams_per_user: int = Field(default=10, gt=0)
    # Bounded in-memory LRU in front of the persistent cache.
    memory_cache_bytes: int = 256 * 1024 * 1024
    # Responses larger than this are passed through but not cached.
    max_cached_response_bytes: int = 32 * 1024 * 1024
    graceful_stop_seconds: float = 30.0
    log_queue_size: int = 100_000
    log_batch_size: int = 500
    log_flush_seconds: float = 0.2
    # On SQLite, log batches are written by a child process (telemetry/sqlitewriter.py), so binding
    # their values never competes with the proxies for the GIL.
    log_writer_process: bool = True
    metrics_flush_seconds: float = 5.0
    # Bearer token Prometheus sends to GET /metrics; empty keeps /metrics closed.
    metrics_token: str = Field(default="", repr=False)

    # ---- accounts (env gives the defaults; a superuser's PUT /api/settings overrides them at run time)
    # Base of the links in e-mails and of the OAuth redirect; never taken from the request's Host header.
    public_url: str = ""
    # CORS stays off unless origins are listed (comma-separated in the environment).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # open | closed | allowlist. Whatever the policy, the very first account may register (and is superuser).
    registration: Literal["open", "closed", "allowlist"] = "closed"
    registration_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    require_verification: bool = True
    password_login: bool = True
    log_retention_days: int | None = None
    # Brute force: failed logins per (account, client address) and per client address within the
    # window, then 429. Never per account alone: that would let anyone lock the owner out.
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 20
    login_failure_window_seconds: float = 900.0
    # Reverse proxies (comma-separated addresses) whose X-Forwarded-For names the client; empty: none,
    # the socket peer is the client. Trusting it from anyone else would let a client pick its address.
    forwarded_allow_ips: str = ""
    # E-mail: console (links printed to the server log) | smtp | sendgrid.
    email_backend: Literal["console", "smtp", "sendgrid"] = "console"
    email_from: str = "Rubberduck <rubberduck@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    sendgrid_api_key: str = Field(default="", repr=False)
    sendgrid_api_url: str = "https://api.sendgrid.com/v3/mail/send"
    # Social login appears only when both the client id and the secret are set.
    google_client_id: str = ""
    google_client_secret: str = Field(default="", repr=False)
    google_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_userinfo_url: str = "https://openidconnect.googleapis.com/v1/userinfo"
    github_client_id: str = ""
    github_client_secret: str = Field(default="", repr=False)
    github_authorize_url: str = "https://github.com/login/oauth/authorize"
    github_token_url: str = "https://github.com/login/oauth/access_token"
    github_api_url: str = "https://api.github.com"

    @field_validator("cors_origins", "registration_allowlist", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def resolved_public_url(self) -> str:
        """Where users reach this server: RUBBERDUCK_PUBLIC_URL, else the bind address and port."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def resolved_node_name(self) -> str:
        return self.node_name or f"{socket.gethostname()}:{os.getpid()}"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'rubberduck.db').resolve()}"

    def prepare_data_dir(self) -> None:
        """The data dir holds the secret key and the database: owner only (0700), an existing one too."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner_only(self.data_dir, 0o700)

    def resolved_secret(self) -> str:
        """The configured secret, or one generated once into the data dir with mode 0600."""
        if self.secret:
            return self.secret
        self.prepare_data_dir()
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        return value
