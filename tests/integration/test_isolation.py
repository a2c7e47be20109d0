"""Every /api route, taken from the OpenAPI schema: who may call it, and that nobody sees another's data.

New routes are picked up automatically. A route with a path or body this file does not know fails the
test with a message saying what to add, so no route escapes the proof by being new.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.support import Api, RubberduckProcess, on_postgres, proxy_url

CHAT = "/v1/chat/completions"
# Routes anyone may call: the ways in. Everything else under /api answers 401 without a token.
PUBLIC = {
    ("POST", "/api/auth/jwt/login"),
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/forgot-password"),
    ("POST", "/api/auth/reset-password"),
    ("POST", "/api/auth/request-verify-token"),
    ("POST", "/api/auth/verify"),
    ("GET", "/api/auth/config"),
}
SUPERUSER_ONLY_PREFIXES = ("/api/settings", "/api/users/{id}")
# Valid bodies, so that a refusal is about ownership and not about a malformed request.
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/proxies/{proxy_id}"): {"name": "stolen"},
    ("PUT", "/api/proxies/{proxy_id}/failure"): {"errors": [{"status": 500, "rate": 1.0}]},
    ("POST", "/api/proxies"): {"name": "attacker's own", "provider": "openai"},
    ("PATCH", "/api/users/me"): {},
    ("PATCH", "/api/users/{id}"): {"is_superuser": True},
    ("PUT", "/api/settings/ip-filter"): {"ip_allow": [], "ip_block": ["0.0.0.0/0"]},
    ("PUT", "/api/settings"): "current",  # the superuser's current settings, filled in below
}
QUERIES: dict[tuple[str, str], dict[str, str]] = {("DELETE", "/api/logs"): {"since": "2000-01-01T00:00:00Z"}}
NO_KEY = "0" * 64  # a well-formed cache key nobody recorded
# Keys whose values move with the clock, not with anybody's data.
VOLATILE = {"t", "created_at", "updated_at", "since", "until"}


@dataclass
class World:
    victim: Api
    victim_id: str
    proxy: dict[str, Any]
    markers: list[str]
    fake: FakeUpstream


def routes(server: RubberduckProcess) -> list[tuple[str, str, dict[str, Any]]]:
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    found = [
        (method.upper(), path, operation)
        for path, operations in paths.items()
        if path.startswith("/api/")
        for method, operation in operations.items()
    ]
    assert len(found) > 20
    return found


def fill(path: str, values: dict[str, Any]) -> str:
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        assert name in values, f"{path}: unknown path parameter {name!r}; teach test_isolation its value"
        path = path.replace("{" + name + "}", str(values[name]))
    return path


def call(
    http: httpx.Client, method: str, path: str, values: dict[str, Any], body: Any = None
) -> httpx.Response:
    """One request; an event stream is cut after its first bytes (it would never end)."""
    params = {
        **QUERIES.get((method, path), {}),
        **({"proxy_id": values["proxy_id"]} if "proxy_id" in values else {}),
    }
    with http.stream(method, fill(path, values), params=params, json=body, timeout=10) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return httpx.Response(response.status_code, headers=response.headers, content=b"")
        response.read()
        return response


def send_chat(proxy: dict[str, Any], model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    return httpx.post(proxy_url(proxy) + CHAT, json=body, timeout=10)


def wait_for_logs(api: Api, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(api.http.get("/api/logs").json()["items"]) < count:
        assert time.monotonic() < deadline, "the victim's log rows never appeared"
        time.sleep(0.1)


def normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items() if key not in VOLATILE}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    return value


def snapshot(api: Api, own: dict[str, Any], server: RubberduckProcess) -> dict[str, Any]:
    """What `api` reads through every GET route, on its own resources."""
    views: dict[str, Any] = {}
    for method, path, _operation in routes(server):
        if method != "GET" or path.startswith(SUPERUSER_ONLY_PREFIXES):
            continue
        values = {"proxy_id": own["id"], "key": NO_KEY} if "{proxy_id}" in path else {}
        response = call(api.http, method, path, values)
        try:
            views[path] = normalised(response.json())
        except ValueError:
            views[path] = response.text
    return views


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", CHAT, recordings("openai", "chat_completions_nonstream_tools.yaml")[0])
    with upstream:
        yield upstream


def victim_world(server: RubberduckProcess, fake: FakeUpstream, busy: bool = True) -> World:
    tag = uuid.uuid4().hex[:10]
    victim = Api.new_user(server.url, f"victim-{tag}@example.com")
    proxy = victim.running_proxy("openai", fake.url, name=f"victim-proxy-{tag}")
    victim_id = victim.http.get("/api/users/me").json()["id"]
    world = World(victim, victim_id, proxy, [tag, f"victim-model-{tag}", f"victim-{tag}@example.com"], fake)
    if busy:
        work(world)
    return world


def work(world: World) -> None:
    """Traffic on the victim's proxy: a miss and a hit, so logs, metrics and a cache entry exist."""
    assert send_chat(world.proxy, world.markers[1]).headers["x-rubberduck-cache"] == "miss"
    assert send_chat(world.proxy, world.markers[1]).headers["x-rubberduck-cache"] == "hit"
    wait_for_logs(world.victim, 2)


def victim_key(world: World) -> str:
    """The cache key of the victim's recorded request (for the recordings routes)."""
    items = world.victim.http.get(f"/api/proxies/{world.proxy['id']}/cache").json()["items"]
    assert items, "the victim's request was not recorded"
    return str(items[0]["key"])


