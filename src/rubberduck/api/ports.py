"""Port rules for proxies: unique across proxies, never the control plane's, free when auto-assigned."""

from __future__ import annotations

from fastapi import HTTPException, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rubberduck.db.models import Proxy
from rubberduck.proxy.server import bind_socket


class PortAllocator:
    def __init__(self, host: str, first_port: int, reserved: set[int]) -> None:
        self.host = host
        self.first_port = first_port
        self.reserved = reserved

    async def _taken(self, session: AsyncSession, exclude_proxy: int | None) -> set[int]:
        query = select(Proxy.port)
        if exclude_proxy is not None:
            query = query.where(Proxy.id != exclude_proxy)
        return set((await session.scalars(query)).all())

    async def check_available(self, session: AsyncSession, port: int, proxy_id: int | None) -> None:
        if port in self.reserved:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=[{"loc": ["body", "port"], "msg": f"port {port} is reserved", "type": "value_error"}],
            )
        if port in await self._taken(session, proxy_id):
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=[
                    {
                        "loc": ["body", "port"],
                        "msg": f"port {port} is used by another proxy",
                        "type": "value_error",
                    }
                ],
            )

    async def next_free(self, session: AsyncSession) -> int:
        taken = await self._taken(session, None) | self.reserved
        port = self.first_port
        while port <= 65535:
            if port not in taken and self._bindable(port):
                return port
            port += 1
        raise HTTPException(status.HTTP_409_CONFLICT, detail="no free port left for a proxy")

    def _bindable(self, port: int) -> bool:
        try:
            bind_socket(self.host, port).close()
        except OSError:
            return False
        return True
