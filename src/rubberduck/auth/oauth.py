"""Google and GitHub login clients (httpx-oauth): who the user is, and only an e-mail the provider verified.

httpx-oauth's own Google/GitHub clients return the primary e-mail whether or not it is verified, and
their endpoints are fixed; these read the verified flag and take every endpoint from the settings
(GitHub Enterprise, a test double).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from httpx_oauth.oauth2 import BaseOAuth2

from rubberduck.settings import Settings

TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class Identity:
    account_id: str
    email: str | None  # None unless the provider says the address is verified


class SocialClient(BaseOAuth2[dict[str, Any]]):
    async def identity(self, access_token: str) -> Identity:
        raise NotImplementedError

    async def _get_json(self, url: str, headers: dict[str, str]) -> Any:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            response = await client.get(url, headers={**self.request_headers, **headers})
        response.raise_for_status()
        return response.json()


class GoogleLogin(SocialClient):
    """OpenID Connect: the userinfo endpoint gives `sub`, `email` and `email_verified`."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings.google_client_id,
            settings.google_client_secret,
            settings.google_authorize_url,
            settings.google_token_url,
            name="google",
            base_scopes=["openid", "email"],
            token_endpoint_auth_method="client_secret_post",
        )
        self.userinfo_url = settings.google_userinfo_url

    async def identity(self, access_token: str) -> Identity:
        info = await self._get_json(self.userinfo_url, {"Authorization": f"Bearer {access_token}"})
        verified = info.get("email_verified") in (True, "true")
        email = info.get("email") if verified else None
        return Identity(str(info["sub"]), email if isinstance(email, str) else None)


class GitHubLogin(SocialClient):
    """The user's id from /user; the primary address from /user/emails, only if GitHub verified it."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings.github_client_id,
            settings.github_client_secret,
            settings.github_authorize_url,
            settings.github_token_url,
            name="github",
            base_scopes=["read:user", "user:email"],
            token_endpoint_auth_method="client_secret_post",
        )
        self.api_url = settings.github_api_url.rstrip("/")

    async def identity(self, access_token: str) -> Identity:
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/vnd.github+json"}
        profile = await self._get_json(f"{self.api_url}/user", headers)
        emails = await self._get_json(f"{self.api_url}/user/emails", headers)
        email = next(
            (
                entry.get("email")
                for entry in emails
                if isinstance(entry, dict) and entry.get("primary") and entry.get("verified")
            ),
            None,
        )
        return Identity(str(profile["id"]), email if isinstance(email, str) else None)


def build_social_clients(settings: Settings) -> dict[str, SocialClient]:
    """Only the providers whose client id and secret are both configured."""
    clients: dict[str, SocialClient] = {}
    if settings.google_client_id and settings.google_client_secret:
        clients["google"] = GoogleLogin(settings)
    if settings.github_client_id and settings.github_client_secret:
        clients["github"] = GitHubLogin(settings)
    return clients
