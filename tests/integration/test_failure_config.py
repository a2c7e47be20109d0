"""The failure configuration API: stored, validated field by field, superuser-only global IP lists."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api, RubberduckProcess


def test_failure_config_round_trips_with_defaults(api: Api) -> None:
    proxy = api.create_proxy(provider="openai")
    empty = api.http.get(f"/api/proxies/{proxy['id']}/failure").json()
    assert empty["errors"] == [] and empty["timeout"]["rate"] == 0 and empty["allow_header_faults"] is False
    config = {
        "seed": 7,
        "timeout": {"rate": 0.1, "mode": "hang"},
        "latency": {"ms": 5, "jitter_ms": 2},
        "errors": [{"status": 429, "rate": 0.2, "retry_after_s": 2}, {"status": 500, "rate": 0.1}],
        "stream": {"truncate_rate": 0.1, "truncate_after_chunks": 2, "chunk_delay_ms": 3},
        "ip_allow": ["127.0.0.1", "10.0.0.0/8", "::1", "192.168.*.*"],
        "ip_block": ["2001:db8::/32"],
        "rate_limit": {"rpm": 60, "tpm": 10000},
        "allow_header_faults": True,
    }
    stored = api.set_failure(proxy["id"], **config)
    assert api.http.get(f"/api/proxies/{proxy['id']}/failure").json() == stored
    assert stored["errors"][0] == {"status": 429, "rate": 0.2, "retry_after_s": 2.0}
    assert stored["timeout"]["mode"] == "hang" and stored["rate_limit"]["rpm"] == 60


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"timeout": {"rate": 1.5}}, "rate"),
        ({"errors": [{"status": 500, "rate": -0.1}]}, "rate"),
        ({"errors": [{"status": 429, "rate": 0.6}, {"status": 500, "rate": 0.6}]}, "errors"),
        ({"errors": [{"status": 429, "rate": 0.1}, {"status": 429, "rate": 0.1}]}, "errors"),
        ({"errors": [{"status": 418, "rate": 0.1}]}, "status"),
        ({"ip_block": ["10.0.0.0/33"]}, "ip_block"),
        ({"ip_allow": ["300.1.1.1"]}, "ip_allow"),
        ({"ip_allow": ["192.168.*"]}, "ip_allow"),
        ({"timeout": {"mode": "sometimes"}}, "mode"),
        ({"rate_limit": {"rpm": 0}}, "rpm"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_invalid_failure_config_is_422_naming_the_field_and_keeps_the_old_one(
    api: Api, config: dict[str, Any], field: str
) -> None:
    proxy = api.create_proxy(provider="openai")
    api.set_failure(proxy["id"], seed=1, errors=[{"status": 503, "rate": 0.5}])
    response = api.http.put(f"/api/proxies/{proxy['id']}/failure", json=config)
    assert response.status_code == 422, response.text
    assert any(field in [str(part) for part in error["loc"]] for error in response.json()["detail"]), (
        response.text
    )
    kept = api.http.get(f"/api/proxies/{proxy['id']}/failure").json()
    assert kept["errors"] == [{"status": 503, "rate": 0.5, "retry_after_s": None}] and kept["seed"] == 1


def test_failure_config_belongs_to_the_owner(server: RubberduckProcess, api: Api) -> None:
    proxy = api.create_proxy(provider="openai")
    other = Api.new_user(server.url, f"failure-other-{proxy['id']}@example.com")
    assert other.http.get(f"/api/proxies/{proxy['id']}/failure").status_code == 404
    assert other.http.put(f"/api/proxies/{proxy['id']}/failure", json={}).status_code == 404


def test_global_ip_filter_is_superuser_only(api: Api, superuser_api: Api) -> None:
    assert api.http.get("/api/settings/ip-filter").status_code == 403
    assert api.http.put("/api/settings/ip-filter", json={"ip_block": []}).status_code == 403
    bad = superuser_api.http.put("/api/settings/ip-filter", json={"ip_block": ["nope"]})
    assert (
        bad.status_code == 422 and bad.json()["detail"][0]["loc"][-2:] == ["ip_block", 0]
    ) or "ip_block" in bad.text
    current = superuser_api.http.get("/api/settings/ip-filter").json()
    assert current == {"ip_allow": [], "ip_block": []}
