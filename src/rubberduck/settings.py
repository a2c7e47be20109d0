"""One Settings object, read once from flags and RUBBERDUCK_* environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUBBERDUCK_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 9000
    data_dir: Path = Path("./data")
    # Empty means "SQLite file in data_dir"; any SQLAlchemy async URL works (postgresql+asyncpg://...).
    database_url: str = ""
    # Empty means "generate once and keep in data_dir/secret.key" (never a built-in default).
    secret: str = Field(default="", repr=False)
    jwt_lifetime_seconds: int = 3600 * 24
    first_proxy_port: int = 8001
    # Where proxy instances listen; a proxy port is reachable only locally unless set otherwise.
    proxy_host: str = "127.0.0.1"
    upstream_timeout_seconds: float = 600.0
    upstream_connect_timeout_seconds: float = 10.0
    max_request_bytes: int = 64 * 1024 * 1024
    # Bounded in-memory LRU in front of the persistent cache.
    memory_cache_bytes: int = 256 * 1024 * 1024
    # Responses larger than this are passed through but not cached.
    max_cached_response_bytes: int = 32 * 1024 * 1024
    graceful_stop_seconds: float = 30.0
    log_queue_size: int = 100_000
    log_batch_size: int = 2000
    log_flush_seconds: float = 0.2

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'rubberduck.db').resolve()}"

    def prepare_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

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
