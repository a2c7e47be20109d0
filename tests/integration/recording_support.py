"""Helpers for the record/replay tests: a proxy's cache settings, its log rows, its occurrence rewinds."""

from __future__ import annotations

import time
from typing import Any

from tests.support import Api

KEY_HEADER = "x-rubberduck-cache-key"


def set_cache(api: Api, proxy_id: int, **cache: Any) -> dict[str, Any]:
    """PATCH the proxy's `cache` object (pushed to the running proxy, no restart)."""
    response = api.http.patch(f"/api/proxies/{proxy_id}", json={"cache": cache})
    assert response.status_code == 200, response.text
    return dict(response.json()["cache"])


def log_rows(api: Api, proxy_id: int, expected: int, settle: float = 0.0) -> list[dict[str, Any]]:
    """The proxy's log rows, oldest first, once at least `expected` are written (then `settle` s more,
    so a test can prove no further row comes, e.g. that no SDK retried)."""
    deadline = time.monotonic() + 10
    while True:
        response = api.http.get("/api/logs", params={"proxy_id": proxy_id, "limit": 200})
        assert response.status_code == 200, response.text
        rows = list(reversed(response.json()["items"]))
        if len(rows) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if settle:
        time.sleep(settle)
        return log_rows(api, proxy_id, expected)
    return rows


def rewind(api: Api, proxy_id: int, namespace: str | None = None) -> None:
    params = {"namespace": namespace} if namespace is not None else {}
    response = api.http.post(f"/api/proxies/{proxy_id}/cache/rewind", params=params)
    assert response.status_code == 200, response.text


def recorded_entries(api: Api, proxy_id: int, **filters: Any) -> list[dict[str, Any]]:
    response = api.http.get(f"/api/proxies/{proxy_id}/cache", params={"limit": 200, **filters})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])
