"""fastapi-users wiring: the user manager, the JWT backend and the dependencies routers receive."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi_users import BaseUserManager, FastAPIUsers, InvalidPasswordException, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from sqlalchemy.ext.asyncio import AsyncSession

from rubberduck.auth.schemas import UserCreate
from rubberduck.db.database import Database
from rubberduck.db.models import User

MIN_PASSWORD_LENGTH = 8


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    def __init__(self, user_db: SQLAlchemyUserDatabase[User, uuid.UUID], secret: str) -> None:
        super().__init__(user_db)
        self.reset_password_token_secret = secret
        self.verification_token_secret = secret

    async def validate_password(self, password: str, user: schemas.BaseUserCreate | User) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidPasswordException(
                reason=f"Password should be at least {MIN_PASSWORD_LENGTH} characters"
            )
        if user.email and user.email.lower() in password.lower():
            raise InvalidPasswordException(reason="Password should not contain the e-mail address")


@dataclass
class Auth:
    users: FastAPIUsers[User, uuid.UUID]
    backend: AuthenticationBackend[User, uuid.UUID]
    current_user: Callable[..., Any]
    current_superuser: Callable[..., Any]
    get_session: Callable[[], AsyncGenerator[AsyncSession, None]]


def build_auth(database: Database, secret: str, lifetime_seconds: int) -> Auth:
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
        yield UserManager(user_db, secret)

    def get_strategy() -> JWTStrategy[User, uuid.UUID]:
        return JWTStrategy(secret=secret, lifetime_seconds=lifetime_seconds)

    backend = AuthenticationBackend(
        name="jwt", transport=BearerTransport(tokenUrl="/api/auth/jwt/login"), get_strategy=get_strategy
    )
    users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])
    return Auth(
        users=users,
        backend=backend,
        current_user=users.current_user(active=True),
        current_superuser=users.current_user(active=True, superuser=True),
        get_session=get_session,
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
