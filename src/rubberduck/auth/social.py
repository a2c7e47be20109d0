"""GET /api/auth/{provider}/authorize and /callback: log in (or sign up) with Google or GitHub.

The browser ends on the provider's redirect to the callback, so the callback answers with a redirect
to the web UI's /login page, the outcome in the URL fragment (never sent to a server, never logged):
`#access_token=...&token_type=bearer` or `#error=CODE`.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse
from fastapi_users.jwt import decode_jwt, generate_jwt
from httpx_oauth.exceptions import HTTPXOAuthError
from pydantic import BaseModel

from rubberduck.auth.oauth import SocialClient
from rubberduck.auth.policy import PolicyStore
from rubberduck.auth.tokens import RevocableJWTStrategy, SigningSecret
from rubberduck.auth.users import Auth, SocialLoginError, UserManager
from rubberduck.db.models import User

logger = logging.getLogger("rubberduck.auth")

STATE_AUDIENCE = "rubberduck:oauth-state"
STATE_LIFETIME_SECONDS = 600


class AuthorizationURL(BaseModel):
    authorization_url: str


def social_router(
    client: SocialClient, auth: Auth, policy: PolicyStore, public_url: str, secret: SigningSecret
) -> APIRouter:
    name = client.name
    router = APIRouter(prefix=f"/api/auth/{name}", tags=["auth"])
    redirect_uri = f"{public_url}/api/auth/{name}/callback"
    cookie = f"rubberduck_oauth_{name}"
    cookie_path = f"/api/auth/{name}"
    secure = public_url.startswith("https://")

    @router.get("/authorize", response_model=AuthorizationURL)
    async def authorize(response: Response) -> AuthorizationURL:
        if not policy.accounts.social_enabled(name):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="LOGIN_METHOD_DISABLED")
        # The state binds the callback to this browser: it must come back with the same cookie.
        csrf = secrets.token_urlsafe(32)
        state = generate_jwt(
            {"aud": STATE_AUDIENCE, "csrf": csrf, "provider": name}, secret.value, STATE_LIFETIME_SECONDS
        )
        url = await client.get_authorization_url(redirect_uri, state)
        response.set_cookie(
            cookie,
            csrf,
            max_age=STATE_LIFETIME_SECONDS,
            path=cookie_path,
            secure=secure,
            httponly=True,
            samesite="lax",
        )
        return AuthorizationURL(authorization_url=url)

    @router.get("/callback", status_code=status.HTTP_303_SEE_OTHER, response_class=RedirectResponse)
    async def callback(
        request: Request,
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
        user_manager: UserManager = Depends(auth.get_user_manager),
        strategy: RevocableJWTStrategy = Depends(auth.backend.get_strategy),
    ) -> Response:
        try:
            if not policy.accounts.social_enabled(name):
                raise SocialLoginError("LOGIN_METHOD_DISABLED")
            if error is not None or code is None:
                raise SocialLoginError("OAUTH_CANCELLED")
            check_state(state, request.cookies.get(cookie))
            user = await sign_in(code, user_manager)
            fragment = {"access_token": await strategy.write_token(user), "token_type": "bearer"}
        except SocialLoginError as exc:
            fragment = {"error": exc.code}
        answer = RedirectResponse(f"{public_url}/login#{urlencode(fragment)}", status.HTTP_303_SEE_OTHER)
        answer.delete_cookie(cookie, path=cookie_path, secure=secure, httponly=True, samesite="lax")
        return answer

    def check_state(state: str | None, csrf_cookie: str | None) -> None:
        try:
            claims: dict[str, Any] = decode_jwt(state or "", secret.value, [STATE_AUDIENCE])
        except jwt.PyJWTError as exc:
            raise SocialLoginError("OAUTH_INVALID_STATE") from exc
        expected = claims.get("csrf")
        if (
            claims.get("provider") != name
            or not isinstance(expected, str)
            or not csrf_cookie
            or not secrets.compare_digest(expected, csrf_cookie)
        ):
            raise SocialLoginError("OAUTH_INVALID_STATE")

    async def sign_in(code: str, user_manager: UserManager) -> User:
        try:
            token = await client.get_access_token(code, redirect_uri)
            access_token = token.get("access_token")
            if not isinstance(access_token, str):  # GitHub reports a bad code with a 200 and "error"
                raise SocialLoginError("OAUTH_PROVIDER_ERROR")
            identity = await client.identity(access_token)
        except (HTTPXOAuthError, httpx.HTTPError, KeyError, ValueError) as exc:
            logger.warning("%s login failed talking to the provider: %s", name, type(exc).__name__)
            raise SocialLoginError("OAUTH_PROVIDER_ERROR") from exc
        if identity.email is None:
            raise SocialLoginError("OAUTH_NOT_AVAILABLE_EMAIL")
        user = await user_manager.social_login(name, identity.account_id, identity.email)
        if not user.is_active:
            raise SocialLoginError("LOGIN_BAD_CREDENTIALS")
        return user

    return router
