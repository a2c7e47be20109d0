"""The upstream's caching headers and the proxy's ttl (expiry), and replay at the recorded pace."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream
from tests.integration.recording_support import set_cache
from tests.integration.test_cache_modes import completion
from tests.support import Api, proxy_url

CHAT = "/v1/chat/completions"
STREAM = "/v1/stream/chat/completions"  # the same API, registered apart so each test picks its pace
GAP = 0.3  # seconds between the upstream's stream events
FIRST_BYTE = 0.4  # seconds before the upstream answers a plain request


def sse_chunks(count: int) -> list[bytes]:
    events = [
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {"content": f"part {n} "}, "finish_reason": None}]}
        for n in range(count)
    ]  # fmt: skip
    return [f"data: {json.dumps(event)}\n\n".encode() for event in events] + [b"data: [DONE]\n\n"]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    """Answers with the caching headers the request's message names (`Cache-Control: <message>`)."""
    upstream = FakeUpstream()
    calls = itertools.count(1)

    async def answer(request: FakeRequest) -> FakeResponse:
        said = request.json()["messages"][0]["content"]
        headers = []
        if said.startswith("expires:"):
            headers.append(("expires", said.removeprefix("expires:")))
        elif said != "plain":
            headers.append(("cache-control", said))
        return FakeResponse.json(200, completion(f"answer {next(calls)}"), headers)

    async def paced(request: FakeRequest) -> FakeResponse:
        if request.json().get("stream"):
            headers = [("content-type", "text/event-stream")]
            return FakeResponse(200, headers, chunks=sse_chunks(3), event_gap=GAP, tail_gap=0)
        return replace(FakeResponse.json(200, completion("slow")), delay=FIRST_BYTE)

    upstream.add_handler("POST", CHAT, answer)
    upstream.add_handler("POST", STREAM, paced)
    with upstream:
        yield upstream


def post(proxy: dict[str, Any], content: str) -> tuple[str, str]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
    response = httpx.post(proxy_url(proxy) + CHAT, json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.headers["x-rubberduck-cache"], response.json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    "cache_control", ["no-store", "private", "private, max-age=600", "max-age=60, no-store"]
)
def test_an_answer_marked_no_store_or_private_is_never_stored(
    api: Api, fake: FakeUpstream, cache_control: str
) -> None:
    proxy = api.running_proxy("openai", fake.url)
    assert [post(proxy, cache_control)[0] for _ in range(2)] == ["miss", "miss"]
    assert fake.count("POST", CHAT) == 2
    assert (
        post(proxy, "no-cache")[0] == "miss" and post(proxy, "no-cache")[0] == "hit"
    )  # SSE's usual header: kept


@pytest.mark.parametrize(
    ("content", "cache"),
    [
        ("max-age=1", {}),
        ("expires:Thu, 01 Jan 1970 00:00:00 GMT", {}),  # already expired: stored, but stale at once
        ("plain", {"ttl_seconds": 1}),
        ("max-age=3600", {"ttl_seconds": 1}),  # the shorter of the two wins
    ],
)
def test_an_expired_entry_is_a_miss_when_recording_and_still_replayed_offline(
    api: Api, fake: FakeUpstream, content: str, cache: dict[str, Any]
) -> None:
    proxy = api.running_proxy("openai", fake.url, cache=cache)
    first = post(proxy, content)
    assert first == ("miss", "answer 1")
    fresh = not content.startswith("expires:")
    if fresh:
        assert post(proxy, content) == ("hit", "answer 1")
    time.sleep(1.2)
    assert post(proxy, content) == ("miss", "answer 2")  # expired: recorded again
    time.sleep(1.2)
    set_cache(api, proxy["id"], mode="replay")
    assert post(proxy, content) == ("hit", "answer 2")  # expired, yet an offline suite keeps working
    assert fake.count("POST", CHAT) == 2
    entry = api.http.get(f"/api/proxies/{proxy['id']}/cache", params={"limit": 5}).json()["items"][0]
    assert entry["expired"] is True and entry["expires_at"] is not None


def test_a_long_expiry_stays_fresh(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url, cache={"ttl_seconds": 3600})
    assert [post(proxy, "max-age=600")[0] for _ in range(2)] == ["miss", "hit"]


def arrivals(proxy: dict[str, Any], body: dict[str, Any]) -> tuple[str, float, list[float]]:
    """(cache status, seconds to the first body byte, the gaps between body chunks as they arrive)."""
    began = time.perf_counter()
    with httpx.stream("POST", proxy_url(proxy) + STREAM, json=body, timeout=30) as response:
        times = [time.perf_counter() for chunk in response.iter_raw() if chunk]
        status = response.headers["x-rubberduck-cache"]
    return status, times[0] - began, [later - earlier for earlier, later in itertools.pairwise(times)]


def not_before(first_byte: float, gaps: list[float], every: float, slack: float = 0.05) -> bool:
    """Chunk k+1 arrived at least (k+1) * `every` seconds after the request began (less `slack`)."""
    arrived = itertools.accumulate(gaps, initial=first_byte)
    return all(elapsed >= index * every - slack for index, elapsed in enumerate(arrived))


STREAM_BODY = {"model": "m", "messages": [{"role": "user", "content": "count"}], "stream": True}
PLAIN_BODY = {"model": "m", "messages": [{"role": "user", "content": "count"}]}


def test_recorded_timing_replays_each_chunk_at_its_recorded_gap(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url, cache={"timing": "recorded"})
    status, _, recorded_gaps = arrivals(proxy, STREAM_BODY)
    assert status == "miss" and len(recorded_gaps) == 3 and min(recorded_gaps) >= GAP - 0.05
    status, first_byte, gaps = arrivals(proxy, STREAM_BODY)
    assert status == "hit" and len(gaps) == 3  # the same event boundaries
    # Each chunk goes out at its recorded offset from the request's start, so a chunk the loaded machine
    # sends late shortens the next gap: what must hold is that none arrives before its time.
    assert not_before(first_byte, gaps, GAP)

    api.set_failure(proxy["id"], stream={"chunk_delay_ms": 200})  # failure simulation adds on top
    status, first_byte, gaps = arrivals(proxy, STREAM_BODY)
    assert status == "hit" and not_before(first_byte, gaps, GAP + 0.2)

    api.set_failure(proxy["id"])
    set_cache(api, proxy["id"], timing="instant")
    status, _, gaps = arrivals(proxy, STREAM_BODY)
    assert status == "hit" and sum(gaps) < GAP  # instant: no pacing at all
    assert fake.count("POST", STREAM) == 1


def test_recorded_timing_keeps_the_first_byte_of_a_plain_answer(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url, cache={"timing": "recorded", "mode": "record"})
    status, first_byte, _ = arrivals(proxy, PLAIN_BODY)
    assert status == "miss" and first_byte >= FIRST_BYTE
    status, first_byte, _ = arrivals(proxy, PLAIN_BODY)
    assert status == "hit" and first_byte >= FIRST_BYTE - 0.05
    set_cache(api, proxy["id"], timing="instant")
    status, first_byte, _ = arrivals(proxy, PLAIN_BODY)
    assert status == "hit" and first_byte < FIRST_BYTE / 2
    assert fake.count("POST", STREAM) == 1
