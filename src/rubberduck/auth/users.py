"""fastapi-users wiring: the user manager, the JWT backend and the dependencies routers receive."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi_users import BaseUserManager, FastAPIUsers, InvalidPasswordException, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from rubberduck.auth.email import reset_email, verification_email
from rubberduck.auth.schemas import UserCreate
from rubberduck.auth.tokens import RevocableJWTStrategy, SigningSecret
from rubberduck.db.database import Database
from rubberduck.db.models import OAuthAccount, User

if TYPE_CHECKING:
    from rubberduck.auth.email import Outbox
    from rubberduck.auth.policy import PolicyStore

MIN_PASSWORD_LENGTH = 8
_REGISTRATION_LOCK = 0x7265676973746572  # any constant: the advisory lock's key ("register")


class SocialLoginError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class AccountHooks:
    """What the user manager needs besides its database: the policy, the outbox, the links' base."""

    policy: PolicyStore
    outbox: Outbox
    public_url: str
    on_user_deleted: Callable[[uuid.UUID], Awaitable[None]] | None = None
    # Serialises "is this the first account?" with its creation, so two first registrations cannot
    # both become superuser.
    registration_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    def __init__(
        self, user_db: SQLAlchemyUserDatabase[User, uuid.UUID], secret: str, hooks: AccountHooks | None = None
    ) -> None:
        super().__init__(user_db)
        self.reset_password_token_secret = secret
        self.verification_token_secret = secret
        self.hooks = hooks
        self.session: AsyncSession = user_db.session

    async def validate_password(self, password: str, user: schemas.BaseUserCreate | User) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidPasswordException(
                reason=f"Password should be at least {MIN_PASSWORD_LENGTH} characters"
            )
        if user.email and user.email.lower() in password.lower():
            raise InvalidPasswordException(reason="Password should not contain the e-mail address")

    async def any_user(self) -> bool:
        return await has_users(self.session)

    async def create(
        self, user_create: schemas.BaseUserCreate, safe: bool = False, request: Request | None = None
    ) -> User:
        """Registration through the API follows the registration policy; the CLI (no request) does not."""
        if request is None or self.hooks is None:
            return await super().create(user_create, safe, request)
        async with self.hooks.registration_lock:
            await self._lock_registrations()
            first = not await self.any_user()
            policy = self.hooks.policy.accounts
            refusal = policy.registration_refusal(user_create.email, first)
            if refusal is None and not first and not policy.password_login:
                refusal = "REGISTRATION_CLOSED"  # password accounts could not log in anyway
            if refusal is not None:
                raise HTTPException(status.HTTP_403_FORBIDDEN, detail=refusal)
            if first:  # created as superuser in one insert; nothing else from the request is trusted
                forced = {"is_superuser": True, "is_active": True, "is_verified": False}
                return await super().create(user_create.model_copy(update=forced), False, request)
            return await super().create(user_create, safe, request)

    async def _lock_registrations(self) -> None:
        """Across nodes too: each node's lock serialises only its own registrations. On a shared database a
        transaction-scoped advisory lock does it for all of them; the insert's commit releases it."""
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REGISTRATION_LOCK})

    async def social_login(self, provider: str, account_id: str, email: str) -> User:
        """The user behind a Google/GitHub identity whose e-mail the provider verified.

        Known identity: its user. Else an existing account with that e-mail is linked, but only if that
        account verified the address too (otherwise whoever registered it first, perhaps not its owner,
        would get the provider's login). Else a new verified account, if the registration policy allows.
        """
        linked = await self.session.scalar(
            select(User)
            .join(OAuthAccount, OAuthAccount.user_id == User.id)
            .where(OAuthAccount.oauth_name == provider, OAuthAccount.account_id == account_id)
        )
        if linked is not None:
            return linked
        existing = await self.user_db.get_by_email(email)
        if existing is not None:
            if not existing.is_verified:
                raise SocialLoginError("OAUTH_USER_ALREADY_EXISTS")
            await self._link(existing, provider, account_id, email)
            return existing
        assert self.hooks is not None
        async with self.hooks.registration_lock:
            await self._lock_registrations()
            first = not await self.any_user()
            refusal = self.hooks.policy.accounts.registration_refusal(email, first)
            if refusal is not None:
                raise SocialLoginError(refusal)
            user = await self.user_db.create(
                {
                    "email": email,
                    # Nobody knows this password; the account logs in through the provider (or resets it).
                    "hashed_password": self.password_helper.hash(self.password_helper.generate()),
                    "is_verified": True,
                    "is_superuser": first,
                }
            )
        await self._link(user, provider, account_id, email)
        return user

    async def _link(self, user: User, provider: str, account_id: str, email: str) -> None:
        self.session.add(
            OAuthAccount(user_id=user.id, oauth_name=provider, account_id=account_id, account_email=email)
        )
        await self.session.commit()

    async def on_after_register(self, user: User, request: Request | None = None) -> None:
        if (
            self.hooks is not None
            and self.hooks.policy.accounts.require_verification
            and not user.is_verified
        ):
            await self.request_verify(user, request)

    async def on_after_update(
        self, user: User, update_dict: dict[str, Any], request: Request | None = None
    ) -> None:
        # A new address is unverified again (fastapi-users resets the flag): send its link right away.
        if "email" in update_dict and not user.is_verified:
            await self.on_after_register(user, request)

    async def on_after_request_verify(self, user: User, token: str, request: Request | None = None) -> None:
        if self.hooks is not None:
            self.hooks.outbox.send(verification_email(self.hooks.public_url, user.email, token))

    async def on_after_forgot_password(self, user: User, token: str, request: Request | None = None) -> None:
        if self.hooks is not None:
            self.hooks.outbox.send(reset_email(self.hooks.public_url, user.email, token))

    async def on_after_reset_password(self, user: User, request: Request | None = None) -> None:
        # Whoever knew the old password may hold a token: end every session of this user.
        await self.user_db.update(user, {"session_generation": user.session_generation + 1})

    async def on_before_delete(self, user: User, request: Request | None = None) -> None:
        if self.hooks is not None and self.hooks.on_user_deleted is not None:
            await self.hooks.on_user_deleted(user.id)


