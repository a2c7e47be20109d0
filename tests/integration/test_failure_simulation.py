"""Simulated failures through the official SDKs: native errors, seeds, timeouts, streams, IPs, limits."""

from __future__ import annotations

import concurrent.futures
import os
import random
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from rubberduck.faults.config import FailureConfig
from rubberduck.faults.state import FaultState
from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.support import Api, RubberduckProcess, proxy_url

CHAT = "/v1/chat/completions"
QUESTION = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is 2+2?"}]}


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", CHAT, recordings("openai", "chat_completions_nonstream_tools.yaml")[0])
    upstream.add("POST", "/v1/messages", recordings("anthropic", "messages_nonstream_gzip.yaml")[0])
    with upstream:
        yield upstream


@pytest.fixture
def proxy(api: Api, fake: FakeUpstream) -> dict[str, Any]:
    return api.running_proxy("openai", fake.url)


def sdk(proxy: dict[str, Any], retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy_url(proxy) + "/v1", api_key="sk-test", max_retries=retries)


def post(proxy: dict[str, Any], **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("timeout", 10)
    return httpx.post(proxy_url(proxy) + CHAT, json=QUESTION, **kwargs)


OPENAI_CLASSES = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
    500: openai.InternalServerError,
    503: openai.InternalServerError,
    529: openai.InternalServerError,
}
ANTHROPIC_CLASSES = {
    400: anthropic.BadRequestError,
    401: anthropic.AuthenticationError,
    403: anthropic.PermissionDeniedError,
    404: anthropic.NotFoundError,
    429: anthropic.RateLimitError,
    500: anthropic.InternalServerError,
    503: anthropic.ServiceUnavailableError,
    529: anthropic.OverloadedError,
}


def test_openai_sdk_raises_its_own_class_for_each_simulated_status(api: Api, proxy: dict[str, Any]) -> None:
    api.set_failure(proxy["id"], allow_header_faults=True)
    client = sdk(proxy)
    for status, error_class in OPENAI_CLASSES.items():
        with pytest.raises(error_class) as raised:
            client.chat.completions.create(**QUESTION, extra_headers={"x-rubberduck-fault": str(status)})
        assert raised.value.status_code == status
        assert isinstance(raised.value.body, dict) and raised.value.body["message"]
    limited = post(proxy, headers={"x-rubberduck-fault": "429"})
    assert limited.headers["retry-after"] == "1" and limited.headers["retry-after-ms"] == "1000"
    assert limited.json()["error"]["type"] == "requests"


def test_anthropic_sdk_raises_its_own_class_for_each_simulated_status(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("anthropic", fake.url)
    api.set_failure(proxy["id"], allow_header_faults=True)
    client = anthropic.Anthropic(base_url=proxy_url(proxy), api_key="sk-ant", max_retries=0)
    for status, error_class in ANTHROPIC_CLASSES.items():
        with pytest.raises(error_class) as raised:
            client.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-rubberduck-fault": str(status)},
            )
        assert raised.value.status_code == status
        assert raised.value.body["type"] == "error"  # type: ignore[index]
    assert "overloaded_error" in str(raised.value.body)


def test_header_faults_are_ignored_unless_allowed(
    api: Api, proxy: dict[str, Any], fake: FakeUpstream
) -> None:
    forced = {"x-rubberduck-fault": "500"}
    assert post(proxy, headers=forced).status_code == 200  # no failure config at all
    # The fault stage is busy (a latency fault) and still does not obey the header...
    api.set_failure(proxy["id"], latency={"ms": 1})
    ignored = post(proxy, headers=forced)
    assert ignored.status_code == 200 and ignored.json()["choices"]
    assert fake.count("POST", CHAT) == 1  # the first answer went upstream, this one was a cache hit
    # ...until it is allowed: then the same header fires the fault (so the stage is really there).
    api.set_failure(proxy["id"], latency={"ms": 1}, allow_header_faults=True)
    obeyed = post(proxy, headers=forced)
    assert obeyed.status_code == 500 and obeyed.json()["error"]["message"]
    assert post(proxy).status_code == 200  # without the header the same proxy answers as usual


def test_a_half_error_rate_on_cache_hits_fails_half_not_three_quarters(
    api: Api, proxy: dict[str, Any], fake: FakeUpstream
) -> None:
    assert post(proxy).status_code == 200  # fills the cache
    api.set_failure(proxy["id"], seed=1234, errors=[{"status": 500, "rate": 0.5}])
    statuses = [post(proxy).status_code for _ in range(400)]
    failures = statuses.count(500)
    assert 160 <= failures <= 240, failures  # binomial(400, 0.5): 200 +- 4 sd
    assert set(statuses) == {200, 500}
    assert fake.count("POST", CHAT) == 1  # every 200 was a hit, the faults did not reach upstream
    api.set_failure(proxy["id"])
    replay = post(proxy)
    assert replay.status_code == 200 and replay.headers["x-rubberduck-cache"] == "hit"  # 500s never cached


