"""Hostile input to the control plane is a 4xx in FastAPI's shape, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api, RubberduckProcess

HUGE = "99999999999999999999"  # beyond any integer column
JSON = {"content-type": "application/json"}


def _fields(response: Any) -> list[Any]:
    return [error["loc"][-1] for error in response.json()["detail"]]


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", f"/api/proxies/{HUGE}", "proxy_id"),
        ("GET", "/api/proxies/9223372036854775808", "proxy_id"),
        ("GET", "/api/proxies/2147483648", "proxy_id"),  # past a Postgres INTEGER
        ("GET", "/api/proxies/0", "proxy_id"),
        ("PATCH", f"/api/proxies/{HUGE}", "proxy_id"),
        ("DELETE", f"/api/proxies/{HUGE}", "proxy_id"),
        ("POST", f"/api/proxies/{HUGE}/start", "proxy_id"),
        ("POST", f"/api/proxies/{HUGE}/stop", "proxy_id"),
        ("DELETE", f"/api/proxies/{HUGE}/cache", "proxy_id"),
        ("GET", f"/api/proxies/{HUGE}/failure", "proxy_id"),
        ("PUT", f"/api/proxies/{HUGE}/failure", "proxy_id"),
        ("GET", f"/api/logs?proxy_id={HUGE}", "proxy_id"),
        ("GET", f"/api/logs/export?proxy_id={HUGE}", "proxy_id"),
        ("GET", f"/api/logs?status={HUGE}", "status"),
        ("GET", "/api/logs?status=600", "status"),
        ("GET", "/api/logs?status=0xx", "status"),
        ("GET", "/api/logs?status=%C2%B2%C2%B2%C2%B2", "status"),  # '²²²': isdigit() but not int()
        ("GET", f"/api/metrics?proxy_id={HUGE}", "proxy_id"),
    ],
)
def test_out_of_range_ids_and_filters_are_422(api: Api, method: str, path: str, field: str) -> None:
    response = api.http.request(method, path, json={} if method in ("PATCH", "PUT") else None)
    assert response.status_code == 422, response.text
    assert field in _fields(response)


def test_a_cursor_with_an_id_too_big_for_the_database_is_422(api: Api) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(f"2026-01-01T00:00:00+00:00|{HUGE}".encode()).decode()
    response = api.http.get("/api/logs", params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert _fields(response) == ["cursor"]


@pytest.mark.parametrize(
    "body",
    [
        '{"errors": [{"status": 500, "rate": NaN}]}',
        '{"errors": [{"status": 429, "rate": 0.1, "retry_after_s": NaN}]}',
        '{"errors": [{"status": 429, "rate": 0.1, "retry_after_s": Infinity}]}',
        '{"timeout": {"rate": NaN}}',
        '{"timeout": {"rate": -Infinity}}',
        '{"stream": {"truncate_rate": NaN}}',
        '{"latency": {"ms": Infinity}}',
        '{"latency": {"ms": 1e400}}',
        '{"rate_limit": {"rpm": NaN}}',
        '{"rate_limit": {"tpm": Infinity}}',
        '{"seed": NaN}',
        '{"seed": 1e400}',
    ],
)
def test_non_finite_numbers_in_a_failure_config_are_422(api: Api, body: str) -> None:
    proxy = api.create_proxy(provider="openai")
    response = api.http.put(f"/api/proxies/{proxy['id']}/failure", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert api.http.get(f"/api/proxies/{proxy['id']}/failure").json()["errors"] == []


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_prices_and_options_are_422(api: Api, value: str) -> None:
    price = api.http.put(
        "/api/pricing/overrides", content=f'{{"gpt-x": {{"input": {value}, "output": 1}}}}', headers=JSON
    )
    assert price.status_code == 422, price.text
    assert api.http.get("/api/pricing").json()["overrides"] == {}
    body = (
        f'{{"name": "t-{value}", "provider": "openai", "options": {{"upstream_timeout_seconds": {value}}}}}'
    )
    created = api.http.post("/api/proxies", content=body, headers=JSON)
    assert created.status_code == 422, created.text
    assert _fields(created) == ["options"]
    assert api.http.get("/api/proxies").status_code == 200


def test_duplicate_names_are_a_conflict_for_one_user_only(server: RubberduckProcess, api: Api) -> None:
    first = api.create_proxy(name="shared name", provider="openai")
    again = api.http.post("/api/proxies", json={"name": "shared name", "provider": "anthropic"})
    assert again.status_code == 409, again.text
    assert again.json()["detail"][0]["loc"] == ["body", "name"]
    padded = api.http.post("/api/proxies", json={"name": "  shared name ", "provider": "anthropic"})
    assert padded.status_code == 409, padded.text  # the name is stored trimmed
    other = api.create_proxy(name="other", provider="openai")
    renamed = api.http.patch(f"/api/proxies/{other['id']}", json={"name": "shared name"})
    assert renamed.status_code == 409 and renamed.json()["detail"][0]["loc"] == ["body", "name"]
    same = api.http.patch(f"/api/proxies/{first['id']}", json={"name": "shared name", "description": "d"})
    assert same.status_code == 200, same.text  # keeping one's own name is no conflict
    someone_else = Api.new_user(server.url, f"dup-{first['id']}@example.com")
    assert someone_else.create_proxy(name="shared name", provider="openai")["name"] == "shared name"
    assert [p["name"] for p in api.http.get("/api/proxies").json()] == ["shared name", "other"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"port": True}, "port"),
        ({"port": False}, "port"),
        ({"port": "8123"}, "port"),
        ({"port": 8123.0}, "port"),
        ({"port": 80}, "port"),
        ({"port": 1023}, "port"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"name": "bell\x07"}, "name"),
        ({"name": "del\x7f"}, "name"),
        ({"name": "sep\u2028x"}, "name"),
        ({"name": "   "}, "name"),
        ({"model": "gpt\x00"}, "model"),
        ({"tags": ["ok", "bad\ttag"]}, 1),
        ({"description": "nul \x00 inside"}, "description"),
        ({"upstream_url": "http://example.com/\x00"}, "upstream_url"),
    ],
)
def test_strict_ports_and_printable_names(api: Api, body: dict[str, Any], field: Any) -> None:
    created = api.http.post("/api/proxies", json={"name": "strict", "provider": "openai", **body})
    assert created.status_code == 422, created.text
    assert field in _fields(created)
    proxy = api.create_proxy(provider="openai")
    patched = api.http.patch(f"/api/proxies/{proxy['id']}", json=body)
    assert patched.status_code == 422, patched.text
    assert field in _fields(patched)


def test_descriptions_keep_their_line_breaks_and_port_1024_is_allowed(api: Api) -> None:
    proxy = api.create_proxy(provider="openai", description="two\nlines\tand a tab", port=1024)
    assert proxy["description"] == "two\nlines\tand a tab" and proxy["port"] == 1024