async def has_users(session: AsyncSession) -> bool:
    return (await session.scalar(select(User).limit(1))) is not None


@dataclass
class Auth:
    users: FastAPIUsers[User, uuid.UUID]
    backend: AuthenticationBackend[User, uuid.UUID]
    current_user: Callable[..., Any]
    current_superuser: Callable[..., Any]
    get_session: Callable[[], AsyncGenerator[AsyncSession, None]]
    get_user_manager: Callable[..., AsyncGenerator[UserManager, None]]
    # (user, token) of an active user, verified or not: what logout needs.
    current_user_token: Callable[..., Any]
    # The user a bearer token names (None if it names nobody), read in a session of its own that is
    # closed before it returns: for long-lived responses, which must not hold a session while they run.
    user_for_token: Callable[[str], Awaitable[User | None]]


def build_auth(
    database: Database, secret: SigningSecret | str, lifetime_seconds: int, hooks: AccountHooks | None = None
) -> Auth:
    signing = secret if isinstance(secret, SigningSecret) else SigningSecret(secret)

    async def get_session() -> AsyncGenerator[AsyncSession, None]:
        async with database.session() as session:
            yield session

    async def get_user_db(
        session: AsyncSession = Depends(get_session),
    ) -> AsyncGenerator[SQLAlchemyUserDatabase[User, uuid.UUID], None]:
        yield SQLAlchemyUserDatabase(session, User)

    async def get_user_manager(
        user_db: SQLAlchemyUserDatabase[User, uuid.UUID] = Depends(get_user_db),
    ) -> AsyncGenerator[UserManager, None]:
        yield UserManager(user_db, signing.value, hooks)

    def get_strategy(session: AsyncSession = Depends(get_session)) -> RevocableJWTStrategy:
        return RevocableJWTStrategy(signing.value, lifetime_seconds, session)

    backend = AuthenticationBackend[User, uuid.UUID](
        name="jwt", transport=BearerTransport(tokenUrl="/api/auth/jwt/login"), get_strategy=get_strategy
    )
    users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])

    async def user_for_token(token: str) -> User | None:
        async with database.session() as session:
            manager = UserManager(SQLAlchemyUserDatabase(session, User), signing.value, hooks)
            strategy = RevocableJWTStrategy(signing.value, lifetime_seconds, session)
            return await strategy.read_token(token, manager)

    active_user = users.current_user(active=True)

    async def current_user(user: User = Depends(active_user)) -> User:
        # Checked per request, not baked into the routers, so switching verification on applies at once.
        if hooks is not None and hooks.policy.accounts.require_verification and not user.is_verified:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="USER_NOT_VERIFIED")
        return user

    async def current_superuser(user: User = Depends(current_user)) -> User:
        if not user.is_superuser:
            raise HTTPException(status.HTTP_403_FORBIDDEN)
        return user

    return Auth(
        users=users,
        backend=backend,
        current_user=current_user,
        current_superuser=current_superuser,
        get_session=get_session,
        get_user_manager=get_user_manager,
        current_user_token=users.authenticator.current_user_token(active=True),
        user_for_token=user_for_token,
    )


async def create_user(database: Database, secret: str, email: str, password: str, superuser: bool) -> User:
    """Create a verified user directly (the CLI's first-setup path)."""
    async with database.session() as session:
        manager = UserManager(SQLAlchemyUserDatabase(session, User), secret)
        user = await manager.create(
            UserCreate(email=email, password=password, is_superuser=superuser, is_verified=True),
            safe=False,
            request=_NO_REQUEST,
        )
        return user


_NO_REQUEST: Request | None = None
