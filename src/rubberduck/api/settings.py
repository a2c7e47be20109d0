"""GET|PUT /api/settings (superusers) and the public GET /api/auth/config the login page starts from."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from rubberduck.api.proxies import field_error
from rubberduck.auth.policy import SOCIAL_PROVIDERS, PolicyStore, ServerSettings
from rubberduck.auth.users import Auth, has_users
from rubberduck.db.models import User


class AuthConfig(BaseModel):
    registration: Literal["open", "closed", "allowlist"]
    password_login: bool
    social: list[str]  # configured in the environment AND enabled in the settings
    require_verification: bool
    first_user: bool  # no account exists yet: the next one to register becomes superuser


def settings_router(auth: Auth, policy: PolicyStore, configured_social: list[str]) -> APIRouter:
    router = APIRouter()

    def enabled_social() -> list[str]:
        return [
            name
            for name in SOCIAL_PROVIDERS
            if name in configured_social and policy.accounts.social_enabled(name)
        ]

    @router.get("/api/auth/config", response_model=AuthConfig, tags=["auth"])
    async def auth_config(session: AsyncSession = Depends(auth.get_session)) -> AuthConfig:
        accounts = policy.accounts
        return AuthConfig(
            registration=accounts.registration,
            password_login=accounts.password_login,
            social=enabled_social(),
            require_verification=accounts.require_verification,
            first_user=not await has_users(session),
        )

    @router.get("/api/settings", response_model=ServerSettings, tags=["settings"])
    async def get_settings(_user: User = Depends(auth.current_superuser)) -> ServerSettings:
        return policy.snapshot()

    @router.put("/api/settings", response_model=ServerSettings, tags=["settings"])
    async def put_settings(
        body: ServerSettings, _user: User = Depends(auth.current_superuser)
    ) -> ServerSettings:
        """Replace every setting; they apply at once (no restart), the IP lists to every running proxy."""
        usable_social = [name for name in configured_social if body.social_enabled(name)]
        if not body.password_login and not usable_social:
            raise field_error(
                "password_login",
                "cannot switch off password login while no social login is configured and enabled",
            )
        await policy.save(body)
        return policy.snapshot()

    return router
