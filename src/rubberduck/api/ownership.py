"""The one rule for reaching a proxy through the API: it is yours, or it does not exist (404)."""

from __future__ import annotations

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from rubberduck.db.models import Proxy, User


async def owned_proxy(proxy_id: int, user: User, session: AsyncSession) -> Proxy:
    proxy = await session.get(Proxy, proxy_id)
    if proxy is None or proxy.owner_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Proxy not found")
    return proxy