def test_the_same_seed_fires_the_same_faults(api: Api, proxy: dict[str, Any]) -> None:
    config = {"seed": 99, "errors": [{"status": 429, "rate": 0.3}, {"status": 503, "rate": 0.2}]}
    runs = []
    for _ in range(2):
        api.set_failure(proxy["id"], **config)  # a PUT re-seeds the dice
        runs.append([post(proxy).status_code for _ in range(40)])
    assert runs[0] == runs[1]
    assert {429, 503, 200} == set(runs[0])
    api.set_failure(proxy["id"], **{**config, "seed": 100})
    assert [post(proxy).status_code for _ in range(40)] != runs[0]


def test_timeout_delay_holds_then_answers(api: Api, proxy: dict[str, Any]) -> None:
    api.set_failure(proxy["id"], timeout={"rate": 1, "mode": "delay", "delay_ms": 400})
    began = time.monotonic()
    assert post(proxy).status_code == 200
    assert time.monotonic() - began >= 0.4
    with pytest.raises(openai.APITimeoutError):
        openai.OpenAI(
            base_url=proxy_url(proxy) + "/v1", api_key="k", max_retries=0, timeout=0.1
        ).chat.completions.create(**QUESTION)


def _open_fds(server: RubberduckProcess) -> int:
    assert server.process is not None
    return len(os.listdir(f"/proc/{server.process.pid}/fd"))


def test_hung_requests_release_everything_when_clients_give_up(
    server: RubberduckProcess, api: Api, proxy: dict[str, Any]
) -> None:
    api.set_failure(proxy["id"], timeout={"rate": 1, "mode": "hang"})
    before = _open_fds(server)

    def hang() -> str:
        try:
            post(proxy, timeout=httpx.Timeout(1.0))
        except httpx.ReadTimeout:
            return "gave up"
        return "answered"

    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        outcomes = list(pool.map(lambda _: hang(), range(100)))
    assert outcomes == ["gave up"] * 100
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        health = httpx.get(server.url + "/healthz").json()
        if health["in_flight_requests"] == 0 and _open_fds(server) <= before + 2:
            break
        time.sleep(0.2)
    assert health["in_flight_requests"] == 0
    assert _open_fds(server) <= before + 2


def test_latency_is_added_to_every_answer(api: Api, proxy: dict[str, Any]) -> None:
    post(proxy)
    api.set_failure(proxy["id"], latency={"ms": 300, "jitter_ms": 50})
    began = time.monotonic()
    assert post(proxy).headers["x-rubberduck-cache"] == "hit"
    assert time.monotonic() - began >= 0.25


def test_truncated_streams_break_like_a_dropped_connection_and_are_not_cached(
    api: Api, fake: FakeUpstream
) -> None:
    recording = recordings("openai", "chat_completions_stream_tools.yaml")[0]
    fake.add("POST", CHAT, recording, stream=True)
    proxy = api.running_proxy("openai", fake.url)
    api.set_failure(proxy["id"], stream={"truncate_rate": 1, "truncate_after_chunks": 2})
    body = {**QUESTION, "stream": True}
    received: list[bytes] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", proxy_url(proxy) + CHAT, json=body, timeout=10) as response:
            for chunk in response.iter_raw():
                received.append(chunk)
    assert 0 < len(b"".join(received)) < len(recording.body)
    with pytest.raises((openai.APIError, httpx.HTTPError)):
        for _ in sdk(proxy).chat.completions.create(**body):
            pass
    api.set_failure(proxy["id"])
    with httpx.stream("POST", proxy_url(proxy) + CHAT, json=body, timeout=10) as response:
        assert response.headers["x-rubberduck-cache"] == "miss"  # the cut streams were not stored
        assert response.read() == recording.body


def test_chunk_delay_slows_a_replayed_stream(api: Api, fake: FakeUpstream) -> None:
    recording = recordings("openai", "chat_completions_stream_tools.yaml")[0]
    fake.add("POST", CHAT, recording, stream=True)
    proxy = api.running_proxy("openai", fake.url)
    body = {**QUESTION, "stream": True}
    chunks = list(sdk(proxy).chat.completions.create(**body))
    api.set_failure(proxy["id"], stream={"chunk_delay_ms": 30})
    began = time.monotonic()
    replayed = list(sdk(proxy).chat.completions.create(**body))
    assert [c.model_dump() for c in replayed] == [c.model_dump() for c in chunks]
    assert time.monotonic() - began >= 0.03 * (len(chunks) - 2)


