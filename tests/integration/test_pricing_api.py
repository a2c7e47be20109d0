"""The pricing table and a user's own overrides, applied to the cost of later requests."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.support import Api, RubberduckProcess, proxy_url


def test_pricing_table_has_an_as_of_date(api: Api) -> None:
    pricing = api.http.get("/api/pricing").json()
    assert pricing["as_of"] and pricing["models"]["gpt-4o-mini"] == {
        "input": 0.15,
        "output": 0.6,
        "cached": 0.075,
    }
    assert pricing["overrides"] == {}


def test_overrides_change_the_callers_costs_only(server: RubberduckProcess, api: Api) -> None:
    bad = api.http.put("/api/pricing/overrides", json={"gpt-4o-mini": {"input": -1, "output": 1}})
    assert bad.status_code == 422
    saved = api.http.put("/api/pricing/overrides", json={"gpt-4o-mini": {"input": 1000, "output": 0}})
    assert saved.json()["overrides"]["gpt-4o-mini"]["input"] == 1000
    other = Api.new_user(server.url, "pricing-other@example.com")
    assert other.http.get("/api/pricing").json()["overrides"] == {}

    with FakeUpstream() as fake:
        fake.add(
            "POST", "/v1/chat/completions", recordings("openai", "chat_completions_nonstream_tools.yaml")[0]
        )
        costs: list[Any] = []
        for user in (api, other):
            proxy = user.running_proxy("openai", fake.url)
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            assert httpx.post(proxy_url(proxy) + "/v1/chat/completions", json=body).status_code == 200
            deadline = time.monotonic() + 5
            items: list[dict[str, Any]] = []
            while not items and time.monotonic() < deadline:
                items = user.http.get("/api/logs", params={"proxy_id": proxy["id"]}).json()["items"]
                time.sleep(0.1)
            costs.append(items[0]["cost_usd"])
    assert costs[0] == pytest.approx(92 * 1000 / 1e6)  # the override: 92 input tokens at $1000/M
    assert costs[1] == pytest.approx((92 * 0.15 + 17 * 0.6) / 1e6)  # the list price
