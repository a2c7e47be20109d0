"""Failure simulation settings: per proxy (its owner) and the global IP lists (superusers)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from rubberduck.api.ownership import owned_proxy
from rubberduck.api.params import ProxyId
from rubberduck.auth.users import Auth
from rubberduck.db.database import Database
from rubberduck.db.models import User
from rubberduck.db.settings_store import save_setting
from rubberduck.faults.config import FailureConfig, IPLists
from rubberduck.faults.stages import GlobalIPFilter
from rubberduck.proxy.manager import ProxyManager

IP_FILTER_KEY = "ip_filter"


def failure_router(
    auth: Auth, manager: ProxyManager, database: Database, global_filter: GlobalIPFilter
) -> APIRouter:
    router = APIRouter(tags=["failure simulation"])

    @router.get("/api/proxies/{proxy_id}/failure", response_model=FailureConfig)
    async def get_failure(
        proxy_id: ProxyId,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> FailureConfig:
        proxy = await owned_proxy(proxy_id, user, session)
        return FailureConfig.model_validate(proxy.failure or {})

    @router.put("/api/proxies/{proxy_id}/failure", response_model=FailureConfig)
    async def put_failure(
        proxy_id: ProxyId,
        config: FailureConfig,
        user: User = Depends(auth.current_user),
        session: AsyncSession = Depends(auth.get_session),
    ) -> FailureConfig:
        """Replace the whole failure config; it applies to the running proxy at once, dice re-seeded."""
        proxy = await owned_proxy(proxy_id, user, session)
        proxy.failure = config.model_dump(mode="json")
        await session.commit()
        await manager.reconfigure(proxy, reseed=True)
        return config

    @router.get("/api/settings/ip-filter", response_model=IPLists)
    async def get_ip_filter(_user: User = Depends(auth.current_superuser)) -> IPLists:
        return global_filter.lists

    @router.put("/api/settings/ip-filter", response_model=IPLists)
    async def put_ip_filter(lists: IPLists, _user: User = Depends(auth.current_superuser)) -> IPLists:
        await store_global_lists(database, global_filter, lists)
        return lists

    return router


def apply_global_lists(global_filter: GlobalIPFilter, stored: dict[str, object] | None) -> None:
    global_filter.replace(IPLists.model_validate(stored or {}))


async def store_global_lists(database: Database, global_filter: GlobalIPFilter, lists: IPLists) -> None:
    """The one way the global lists change (this route and PUT /api/settings): stored, then applied."""
    await save_setting(database, IP_FILTER_KEY, lists.model_dump(mode="json"))
    global_filter.replace(lists)
