"""Hostile input and leaks (issue 11, item 3 and the proxy part of item 5), on a real server and real sockets.

- no credential (a `?key=`, an `?api_key=`, a password inside upstream_url) reaches the server log;
- upstream_url's password is masked in every API answer and kept, not replaced by its mask, on an edit;
- a path that climbs above the root (`..`, `%2e%2e`, `..%2F`, backslashes) or holds a control character
  is refused with a 400 in the provider's format, and nothing reaches the upstream outside its prefix;
- failed logins lock out one (account, address) pair and one address, never the account everywhere;
- the data dir is 0700 and the SQLite files 0600.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeResponse, FakeUpstream
from tests.support import PASSWORD, Api, RubberduckProcess, proxy_url

PREFIX = "/tenant-a/api"
GENERATE = "/v1beta/models/gemini-2.0-flash:generateContent"
ARN_MODEL = (
    "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F"
    "us.anthropic.claude-3-sonnet-20240229-v1%3A0/invoke"
)


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        upstream.add("GET", "/admin/secret", FakeResponse.json(200, {"secret": "outside the prefix"}))
        yield upstream


def raw_request(
    port: int, target: str, method: str = "GET", body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request with its target sent byte for byte (an HTTP client would normalise `..` away)."""
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header_block, _, payload = data.partition(b"\r\n\r\n")
    status_line, *lines = header_block.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    if headers.get("transfer-encoding") == "chunked":
        payload = _unchunk(payload)
    return int(status_line.split()[1]), headers, payload


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, data = out + rest[:size], rest[size + 2 :]
    return out