def test_ip_lists_of_a_proxy_and_the_global_ones(api: Api, superuser_api: Api, proxy: dict[str, Any]) -> None:
    api.set_failure(proxy["id"], ip_block=["127.0.0.0/8"])
    with pytest.raises(openai.PermissionDeniedError):
        sdk(proxy).chat.completions.create(**QUESTION)
    api.set_failure(proxy["id"], ip_allow=["10.*.*.*", "::1"])
    assert post(proxy).status_code == 403
    api.set_failure(proxy["id"], ip_allow=["127.0.0.1"])
    assert post(proxy).status_code == 200
    try:
        superuser_api.http.put("/api/settings/ip-filter", json={"ip_block": ["127.*.*.*"]}).raise_for_status()
        blocked = post(proxy)
        assert blocked.status_code == 403 and blocked.json()["error"]["message"]
    finally:
        superuser_api.http.put("/api/settings/ip-filter", json={}).raise_for_status()
    assert post(proxy).status_code == 200


def test_rpm_is_exact_under_concurrency(api: Api, proxy: dict[str, Any]) -> None:
    post(proxy)  # cache it, so the limit is the only thing measured
    api.set_failure(proxy["id"], rate_limit={"rpm": 50})
    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        responses = list(pool.map(lambda _: post(proxy), range(200)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 50 and statuses.count(429) == 150
    refused = next(r for r in responses if r.status_code == 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    remaining = sorted(
        int(r.headers["x-ratelimit-remaining-requests"]) for r in responses if r.status_code == 200
    )
    assert remaining == list(range(50))


def test_tpm_limits_tokens(api: Api, proxy: dict[str, Any]) -> None:
    api.set_failure(proxy["id"], rate_limit={"tpm": 150})
    first = httpx.post(proxy_url(proxy) + CHAT, json={**QUESTION, "max_tokens": 100}, timeout=10)
    assert first.status_code == 200 and first.headers["x-ratelimit-limit-tokens"] == "150"
    second = httpx.post(proxy_url(proxy) + CHAT, json={**QUESTION, "max_tokens": 100}, timeout=10)
    assert second.status_code == 429 and "tokens per minute" in second.json()["error"]["message"]


def _seed_failing_then_passing(rate: float, status: int = 429) -> int:
    """A seed whose first request draws an error and whose second does not (dice drawn by FaultState)."""
    for seed in range(1000):
        state = FaultState(FailureConfig(seed=seed, errors=[{"status": status, "rate": rate}]))  # type: ignore[list-item]
        if state.pick_error(state.roll().error) and not state.pick_error(state.roll().error):
            return seed
    raise AssertionError("no seed found")


def test_sdk_retries_a_simulated_429_after_retry_after_then_succeeds(
    api: Api, proxy: dict[str, Any], fake: FakeUpstream
) -> None:
    seed = _seed_failing_then_passing(0.5)
    api.set_failure(proxy["id"], seed=seed, errors=[{"status": 429, "rate": 0.5, "retry_after_s": 1}])
    began = time.monotonic()
    answer = sdk(proxy, retries=2).chat.completions.with_raw_response.create(**QUESTION)
    assert answer.http_request.headers["x-stainless-retry-count"] == "1"
    assert time.monotonic() - began >= 1.0  # the SDK waited the retry-after we sent
    assert answer.parse().choices and fake.count("POST", CHAT) == 1


def test_anthropic_sdk_retries_a_simulated_529(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("anthropic", fake.url)
    seed = _seed_failing_then_passing(0.5, status=529)
    api.set_failure(proxy["id"], seed=seed, errors=[{"status": 529, "rate": 0.5}])
    client = anthropic.Anthropic(base_url=proxy_url(proxy), api_key="sk-ant", max_retries=2)
    answer = client.messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "x"}]
    )
    assert answer.http_request.headers["x-stainless-retry-count"] == "1"  # the SDK retried once
    assert answer.parse().content and fake.count("POST", "/v1/messages") == 1
    deadline = time.monotonic() + 5
    while True:  # the proxy's log says what the retry was for: a 529 overloaded, then the answer
        rows = api.http.get("/api/logs", params={"proxy_id": proxy["id"]}).json()["items"][::-1]
        if len(rows) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [(row["status"], row["fault"]) for row in rows] == [(529, "error_529"), (200, None)]


def test_log_rows_record_which_fault_fired(
    server: RubberduckProcess, api: Api, proxy: dict[str, Any]
) -> None:
    import sqlite3

    api.set_failure(proxy["id"], allow_header_faults=True)
    post(proxy)
    post(proxy, headers={"x-rubberduck-fault": "503"})
    deadline = time.monotonic() + 5
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline and len(rows) < 2:
        with sqlite3.connect(server.data_dir / "rubberduck.db") as db:
            rows = db.execute(
                "select status, fault from request_logs where proxy_id = ? order by created_at",
                (proxy["id"],),
            ).fetchall()
        time.sleep(0.1)
    assert rows == [(200, None), (503, "error_503")]


def test_random_module_is_not_shared_between_proxies() -> None:
    first = FaultState(FailureConfig(seed=5))
    random.seed(0)  # the global generator must not influence a proxy's dice
    second = FaultState(FailureConfig(seed=5))
    random.random()
    assert [first.roll() for _ in range(3)] == [second.roll() for _ in range(3)]
