"""Who may register and how people log in: server-wide settings a superuser changes at run time.

The environment gives the defaults; what a superuser PUTs is stored in app_settings and wins from then
on. The global IP lists live with the failure-simulation settings (one key, one GlobalIPFilter).
"""

from __future__ import annotations

import logging
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rubberduck.api.failure import IP_FILTER_KEY, apply_global_lists, store_global_lists
from rubberduck.db.database import Database
from rubberduck.db.settings_store import load_setting, save_setting
from rubberduck.faults.config import IPLists
from rubberduck.faults.stages import GlobalIPFilter
from rubberduck.settings import Settings

logger = logging.getLogger("rubberduck.auth")

ACCOUNTS_KEY = "accounts"
SOCIAL_PROVIDERS = ("google", "github")

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_LOCAL_PART = re.compile(r"^[^@\s]+$")


def normalise_allowlist_entry(entry: str) -> str:
    """An e-mail address, "@domain" or "domain", lower-cased; anything else is a ValueError."""
    value = entry.strip().lower()
    local, at, domain = value.rpartition("@")
    if at and local and not _LOCAL_PART.match(local):
        raise ValueError(f"{entry!r} is not an e-mail address or a domain")
    if not _DOMAIN.match(domain):
        raise ValueError(f"{entry!r} is not an e-mail address or a domain")
    return value


def allowlisted(allowlist: list[str], email: str) -> bool:
    address = email.strip().lower()
    domain = address.rpartition("@")[2]
    for entry in allowlist:
        if "@" in entry and not entry.startswith("@"):
            if entry == address:
                return True
        elif entry.lstrip("@") == domain:
            return True
    return False


class AccountSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registration: Literal["open", "closed", "allowlist"]
    registration_allowlist: list[str] = Field(max_length=10_000)
    password_login: bool
    google_login: bool
    github_login: bool
    require_verification: bool
    log_retention_days: int | None = Field(ge=1, le=36_500)

    @field_validator("registration_allowlist")
    @classmethod
    def _entries(cls, entries: list[str]) -> list[str]:
        return [normalise_allowlist_entry(entry) for entry in entries]

    @classmethod
    def from_env(cls, settings: Settings) -> AccountSettings:
        return cls(
            registration=settings.registration,
            registration_allowlist=settings.registration_allowlist,
            password_login=settings.password_login,
            google_login=True,
            github_login=True,
            require_verification=settings.require_verification,
            log_retention_days=settings.log_retention_days,
        )

    def social_enabled(self, provider: str) -> bool:
        return bool(getattr(self, f"{provider}_login", False))

    def registration_refusal(self, email: str, first_user: bool) -> str | None:
        """Why `email` may not create an account now, as an error code; None when it may."""
        if first_user:  # bootstrapping: someone has to become the first superuser
            return None
        if self.registration == "open":
            return None
        if self.registration == "allowlist" and allowlisted(self.registration_allowlist, email):
            return None
        return "REGISTRATION_CLOSED" if self.registration == "closed" else "REGISTRATION_NOT_ALLOWED"


class ServerSettings(AccountSettings, IPLists):
    """The body of GET|PUT /api/settings: every field is required, a PUT replaces the whole thing."""

    ip_allow: list[str] = Field(max_length=1000)
    ip_block: list[str] = Field(max_length=1000)


class PolicyStore:
    """The current settings, held in memory (the login path reads them on every attempt)."""

    def __init__(self, settings: Settings, database: Database, global_filter: GlobalIPFilter) -> None:
        self.database = database
        self.global_filter = global_filter
        self.env_defaults = AccountSettings.from_env(settings)
        self.accounts = self.env_defaults

    async def load(self) -> None:
        stored = await load_setting(self.database, ACCOUNTS_KEY)
        if stored:
            try:
                merged = {**self.env_defaults.model_dump(), **stored}
                self.accounts = AccountSettings.model_validate(merged)
            except ValidationError as exc:  # a hand-edited database: keep running on the env defaults
                logger.error("ignoring invalid stored account settings: %s", exc)
        apply_global_lists(self.global_filter, await load_setting(self.database, IP_FILTER_KEY))

    def snapshot(self) -> ServerSettings:
        lists = self.global_filter.lists
        return ServerSettings(**self.accounts.model_dump(), ip_allow=lists.ip_allow, ip_block=lists.ip_block)

    async def save(self, new: ServerSettings) -> None:
        accounts = AccountSettings.model_validate(new.model_dump(exclude={"ip_allow", "ip_block"}))
        await save_setting(self.database, ACCOUNTS_KEY, accounts.model_dump(mode="json"))
        await store_global_lists(
            self.database, self.global_filter, IPLists(ip_allow=new.ip_allow, ip_block=new.ip_block)
        )
        self.accounts = accounts
