"""Proxy CRUD and lifecycle routes. Every query is scoped to the caller: others' proxies are 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rubberduck.api.ownership import owned_proxy
from rubberduck.api.params import NamespaceFilter, ProxyId
from rubberduck.api.ports import PortAllocator
from rubberduck.api.schemas import CacheCleared, ProxyCreate, ProxyRead, ProxyUpdate
from rubberduck.auth.users import Auth
from rubberduck.cache.config import merged_cache
from rubberduck.cache.store import LayeredCache
from rubberduck.db.models import Proxy, User
from rubberduck.providers.base import ProviderAdapter
from rubberduck.proxy.manager import ProxyManager
from rubberduck.redact import has_masked_credential, restore_masked


def field_error(field: str, message: str, code: int = status.HTTP_422_UNPROCESSABLE_CONTENT) -> HTTPException:
    """An error in FastAPI's own validation shape, naming the offending field."""
    return HTTPException(code, detail=[{"loc": ["body", field], "msg": message, "type": "value_error"}])


def validate_provider_fields(
    providers: dict[str, ProviderAdapter], provider: str, upstream_url: str | None, options: dict[str, Any]
) -> None:
    adapter = providers.get(provider)
    if adapter is None:
        raise field_error("provider", f"unknown provider {provider!r}; choose one of {sorted(providers)}")
    if adapter.upstream_required and not upstream_url:
        raise field_error("upstream_url", f"provider {provider!r} requires an upstream_url")
    unknown = sorted(set(options) - set(adapter.option_keys))
    if unknown:
        raise field_error("options", f"unknown option(s) {unknown}; allowed: {sorted(adapter.option_keys)}")
    adapter.validate_options(options)


def merged_cache_settings(current: dict[str, Any] | None, change: dict[str, Any] | None) -> dict[str, Any]:
    """A PATCH's `cache` over the stored one; a bad field is a 422 naming it (`cache.mode`, …)."""
    if change is None:
        raise field_error("cache", "may not be null")
    try:
        return merged_cache(current, change).model_dump(mode="json")
    except ValidationError as exc:
        detail = [
            {"loc": ["body", "cache", *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail) from exc


async def check_name_free(session: AsyncSession, owner: User, name: str, proxy_id: int | None) -> None:
    """A user's proxy names are unique (a unique index backs this up); others may use the same ones."""
    query = select(Proxy.id).where(Proxy.owner_id == owner.id, Proxy.name == name)
    if proxy_id is not None:
        query = query.where(Proxy.id != proxy_id)
    if (await session.scalars(query.limit(1))).first() is not None:
        raise field_error("name", f"you already have a proxy named {name!r}", status.HTTP_409_CONFLICT)


async def commit_named(session: AsyncSession, owner: User, proxy: Proxy) -> None:
    """Commit; a concurrent request that took the same name first makes this a 409, not a 500."""
    name, proxy_id = proxy.name, proxy.id
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        await check_name_free(session, owner, name, proxy_id)
        raise


def proxies_router(auth: Auth, manager: ProxyManager, cache: LayeredCache, ports: PortAllocator) -> APIRouter:
    router = APIRouter(prefix="/api/proxies", tags=["proxies"])
    providers = manager.providers

    @router.get("", response_model=list[ProxyRead])
    async def list_proxies(
        user: User = Depends(auth.current_user), session: AsyncSession = Depends(auth.get_session)
    ) -> list[Proxy]:
        result = await session.scalars(select(Proxy).where(Proxy.owner_id == user.id).order_by(Proxy.id))
        return list(result.all())

    @router.post("", response_model=ProxyRead, status_code=status.HTTP_201_CREATED)
    async def create_proxy(
        body: ProxyCreate,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> Proxy:
        try:
            validate_provider_fields(providers, body.provider, body.upstream_url, body.options)
        except ValueError as exc:
            raise field_error("options", str(exc)) from exc
        if has_masked_credential(body.upstream_url):
            raise field_error("upstream_url", "enter the credential: '***' is only a mask")
        await check_name_free(session, user, body.name, None)
        port = body.port
        if port is None:
            port = await ports.next_free(session)
        else:
            await ports.check_available(session, port, None)
        proxy = Proxy(
            owner_id=user.id,
            status="stopped",
            desired_running=False,
            **body.model_dump(mode="json", exclude={"port"}),
        )
        proxy.port = port
        session.add(proxy)
        await commit_named(session, user, proxy)
        return proxy

    @router.get("/{proxy_id}", response_model=ProxyRead)
    async def get_proxy(
        proxy_id: ProxyId,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> Proxy:
        return await owned_proxy(proxy_id, user, session)

    @router.patch("/{proxy_id}", response_model=ProxyRead)
    async def update_proxy(
        proxy_id: ProxyId,
        body: ProxyUpdate,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> Proxy:
        proxy = await owned_proxy(proxy_id, user, session)
        changes = body.model_dump(exclude_unset=True)
        for required in ("name", "provider", "tags", "options"):
            if required in changes and changes[required] is None:
                raise field_error(required, "may not be null")
        if changes.get("upstream_url") is not None:
            # The UI sends back the masked URL it was shown: a `***` there means "keep the stored secret".
            changes["upstream_url"] = restore_masked(changes["upstream_url"], proxy.upstream_url)
            if has_masked_credential(changes["upstream_url"]):
                raise field_error("upstream_url", "enter the credential again: '***' is only its mask")
        if "cache" in changes:
            changes["cache"] = merged_cache_settings(proxy.cache, changes["cache"])
        merged_provider = changes.get("provider", proxy.provider)
        merged_url = changes.get("upstream_url", proxy.upstream_url)
        merged_options = changes.get("options", proxy.options)
        try:
            validate_provider_fields(providers, merged_provider, merged_url, merged_options)
        except ValueError as exc:
            raise field_error("options", str(exc)) from exc
        if "name" in changes and changes["name"] != proxy.name:
            await check_name_free(session, user, changes["name"], proxy.id)
        port_changed = "port" in changes and changes["port"] != proxy.port
        if "port" in changes:
            if changes["port"] is None:
                raise field_error("port", "may not be null")
            await ports.check_available(session, changes["port"], proxy.id)
        for name, value in changes.items():
            setattr(proxy, name, value)
        await commit_named(session, user, proxy)
        await manager.reconfigure(proxy, port_changed=port_changed)
        return proxy

    @router.delete("/{proxy_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def delete_proxy(
        proxy_id: ProxyId,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> Response:
        proxy = await owned_proxy(proxy_id, user, session)
        await manager.stop(proxy, force=True)
        await cache.clear(proxy.id)
        await session.delete(proxy)
        await session.commit()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post("/{proxy_id}/start", response_model=ProxyRead)
    async def start_proxy(
        proxy_id: ProxyId,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> Proxy:
        proxy = await owned_proxy(proxy_id, user, session)
        await manager.start(proxy)
        return proxy

    @router.post("/{proxy_id}/stop", response_model=ProxyRead)
    async def stop_proxy(
        proxy_id: ProxyId,
        force: bool = Query(False, description="Drop open connections now instead of draining them"),
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> Proxy:
        proxy = await owned_proxy(proxy_id, user, session)
        await manager.stop(proxy, force=force)
        return proxy

    @router.delete("/{proxy_id}/cache", response_model=CacheCleared)
    async def clear_cache(
        proxy_id: ProxyId,
        namespace: NamespaceFilter = None,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> CacheCleared:
        """Every recording of the proxy, or of one of its namespaces."""
        proxy = await owned_proxy(proxy_id, user, session)
        return CacheCleared(deleted=await cache.clear(proxy.id, namespace))

    return router
