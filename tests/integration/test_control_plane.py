"""The control-plane API: accounts, proxy CRUD and validation, lifecycle, isolation, port conflicts."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.support import Api, RubberduckProcess, free_port, on_postgres, proxy_url

CHAT = "/v1/chat/completions"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("GET", "/v1/models", recordings("openai", "models_list.yaml")[0])
    with upstream:
        yield upstream


def test_health_and_openapi(server: RubberduckProcess) -> None:
    health = httpx.get(server.url + "/healthz").json()
    assert health["status"] == "ok" and health["database"] == "ok"
    assert isinstance(health["running_proxies"], int) and health["version"]
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert "/api/proxies/{proxy_id}/cache" in paths and "/api/auth/jwt/login" in paths
    assert httpx.get(server.url + "/docs").status_code == 200


def test_me_and_unauthenticated_access(server: RubberduckProcess, api: Api) -> None:
    me = api.http.get("/api/users/me").json()
    assert me["email"].endswith("@example.com") and not me["is_superuser"]
    for method, path in [("GET", "/api/proxies"), ("POST", "/api/proxies/1/start"), ("GET", "/api/users/me")]:
        assert httpx.request(method, server.url + path).status_code == 401
    bad = httpx.post(
        server.url + "/api/auth/jwt/login", data={"username": me["email"], "password": "wrong-pass"}
    )
    assert bad.status_code == 400


def test_short_passwords_are_refused(server: RubberduckProcess) -> None:
    response = httpx.post(
        server.url + "/api/auth/register", json={"email": "short@example.com", "password": "abc"}
    )
    assert response.status_code == 400
    assert "8 characters" in response.text


def test_proxy_crud_with_auto_assigned_port(server: RubberduckProcess, api: Api) -> None:
    created = api.create_proxy(name="one", provider="openai", model="gpt-4o-mini", tags=["a", "b"])
    assert created["port"] >= server.first_proxy_port
    assert created["status"] == "stopped" and created["upstream_url"] is None
    second = api.create_proxy(name="two", provider="anthropic")
    assert second["port"] != created["port"]
    listed = api.http.get("/api/proxies").json()
    assert [p["id"] for p in listed] == [created["id"], second["id"]]
    patched = api.http.patch(f"/api/proxies/{created['id']}", json={"name": "renamed", "description": "d"})
    assert patched.status_code == 200 and patched.json()["name"] == "renamed"
    assert patched.json()["tags"] == ["a", "b"]
    assert api.http.delete(f"/api/proxies/{second['id']}").status_code == 204
    assert api.http.get(f"/api/proxies/{second['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "provider": "nope"}, "provider"),
        ({"name": "", "provider": "openai"}, "name"),
        ({"name": "x", "provider": "openai", "port": 0}, "port"),
        ({"name": "x", "provider": "openai", "port": 70000}, "port"),
        ({"name": "x", "provider": "openai", "upstream_url": "ftp://example.com"}, "upstream_url"),
        ({"name": "x", "provider": "openai_compatible"}, "upstream_url"),
        ({"name": "x", "provider": "openai", "options": {"aws_secret": "s"}}, "options"),
        ({"name": "x", "provider": "openai", "options": {"upstream_timeout_seconds": -1}}, "options"),
        ({"name": "x", "provider": "openai", "colour": "red"}, "colour"),
        ({"provider": "openai"}, "name"),
    ],
)
def test_invalid_proxy_input_is_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    response = api.http.post("/api/proxies", json=body)
    assert response.status_code == 422, response.text
    assert field in [error["loc"][-1] for error in response.json()["detail"]]


def test_duplicate_port_is_a_conflict(api: Api) -> None:
    first = api.create_proxy(provider="openai")
    response = api.http.post("/api/proxies", json={"name": "y", "provider": "openai", "port": first["port"]})
    assert response.status_code == 409
    assert response.json()["detail"][0]["loc"] == ["body", "port"]


def test_another_user_cannot_see_or_touch_a_proxy(server: RubberduckProcess, api: Api) -> None:
    mine = api.create_proxy(provider="openai")
    other = Api.new_user(server.url, f"other-{mine['id']}@example.com")
    assert other.http.get("/api/proxies").json() == []
    pid = mine["id"]
    for method, path in [
        ("GET", f"/api/proxies/{pid}"),
        ("PATCH", f"/api/proxies/{pid}"),
        ("DELETE", f"/api/proxies/{pid}"),
        ("POST", f"/api/proxies/{pid}/start"),
        ("POST", f"/api/proxies/{pid}/stop"),
        ("DELETE", f"/api/proxies/{pid}/cache"),
    ]:
        response = other.http.request(method, path, json={"name": "stolen"} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path, response.text)
    assert api.http.get(f"/api/proxies/{pid}").json()["name"] == mine["name"]


def test_port_taken_by_another_program_is_an_error_status_not_a_crash(
    server: RubberduckProcess, api: Api, fake: FakeUpstream
) -> None:
    healthy = api.running_proxy("openai", fake.url)
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    try:
        taken = squatter.getsockname()[1]
        blocked = api.create_proxy(provider="openai", port=taken)
        started = api.start(blocked["id"])
        assert started["status"] == "error"
        assert f"port {taken} is already in use" in started["last_error"]
        assert api.http.get(f"/api/proxies/{blocked['id']}").json()["status"] == "error"
    finally:
        squatter.close()
    sdk = openai.OpenAI(base_url=proxy_url(healthy) + "/v1", api_key="sk", max_retries=0)
    assert sdk.models.list().data  # the other proxy kept serving
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"
    assert api.start(blocked["id"])["status"] == "running"  # once the port is free it starts


def test_patching_the_port_of_a_running_proxy_moves_it(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    new_port = free_port()
    moved = api.http.patch(f"/api/proxies/{proxy['id']}", json={"port": new_port}).json()
    assert moved["status"] == "running" and moved["port"] == new_port
    assert httpx.get(f"http://127.0.0.1:{new_port}/v1/models").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(proxy_url(proxy) + "/v1/models")


def test_config_change_reaches_a_running_proxy_without_restart(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", "http://127.0.0.1:9")
    assert httpx.get(proxy_url(proxy) + "/v1/models").status_code == 502
    api.http.patch(f"/api/proxies/{proxy['id']}", json={"upstream_url": fake.url})
    assert httpx.get(proxy_url(proxy) + "/v1/models").status_code == 200


def test_clear_cache_reports_how_many_entries_went(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    for query in ("", "?limit=1", "?limit=2"):
        httpx.get(proxy_url(proxy) + "/v1/models" + query)
    assert httpx.get(proxy_url(proxy) + "/v1/models").headers["x-rubberduck-cache"] == "hit"
    time.sleep(0.3)  # persistent writes happen just after each response
    cleared = api.http.delete(f"/api/proxies/{proxy['id']}/cache")
    assert cleared.json() == {"deleted": 3}
    assert httpx.get(proxy_url(proxy) + "/v1/models").headers["x-rubberduck-cache"] == "miss"
    assert api.http.delete(f"/api/proxies/{proxy['id']}/cache").json() == {"deleted": 1}


def _held_stream(api: Api, fake: FakeUpstream) -> tuple[dict[str, Any], dict[str, Any], threading.Thread]:
    recording = recordings("openai", "chat_completions_stream_tools.yaml")[0]
    fake.add("POST", CHAT, recording, stream=True, hold_after=1)
    proxy = api.running_proxy("openai", fake.url)
    outcome: dict[str, Any] = {}

    def consume() -> None:
        body = {"model": "gpt-4o-mini", "messages": [], "stream": True}
        try:
            with httpx.stream("POST", proxy_url(proxy) + CHAT, json=body, timeout=20) as response:
                outcome["body"] = b"".join(response.iter_raw())
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    reader = threading.Thread(target=consume)
    reader.start()
    deadline = time.monotonic() + 10
    while fake.count("POST", CHAT) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    outcome["recording"] = recording.body
    return proxy, outcome, reader


def test_graceful_stop_waits_for_in_flight_requests(api: Api, fake: FakeUpstream) -> None:
    proxy, outcome, reader = _held_stream(api, fake)
    stopped: dict[str, Any] = {}
    stopper = threading.Thread(target=lambda: stopped.update(api.stop(proxy["id"])))
    stopper.start()
    time.sleep(0.6)
    assert stopper.is_alive()  # still draining the held stream
    with pytest.raises(httpx.ConnectError):
        httpx.get(proxy_url(proxy) + "/v1/models")  # but no longer accepting
    fake.release()
    reader.join(10)
    stopper.join(10)
    assert outcome.get("body") == outcome["recording"]  # the in-flight stream completed whole
    assert stopped["status"] == "stopped"


def test_forced_stop_drops_open_connections_now(api: Api, fake: FakeUpstream) -> None:
    proxy, outcome, reader = _held_stream(api, fake)
    began = time.monotonic()
    assert api.stop(proxy["id"], force=True)["status"] == "stopped"
    assert time.monotonic() - began < 3
    reader.join(5)
    assert not reader.is_alive()
    assert "error" in outcome and "body" not in outcome
    fake.release()


def test_proxies_and_cache_survive_a_restart(tmp_path: Any, fake: FakeUpstream) -> None:
    process = RubberduckProcess(tmp_path / "data").start()
    try:
        api = Api.new_user(process.url, "restart@example.com")
        running = api.running_proxy("openai", fake.url)
        stopped = api.create_proxy(provider="anthropic")
        assert httpx.get(proxy_url(running) + "/v1/models").headers["x-rubberduck-cache"] == "miss"
        time.sleep(0.3)
    finally:
        process.stop()
    if not on_postgres():  # there the generated secret is kept in the database, for every node
        assert (tmp_path / "data" / "secret.key").stat().st_mode & 0o777 == 0o600
    process.start()
    try:
        # The same token still works: the generated secret was kept, not regenerated.
        assert api.http.get(f"/api/proxies/{running['id']}").json()["status"] == "running"
        assert api.http.get(f"/api/proxies/{stopped['id']}").json()["status"] == "stopped"
        replay = httpx.get(proxy_url(running) + "/v1/models")
        assert replay.headers["x-rubberduck-cache"] == "hit"  # from the database: memory was empty
        assert fake.count("GET", "/v1/models") == 1
        assert httpx.get(process.url + "/healthz").json()["running_proxies"] == 1
    finally:
        process.stop()
