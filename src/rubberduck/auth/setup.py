"""Accounts wired once per app: policy, e-mail, throttle, social clients, and the routes that use them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import select

from rubberduck.api.settings import settings_router
from rubberduck.auth.email import Outbox, build_mailer
from rubberduck.auth.login import login_router
from rubberduck.auth.oauth import SocialClient, build_social_clients
from rubberduck.auth.policy import PolicyStore
from rubberduck.auth.schemas import UserCreate, UserRead, UserUpdate
from rubberduck.auth.social import social_router
from rubberduck.auth.throttle import LoginThrottle
from rubberduck.auth.tokens import SigningSecret
from rubberduck.auth.users import AccountHooks, Auth, build_auth
from rubberduck.cache.store import LayeredCache
from rubberduck.db.database import Database
from rubberduck.db.models import Proxy
from rubberduck.db.secret_store import resolve_secret
from rubberduck.faults.stages import GlobalIPFilter
from rubberduck.proxy.manager import ProxyManager
from rubberduck.settings import Settings


@dataclass
class Accounts:
    settings: Settings
    database: Database
    secret: SigningSecret
    auth: Auth
    policy: PolicyStore
    outbox: Outbox
    throttle: LoginThrottle
    social: dict[str, SocialClient]

    async def start(self) -> None:
        """Before anything is served (and after migrations): the signing secret, which may be kept in the
        database, and the stored settings (applying the global IP lists)."""
        if not self.secret.known:
            self.secret.set(await resolve_secret(self.settings, self.database))
        await self.policy.load()

    async def stop(self) -> None:
        await self.outbox.drain()


def build_accounts(
    settings: Settings,
    secret: str | None,
    database: Database,
    global_filter: GlobalIPFilter,
    manager: ProxyManager,
    cache: LayeredCache,
) -> Accounts:
    """`secret` None: resolved by `Accounts.start()` (RUBBERDUCK_SECRET, the data dir's or the database's)."""
    signing = SigningSecret(secret or "")
    policy = PolicyStore(settings, database, global_filter)
    outbox = Outbox(build_mailer(settings))

    async def forget_proxies(user_id: uuid.UUID) -> None:
        # The rows go with the user (ON DELETE CASCADE); the running servers and cached bodies in
        # memory would not, and a later proxy reusing an id must not inherit them.
        async with database.session() as session:
            proxies = (await session.scalars(select(Proxy).where(Proxy.owner_id == user_id))).all()
        for proxy in proxies:
            await manager.stop(proxy, force=True)
            await cache.clear(proxy.id)

    hooks = AccountHooks(policy, outbox, settings.resolved_public_url, on_user_deleted=forget_proxies)
    auth = build_auth(database, signing, settings.jwt_lifetime_seconds, hooks)
    throttle = LoginThrottle(
        settings.login_max_failures_per_account,
        settings.login_max_failures_per_ip,
        settings.login_failure_window_seconds,
    )
    social = build_social_clients(settings)
    return Accounts(settings, database, signing, auth, policy, outbox, throttle, social)


def include_account_routes(app: FastAPI, accounts: Accounts) -> None:
    auth, policy, settings = accounts.auth, accounts.policy, accounts.settings
    users = auth.users
    app.include_router(login_router(auth, policy, accounts.throttle))
    app.include_router(users.get_register_router(UserRead, UserCreate), prefix="/api/auth", tags=["auth"])
    app.include_router(users.get_reset_password_router(), prefix="/api/auth", tags=["auth"])
    app.include_router(users.get_verify_router(UserRead), prefix="/api/auth", tags=["auth"])
    app.include_router(
        users.get_users_router(UserRead, UserUpdate),
        prefix="/api/users",
        tags=["users"],
        # The run-time verification rule applies here too (fastapi-users' own flag is fixed at start).
        dependencies=[Depends(auth.current_user)],
    )
    for client in accounts.social.values():
        app.include_router(social_router(client, auth, policy, settings.resolved_public_url, accounts.secret))
    app.include_router(settings_router(auth, policy, list(accounts.social)))
    if settings.cors_origins:
        # Bearer tokens, not cookies, authenticate the API: no credentials mode needed cross-origin.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )
