"""Access tokens: signed JWTs that logout can revoke.

Why this shape: a JWT is checked with the secret alone (it survives restarts and needs no session
table full of live bearer tokens that a leaked database would hand out). What a bare JWT cannot do is
end before it expires, so each token carries an id (`jti`) and logout records that id in
`revoked_tokens` until the token's own expiry; every authenticated request does one primary-key
lookup there. Each token also carries the user's `session_generation`: a password reset bumps it,
which ends every session of that user at once.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import jwt
from fastapi_users import BaseUserManager, exceptions
from fastapi_users.authentication import JWTStrategy
from fastapi_users.jwt import decode_jwt, generate_jwt
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from rubberduck.db.models import RevokedToken, User

# Tokens without an expiry (lifetime 0) are remembered as revoked for this long.
_NO_EXPIRY_KEEP = timedelta(days=3650)


class SigningSecret:
    """The key tokens are signed with. Known once the app has started: it may be kept in the database,
    which can only be read then (see db/secret_store.py), while the routes that use it are built before."""

    def __init__(self, value: str = "") -> None:
        self._value = value

    def set(self, value: str) -> None:
        self._value = value

    @property
    def known(self) -> bool:
        return bool(self._value)

    @property
    def value(self) -> str:
        if not self._value:
            raise RuntimeError("the signing secret is not known yet: it is resolved when the app starts")
        return self._value


class RevocableJWTStrategy(JWTStrategy[User, uuid.UUID]):
    def __init__(self, secret: str, lifetime_seconds: int, session: AsyncSession) -> None:
        super().__init__(secret=secret, lifetime_seconds=lifetime_seconds or None)
        self.session = session

    async def write_token(self, user: User) -> str:
        data = {
            "sub": str(user.id),
            "aud": self.token_audience,
            "jti": secrets.token_urlsafe(24),
            "gen": user.session_generation,
        }
        return generate_jwt(data, self.encode_key, self.lifetime_seconds, algorithm=self.algorithm)

    async def read_token(
        self, token: str | None, user_manager: BaseUserManager[User, uuid.UUID]
    ) -> User | None:
        claims = self._claims(token)
        if claims is None:
            return None
        jti, generation = claims.get("jti"), claims.get("gen")
        if not isinstance(jti, str) or not isinstance(generation, int):
            return None  # not one of ours (e.g. signed before revocation existed)
        if await self.session.get(RevokedToken, jti) is not None:
            return None
        try:
            user = await user_manager.get(user_manager.parse_id(claims.get("sub")))
        except (exceptions.UserNotExists, exceptions.InvalidID):
            return None
        return user if user.session_generation == generation else None

    async def destroy_token(self, token: str, user: User) -> None:
        claims = self._claims(token)
        if claims is None or not isinstance(claims.get("jti"), str):
            return
        now = datetime.now(UTC)
        expiry = claims.get("exp")
        expires_at = datetime.fromtimestamp(expiry, UTC) if isinstance(expiry, int) else now + _NO_EXPIRY_KEEP
        # Rows for tokens that expired by themselves are dead weight: drop them on the way.
        await self.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
        if await self.session.get(RevokedToken, claims["jti"]) is None:
            self.session.add(RevokedToken(jti=claims["jti"], expires_at=expires_at))
        await self.session.commit()

    def _claims(self, token: str | None) -> dict[str, object] | None:
        if token is None:
            return None
        try:
            return decode_jwt(token, self.decode_key, self.token_audience, algorithms=[self.algorithm])
        except jwt.PyJWTError:
            return None