def assert_provider_400(provider: str, status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 400, (status, body)
    payload = json.loads(body)
    if provider in ("openai", "azure"):
        assert payload["error"]["message"] and (
            provider == "azure" or payload["error"]["type"] == "invalid_request_error"
        )
    elif provider == "anthropic":
        assert payload["type"] == "error" and payload["error"]["type"] == "invalid_request_error"
    elif provider in ("gemini", "vertex"):
        assert payload["error"]["status"] == "INVALID_ARGUMENT" and payload["error"]["code"] == 400
    elif provider == "bedrock":
        assert headers["x-amzn-errortype"].startswith("ValidationException") and payload["message"]
    else:
        raise AssertionError(provider)


PROVIDERS = ("openai", "azure", "anthropic", "gemini", "vertex", "bedrock")
CLIMBING = (
    "/v1/../../../admin/secret",
    "/../admin/secret",
    "/v1/%2e%2e/%2e%2e/%2e%2e/admin/secret",
    "/v1/%2E%2E/%2E%2E/%2E%2E/admin/secret",
    "/v1/..%2F..%2F..%2Fadmin/secret",
    "/v1/%2E%2E%2F%2E%2E%2F%2E%2E%2Fadmin/secret",
    "/v1/..%5C..%5C..%5Cadmin/secret",
    "/v1/..\\..\\..\\admin/secret",
    "/v1/%252e%252e/%252e%252e/%252e%252e/admin/secret",  # decoded once more by Bedrock's path rules
    "/model/..%2F..%2F..%2Fadmin/invoke",
)
CONTROL = ("/v1/mod%00els", "/v1/models%0A", "/v1/mod%0d%0aels", "/v1/mod%7Fels", "/v1/%2500")


def _proxy_with_prefix(api: Api, fake: FakeUpstream, provider: str) -> dict[str, Any]:
    options = {"aws_region": "us-east-1"} if provider == "bedrock" else {}
    return api.running_proxy(provider, fake.url + PREFIX, options=options)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_paths_that_climb_above_the_root_are_refused(api: Api, fake: FakeUpstream, provider: str) -> None:
    proxy = _proxy_with_prefix(api, fake, provider)
    for target in CLIMBING:
        status, headers, body = raw_request(proxy["port"], target)
        assert_provider_400(provider, status, headers, body)
        assert fake.requests == [], target  # nothing was forwarded, inside the prefix or out
    for target in CLIMBING[:3]:  # a body does not change the verdict
        assert_provider_400(provider, *raw_request(proxy["port"], target, "POST", b'{"model": "m"}'))
    assert fake.requests == []
    # The control: an ordinary request does reach the fake, under the prefix.
    status, _, _ = raw_request(proxy["port"], "/v1/models/x")
    assert status != 400
    assert [request.path for request in fake.requests] == [PREFIX + "/v1/models/x"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_control_characters_in_the_path_are_a_400_not_a_500(
    api: Api, fake: FakeUpstream, provider: str
) -> None:
    proxy = _proxy_with_prefix(api, fake, provider)
    for target in CONTROL:
        status, headers, body = raw_request(proxy["port"], target)
        assert_provider_400(provider, status, headers, body)
    assert_provider_400(provider, *raw_request(proxy["port"], CONTROL[0], "POST", b'{"model": "m"}'))
    assert fake.requests == []


def test_dot_segments_that_stay_inside_are_forwarded_inside_the_prefix(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url + PREFIX)
    raw_request(proxy["port"], "/v1/files/../models")
    assert [request.path for request in fake.requests] == [PREFIX + "/v1/models"]


def test_bedrock_model_ids_keep_their_encoded_colons_and_slash(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("bedrock", fake.url + PREFIX, options={"aws_region": "us-east-1"})
    status, _, _ = raw_request(proxy["port"], ARN_MODEL, "POST", b'{"messages": []}')
    assert status == 404  # the fake's own "no route": the request went through
    assert [request.path for request in fake.requests] == [PREFIX + ARN_MODEL]


def test_credentials_never_reach_the_server_log(
    server: RubberduckProcess, api: Api, fake: FakeUpstream
) -> None:
    key, api_key, password = "AIzaLOGSENTINEL0key", "LOGSENTINEL1apikey", "LOGSENTINEL2password"
    fake.add("POST", PREFIX + GENERATE, recordings("vertex", "gemini_generate_content")[0])
    upstream = fake.url.replace("http://", f"http://duck:{password}@") + PREFIX
    proxy = api.running_proxy("gemini", upstream)
    request = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    for query in (f"key={key}", f"api_key={api_key}&alt=sse", f"alt=json&key={key}"):
        answer = httpx.post(f"{proxy_url(proxy)}{GENERATE}?{query}", json=request, timeout=30)
        assert answer.status_code == 200, answer.text
    # A request that fails upstream (nothing listens there) with its key in the query, too.
    dead = api.running_proxy("openai_compatible", f"http://duck:{password}@127.0.0.1:9/x", name="dead")
    httpx.get(f"{proxy_url(dead)}/v1/models?api_key={api_key}", timeout=30)
    assert fake.requests[0].query.startswith(f"key={key}")  # the keys did go upstream, as they must
    assert fake.requests[0].headers["authorization"].startswith("Basic ")
    api.http.delete(f"/api/proxies/{dead['id']}")
    log = server.output()
    for secret in (key, api_key, password):
        assert secret not in log


def test_upstream_url_password_is_masked_in_every_answer_and_kept_on_edit(
    api: Api, fake: FakeUpstream
) -> None:
    secret = "MASKSENTINEL-pw"
    fake.add("GET", PREFIX + "/v1/models", FakeResponse.json(200, {"data": []}))
    real = fake.url.replace("http://", f"http://duck:{secret}@") + PREFIX
    masked = fake.url.replace("http://", "http://duck:***@") + PREFIX
    created = api.create_proxy(provider="openai", upstream_url=real)
    assert created["upstream_url"] == masked
    answers = [
        api.http.get("/api/proxies"),
        api.http.get(f"/api/proxies/{created['id']}"),
        api.http.post(f"/api/proxies/{created['id']}/start"),
    ]
    # What the UI does on an edit: everything it was shown comes back, the masked URL included.
    form = {name: created[name] for name in ("provider", "model", "description", "tags", "port", "options")}
    answers.append(
        api.http.patch(
            f"/api/proxies/{created['id']}", json={**form, "name": "renamed", "upstream_url": masked}
        )
    )
    answers.append(api.http.patch(f"/api/proxies/{created['id']}", json={"description": "only this"}))
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text and masked.replace("/", "\\/") in answer.text.replace("/", "\\/")
    # The stored secret still goes upstream (httpx sends a URL's userinfo as Basic auth).
    assert httpx.get(proxy_url(created) + "/v1/models").status_code == 200
    sent = fake.requests[-1].headers["authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")).decode() == f"duck:{secret}"
    # A new password replaces it; a mask with nothing behind it is refused, not stored as "***".
    renewed = api.http.patch(
        f"/api/proxies/{created['id']}", json={"upstream_url": real.replace(secret, "new-pw")}
    )
    assert renewed.status_code == 200 and "new-pw" not in renewed.text
    bypass = {"x-rubberduck-cache": "bypass"}  # the first answer is cached: go upstream again
    assert httpx.get(proxy_url(created) + "/v1/models", headers=bypass).status_code == 200
    sent = fake.requests[-1].headers["authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")).decode() == "duck:new-pw"
    plain = api.create_proxy(provider="openai", upstream_url=fake.url, name="plain")
    refused = api.http.patch(f"/api/proxies/{plain['id']}", json={"upstream_url": masked})
    assert refused.status_code == 422
    assert (
        api.http.post(
            "/api/proxies", json={"name": "m", "provider": "openai", "upstream_url": masked}
        ).status_code
        == 422
    )


def _client(url: str, address: str) -> httpx.Client:
    return httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address=address), timeout=30)


