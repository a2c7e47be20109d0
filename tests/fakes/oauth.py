"""A fake OAuth 2 provider shaped like Google (OIDC userinfo) and GitHub (/user, /user/emails).

It runs on a real socket (FakeUpstream). /authorize approves at once, as if the user clicked "Allow",
for whichever identity the test set with `sign_in_as`; the code, then the access token, stay bound to it.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"


@dataclass(frozen=True)
class OAuthUser:
    account_id: str
    email: str
    verified: bool = True


class FakeOAuthProvider:
    def __init__(self) -> None:
        self.http = FakeUpstream()
        self._lock = threading.Lock()
        self._next: OAuthUser | None = None
        self._codes: dict[str, tuple[OAuthUser, str]] = {}
        self._tokens: dict[str, OAuthUser] = {}
        self.http.add_handler("GET", "/authorize", self._authorize)
        self.http.add_handler("POST", "/token", self._token)
        self.http.add_handler("GET", "/userinfo", self._google_userinfo)
        self.http.add_handler("GET", "/user", self._github_user)
        self.http.add_handler("GET", "/user/emails", self._github_emails)

    def __enter__(self) -> FakeOAuthProvider:
        self.http.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.stop()

    def sign_in_as(self, user: OAuthUser) -> None:
        with self._lock:
            self._next = user

    def env(self, *providers: str) -> dict[str, str]:
        """Server settings pointing Google and/or GitHub login at this fake."""
        url = self.http.url
        env: dict[str, str] = {}
        if "google" in providers:
            env |= {
                "RUBBERDUCK_GOOGLE_CLIENT_ID": CLIENT_ID,
                "RUBBERDUCK_GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
                "RUBBERDUCK_GOOGLE_AUTHORIZE_URL": f"{url}/authorize",
                "RUBBERDUCK_GOOGLE_TOKEN_URL": f"{url}/token",
                "RUBBERDUCK_GOOGLE_USERINFO_URL": f"{url}/userinfo",
            }
        if "github" in providers:
            env |= {
                "RUBBERDUCK_GITHUB_CLIENT_ID": CLIENT_ID,
                "RUBBERDUCK_GITHUB_CLIENT_SECRET": CLIENT_SECRET,
                "RUBBERDUCK_GITHUB_AUTHORIZE_URL": f"{url}/authorize",
                "RUBBERDUCK_GITHUB_TOKEN_URL": f"{url}/token",
                "RUBBERDUCK_GITHUB_API_URL": url,
            }
        return env

    async def _authorize(self, request: FakeRequest) -> FakeResponse:
        query = {key: values[0] for key, values in parse_qs(request.query).items()}
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return FakeResponse.json(400, {"error": "invalid_request"})
        with self._lock:
            user = self._next
            if user is None:
                return FakeResponse.json(400, {"error": "access_denied"})
            code = secrets.token_urlsafe(16)
            self._codes[code] = (user, query["redirect_uri"])
        location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return FakeResponse(302, [("location", location)])

    async def _token(self, request: FakeRequest) -> FakeResponse:
        form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return FakeResponse.json(401, {"error": "invalid_client"})
        with self._lock:
            granted = self._codes.pop(form.get("code", ""), None)  # a code works once
            if granted is None or granted[1] != form.get("redirect_uri"):
                # GitHub's way of saying no: 200 with an error field.
                return FakeResponse.json(200, {"error": "bad_verification_code"})
            token = secrets.token_urlsafe(24)
            self._tokens[token] = granted[0]
        return FakeResponse.json(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def _bearer(self, request: FakeRequest) -> OAuthUser | None:
        token = request.headers.get("authorization", "").partition(" ")[2]
        with self._lock:
            return self._tokens.get(token)

    async def _google_userinfo(self, request: FakeRequest) -> FakeResponse:
        user = self._bearer(request)
        if user is None:
            return FakeResponse.json(401, {"error": "invalid_token"})
        return FakeResponse.json(
            200, {"sub": user.account_id, "email": user.email, "email_verified": user.verified}
        )

    async def _github_user(self, request: FakeRequest) -> FakeResponse:
        user = self._bearer(request)
        if user is None:
            return FakeResponse.json(401, {"message": "Bad credentials"})
        return FakeResponse.json(200, {"id": int(user.account_id), "login": "octo", "email": None})

    async def _github_emails(self, request: FakeRequest) -> FakeResponse:
        user = self._bearer(request)
        if user is None:
            return FakeResponse.json(401, {"message": "Bad credentials"})
        emails = [
            {"email": "old@example.org", "primary": False, "verified": True},
            {"email": user.email, "primary": True, "verified": user.verified},
        ]
        return FakeResponse.json(200, emails)
