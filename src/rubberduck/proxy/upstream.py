"""The one pooled HTTP client for the whole process, and how an upstream failure is classified."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from rubberduck.types import RawHeaders


class UpstreamError(Exception):
    """The upstream could not be reached (kind='unreachable') or did not answer in time ('timeout')."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: RawHeaders
    body: AsyncIterator[bytes]


class UpstreamClient:
    def __init__(self, connect_timeout: float, max_connections: int = 512) -> None:
        self._connect_timeout = connect_timeout
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=128),
            follow_redirects=False,
            trust_env=False,
        )
        # httpx adds its own Accept, Accept-Encoding and User-Agent; a proxy sends only the client's.
        for name in list(self._client.headers):
            del self._client.headers[name]

    async def send(
        self, method: str, url: str, headers: RawHeaders, body: bytes, timeout: float
    ) -> UpstreamResponse:
        request = self._client.build_request(
            method,
            url,
            headers=headers,
            content=body if body else None,
            timeout=httpx.Timeout(timeout, connect=min(self._connect_timeout, timeout)),
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamError("timeout", f"upstream did not answer in time ({type(exc).__name__})") from exc
        except (httpx.HTTPError, OSError) as exc:
            raise UpstreamError("unreachable", f"upstream unreachable: {type(exc).__name__}: {exc}") from exc
        return UpstreamResponse(response.status_code, list(response.headers.raw), _raw_body(response))

    async def aclose(self) -> None:
        await self._client.aclose()


async def _raw_body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body exactly as sent (still gzip if it was), so headers like Content-Encoding stay true."""
    try:
        async for chunk in response.aiter_raw():
            if chunk:
                yield chunk
    except httpx.TimeoutException as exc:
        raise UpstreamError("timeout", "upstream stopped sending mid-body") from exc
    except httpx.HTTPError as exc:
        raise UpstreamError("unreachable", f"upstream broke off mid-body: {type(exc).__name__}") from exc
    finally:
        await response.aclose()