def _login(client: httpx.Client, email: str, password: str = PASSWORD, **headers: str) -> int:
    return client.post(
        "/api/auth/jwt/login", data={"username": email, "password": password}, headers=headers
    ).status_code


def test_failed_logins_from_one_address_do_not_lock_the_owner_out_elsewhere(tmp_path: Path) -> None:
    env = {"RUBBERDUCK_LOGIN_MAX_FAILURES_PER_ACCOUNT": "3", "RUBBERDUCK_LOGIN_MAX_FAILURES_PER_IP": "4"}
    process = RubberduckProcess(tmp_path / "data", env=env).start()
    try:
        Api.new_user(process.url, "owner@example.com")
        with _client(process.url, "127.0.0.2") as attacker, _client(process.url, "127.0.0.3") as owner:
            for _ in range(3):
                assert _login(attacker, "owner@example.com", "wrong-guess") == 400
            assert _login(attacker, "OWNER@example.com", "wrong-guess") == 429
            assert _login(attacker, "owner@example.com") == 429  # that pair stays refused, right password too
            assert _login(owner, "owner@example.com") == 200  # the owner, elsewhere, is not locked out
            assert _login(owner, "owner@example.com", "typo") == 400  # and has failures of their own to spend
            assert _login(owner, "owner@example.com") == 200
        # X-Forwarded-For is not believed by default: a client cannot make up fresh addresses.
        with _client(process.url, "127.0.0.1") as sprayer:
            for index in range(4):
                forged = {"X-Forwarded-For": f"203.0.113.{index}"}
                assert _login(sprayer, f"guess{index}@example.com", "Summer2024!", **forged) == 400
            assert _login(sprayer, "owner@example.com", **{"X-Forwarded-For": "203.0.113.99"}) == 429
    finally:
        process.stop()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_is_0700_and_the_database_files_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.chmod(data_dir, 0o755)  # an existing, open data dir is tightened too
    process = RubberduckProcess(data_dir).start()
    try:
        user = Api.new_user(process.url, "perm@example.com")
        with FakeUpstream() as fake:
            fake.add("GET", "/v1/models", FakeResponse.json(200, {"data": []}))
            proxy = user.running_proxy("openai", fake.url)
            assert httpx.get(proxy_url(proxy) + "/v1/models").status_code == 200  # a log row, a cache entry
            assert user.http.get("/api/logs", params={"proxy_id": proxy["id"]}).status_code == 200
        database = data_dir / "rubberduck.db"
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        assert all(path.exists() for path in files)  # WAL mode: both exist while the server runs
        assert _mode(data_dir) == 0o700
        assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}
        assert _mode(data_dir / "secret.key") == 0o600
    finally:
        process.stop()
    database = data_dir / "rubberduck.db"
    os.chmod(database, 0o644)  # a database left open by an older version is tightened at the next start
    process.start()
    try:
        assert _mode(database) == 0o600
    finally:
        process.stop()