class Listener(threading.Thread):
    """Someone reading /api/logs/stream until told to stop."""

    def __init__(self, api: Api, params: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=str(api.http.base_url),
            headers=dict(api.http.headers),
            timeout=httpx.Timeout(10, read=0.5),
        )
        self.params = params
        self.heard = bytearray()
        self.connected = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        try:
            with self.client.stream("GET", "/api/logs/stream", params=self.params) as stream:
                self.connected.set()
                chunks = stream.iter_bytes()
                while not self.done.is_set():
                    try:
                        self.heard += next(chunks)
                    except httpx.ReadTimeout:
                        continue
        except (httpx.HTTPError, StopIteration):
            pass
        finally:
            self.connected.set()
            self.client.close()

    def stop(self) -> bytes:
        self.done.set()
        self.join(10)
        return bytes(self.heard)


def test_every_api_route_needs_a_token_except_the_ways_in(
    server: RubberduckProcess, fake: FakeUpstream
) -> None:
    world = victim_world(server, fake)
    values = {"proxy_id": world.proxy["id"], "id": world.victim_id, "key": victim_key(world)}
    anonymous = httpx.Client(base_url=server.url)
    forged = httpx.Client(base_url=server.url, headers={"Authorization": "Bearer not.a.token"})
    seen_public = set()
    for method, path, _operation in routes(server):
        if (method, path) in PUBLIC:
            seen_public.add((method, path))
            assert call(anonymous, method, path, values).status_code != 401, (method, path)
            continue
        for client in (anonymous, forged):
            response = call(client, method, path, values, BODIES.get((method, path)))
            assert response.status_code == 401, (method, path, response.status_code, response.text)
    assert seen_public == PUBLIC


def test_no_route_shows_or_touches_another_users_data(
    server: RubberduckProcess, superuser_api: Api, fake: FakeUpstream
) -> None:
    attacker = Api.new_user(server.url, f"attacker-{uuid.uuid4().hex[:8]}@example.com")
    own = attacker.create_proxy(provider="openai", name="attacker proxy")
    before = snapshot(attacker, own, server)
    world = victim_world(server, fake, busy=False)
    # The attacker listens to the live log stream (everything, and the victim's proxy) while the victim works.
    listeners = [Listener(attacker, params) for params in ({}, {"proxy_id": world.proxy["id"]})]
    control = Listener(world.victim, {})  # proves the stream does carry these rows to their owner
    for listener in [*listeners, control]:
        listener.start()
        assert listener.connected.wait(10)
    work(world)
    assert snapshot(attacker, own, server) == before  # no count, list or total of the attacker's moved
    # Rows reach live streams in batches: wait (bounded) for the owner's two, which the attacker's
    # streams would have been sent in the same batch.
    deadline = time.monotonic() + 15
    while control.heard.count(b"event: log") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert control.stop().count(b"event: log") == 2
    heard = b"".join(listener.stop() for listener in listeners)
    assert b": connected" in heard and b"event: log" not in heard, heard
    victim_before = world.victim.http.get("/api/logs").json()["items"]

    values = {"proxy_id": world.proxy["id"], "id": world.victim_id, "key": victim_key(world)}
    bodies = {**BODIES, ("PUT", "/api/settings"): superuser_api.http.get("/api/settings").json()}
    for method, path, _operation in routes(server):
        if (method, path) in PUBLIC or (method, path) == ("POST", "/api/auth/jwt/logout"):
            continue
        response = call(attacker.http, method, path, values, bodies.get((method, path), {}))
        where = (method, path, response.status_code, response.text[:300])
        if path.startswith(SUPERUSER_ONLY_PREFIXES):
            assert response.status_code == 403, where
        elif "{proxy_id}" in path:
            assert response.status_code == 404, where
        else:
            assert response.status_code in (200, 201, 204, 404), where
        assert not any(marker in response.text for marker in world.markers), where

    # Nothing the attacker did reached the victim, and the attacker's own views did not move.
    assert world.victim.http.get(f"/api/proxies/{world.proxy['id']}").json()["name"] == world.proxy["name"]
    assert world.victim.http.get(f"/api/proxies/{world.proxy['id']}/failure").json()["errors"] == []
    assert world.victim.http.get("/api/logs").json()["items"] == victim_before
    assert send_chat(world.proxy, world.markers[1]).headers["x-rubberduck-cache"] == "hit"
    assert superuser_api.http.get("/api/settings/ip-filter").json()["ip_block"] == []


def test_a_reused_proxy_id_inherits_nothing(server: RubberduckProcess, fake: FakeUpstream) -> None:
    world = victim_world(server, fake)
    assert world.victim.http.delete(f"/api/proxies/{world.proxy['id']}").status_code == 204
    attacker = Api.new_user(server.url, f"heir-{uuid.uuid4().hex[:8]}@example.com")
    heir = attacker.running_proxy("openai", fake.url)
    # SQLite hands the deleted (highest) id out again; a Postgres sequence never does (nothing to inherit).
    assert (heir["id"] == world.proxy["id"]) != on_postgres()
    assert send_chat(heir, world.markers[1]).headers["x-rubberduck-cache"] == "miss"
    wait_for_logs(attacker, 1)
    logs = attacker.http.get("/api/logs", params={"proxy_id": heir["id"]}).json()["items"]
    assert [row["model"] for row in logs] == [world.markers[1]]  # its own single request, nothing older
    metrics = attacker.http.get("/api/metrics", params={"proxy_id": heir["id"]}).json()
    assert metrics["totals"]["requests"] == 1
