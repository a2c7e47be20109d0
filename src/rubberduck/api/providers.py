from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from rubberduck.providers.base import ProviderAdapter


class ProviderInfo(BaseModel):
    name: str
    label: str
    default_upstream: str | None
    upstream_required: bool
    options: list[str]
    snippet: str


def providers_router(providers: dict[str, ProviderAdapter]) -> APIRouter:
    router = APIRouter(prefix="/api/providers", tags=["providers"])

    @router.get("", response_model=list[ProviderInfo])
    async def list_providers() -> list[ProviderInfo]:
        return [
            ProviderInfo(
                name=adapter.name,
                label=adapter.label,
                default_upstream=adapter.default_upstream,
                upstream_required=adapter.upstream_required,
                options=list(adapter.option_keys),
                snippet=adapter.snippet,
            )
            for adapter in providers.values()
        ]

    return router
