"""A proxy's `cache` object through the API: defaults, create, a PATCH that merges, and 422s naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api

DEFAULTS = {"mode": "record", "repeats": "same", "ignore": [], "timing": "instant", "ttl_seconds": None}


def test_a_new_proxy_shows_the_default_cache_settings(api: Api) -> None:
    proxy = api.create_proxy(provider="openai")
    assert proxy["cache"] == DEFAULTS
    assert api.http.get(f"/api/proxies/{proxy['id']}").json()["cache"] == DEFAULTS


def test_cache_settings_given_at_creation_and_patched_field_by_field(api: Api) -> None:
    created = api.http.post(
        "/api/proxies",
        json={"name": "suite", "provider": "openai", "cache": {"mode": "replay", "ignore": ["user"]}},
    )
    assert created.status_code == 201, created.text
    proxy_id = created.json()["id"]
    assert created.json()["cache"] == {**DEFAULTS, "mode": "replay", "ignore": ["user"]}
    patched = api.http.patch(
        f"/api/proxies/{proxy_id}", json={"cache": {"timing": "recorded", "ttl_seconds": 60}}
    )
    assert patched.status_code == 200, patched.text
    expected = {**DEFAULTS, "mode": "replay", "ignore": ["user"], "timing": "recorded", "ttl_seconds": 60}
    assert patched.json()["cache"] == expected  # the fields not sent kept their values
    assert api.http.get(f"/api/proxies/{proxy_id}").json()["cache"] == expected


@pytest.mark.parametrize(
    ("cache", "field"),
    [
        ({"mode": "bogus"}, "mode"),
        ({"repeats": "twice"}, "repeats"),
        ({"timing": "slow"}, "timing"),
        ({"ttl_seconds": 0}, "ttl_seconds"),
        ({"ttl_seconds": "60"}, "ttl_seconds"),  # a number, not a string that looks like one
        ({"ignore": "user"}, "ignore"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_an_invalid_cache_setting_is_a_422_naming_the_field(
    api: Api, cache: dict[str, Any], field: str
) -> None:
    proxy = api.create_proxy(provider="openai")
    for response in (
        api.http.patch(f"/api/proxies/{proxy['id']}", json={"cache": cache}),
        api.http.post("/api/proxies", json={"name": f"bad-{field}", "provider": "openai", "cache": cache}),
    ):
        assert response.status_code == 422, response.text
        locations = [error["loc"] for error in response.json()["detail"]]
        assert ["body", "cache", field] in locations, locations
    assert api.http.get(f"/api/proxies/{proxy['id']}").json()["cache"] == DEFAULTS  # nothing was changed


def test_a_null_cache_in_a_patch_is_refused(api: Api) -> None:
    proxy = api.create_proxy(provider="openai")
    response = api.http.patch(f"/api/proxies/{proxy['id']}", json={"cache": None})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "cache"]
