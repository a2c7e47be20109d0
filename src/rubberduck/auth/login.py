"""POST /api/auth/jwt/login and /logout: fastapi-users' shapes, plus the brute-force throttle and the
run-time policy (password login may be switched off, verification switched on, without a restart)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from fastapi_users.authentication.transport.bearer import BearerResponse
from fastapi_users.router.common import ErrorCode, ErrorModel

from rubberduck.auth.policy import PolicyStore
from rubberduck.auth.throttle import LoginThrottle
from rubberduck.auth.tokens import RevocableJWTStrategy
from rubberduck.auth.users import Auth, UserManager
from rubberduck.db.models import User

TOO_MANY_ATTEMPTS = "LOGIN_TOO_MANY_ATTEMPTS"
METHOD_DISABLED = "LOGIN_METHOD_DISABLED"


def login_router(auth: Auth, policy: PolicyStore, throttle: LoginThrottle) -> APIRouter:
    router = APIRouter(prefix="/api/auth/jwt", tags=["auth"])

    @router.post(
        "/login",
        name="auth:jwt.login",
        responses={
            status.HTTP_200_OK: {"model": BearerResponse},
            status.HTTP_400_BAD_REQUEST: {
                "model": ErrorModel,
                "description": f"{ErrorCode.LOGIN_BAD_CREDENTIALS} or {ErrorCode.LOGIN_USER_NOT_VERIFIED}",
            },
            status.HTTP_403_FORBIDDEN: {"model": ErrorModel, "description": METHOD_DISABLED},
            status.HTTP_429_TOO_MANY_REQUESTS: {"model": ErrorModel, "description": TOO_MANY_ATTEMPTS},
        },
    )
    async def login(
        request: Request,
        credentials: OAuth2PasswordRequestForm = Depends(),
        user_manager: UserManager = Depends(auth.get_user_manager),
        strategy: RevocableJWTStrategy = Depends(auth.backend.get_strategy),
    ) -> Response:
        ip = request.client.host if request.client else "unknown"
        account = credentials.username.strip()
        # Refused before the password is even hashed: a guessing loop costs the server nothing more.
        wait = throttle.retry_after(ip, account)
        if wait:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=TOO_MANY_ATTEMPTS,
                headers={"Retry-After": str(math.ceil(wait))},
            )
        user = await user_manager.authenticate(credentials)
        if user is None or not user.is_active:
            throttle.failed(ip, account)
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=ErrorCode.LOGIN_BAD_CREDENTIALS)
        settings = policy.accounts
        # Superusers keep password login so that a broken social login cannot lock everyone out.
        if not settings.password_login and not user.is_superuser:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=METHOD_DISABLED)
        if settings.require_verification and not user.is_verified:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=ErrorCode.LOGIN_USER_NOT_VERIFIED)
        throttle.succeeded(ip, account)
        response = await auth.backend.login(strategy, user)
        await user_manager.on_after_login(user, request, response)
        return response

    @router.post(
        "/logout",
        name="auth:jwt.logout",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={status.HTTP_401_UNAUTHORIZED: {"description": "Missing token or inactive user."}},
    )
    async def logout(
        user_token: tuple[User, str] = Depends(auth.current_user_token),
        strategy: RevocableJWTStrategy = Depends(auth.backend.get_strategy),
    ) -> Response:
        """The token stops working at once (it is recorded as revoked until it would have expired)."""
        user, token = user_token
        return await auth.backend.logout(strategy, user, token)

    return router
