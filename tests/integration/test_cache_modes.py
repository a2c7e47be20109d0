"""Cache modes (refresh, off), repeated requests (`repeats: sequence`), ignore paths, the cache-key header."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream
from tests.integration.recording_support import KEY_HEADER, log_rows, rewind, set_cache
from tests.support import Api, proxy_url

CHAT = "/v1/chat/completions"


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    """Answers `answer 1`, `answer 2`, … : each upstream call is told apart by what it says."""
    upstream = FakeUpstream()
    calls = itertools.count(1)

    async def answer(_request: FakeRequest) -> FakeResponse:
        return FakeResponse.json(200, completion(f"answer {next(calls)}"))

    upstream.add_handler("POST", CHAT, answer)
    with upstream:
        yield upstream


def sdk(proxy: dict[str, Any], **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=proxy_url(proxy) + "/v1", api_key="sk-test", max_retries=0, default_headers=headers or None
    )


def ask(client: openai.OpenAI, content: str = "Hi", **extra: Any) -> tuple[str, str, str]:
    """(x-rubberduck-cache, x-rubberduck-cache-key, the answer's text)."""
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}], **extra
    )
    text = raw.parse().choices[0].message.content or ""
    return raw.headers["x-rubberduck-cache"], raw.headers[KEY_HEADER], text


def test_sequence_records_each_repeat_and_replays_them_in_order(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url, cache={"repeats": "sequence"})
    client = sdk(proxy)
    assert [ask(client)[::2] for _ in range(3)] == [("miss", f"answer {n}") for n in (1, 2, 3)]
    set_cache(api, proxy["id"], mode="replay")
    rewind(api, proxy["id"])  # what a suite calls at its start
    assert [ask(client)[2] for _ in range(3)] == ["answer 1", "answer 2", "answer 3"]
    with pytest.raises(openai.NotFoundError) as caught:
        ask(client)
    assert caught.value.code == "replay_miss"
    assert "occurrence 4; 3 recorded" in caught.value.message
    assert "only 3 occurrences of it were recorded" in caught.value.message
    assert fake.count("POST", CHAT) == 3
    rows = log_rows(api, proxy["id"], 7)
    assert rows[-1]["error"] == f"replay_miss (nearest {rows[0]['cache_key']}#3)"  # only the count differs

    # Starting the proxy again starts counting again.
    api.stop(proxy["id"])
    api.start(proxy["id"])
    assert [ask(client)[2] for _ in range(2)] == ["answer 1", "answer 2"]


def test_rewind_of_one_namespace_leaves_the_others_counting(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url, cache={"repeats": "sequence"})
    alpha, beta = (
        sdk(proxy, **{"x-rubberduck-namespace": "alpha"}),
        sdk(proxy, **{"x-rubberduck-namespace": "beta"}),
    )
    assert [ask(c)[2] for c in (alpha, alpha, beta, beta)] == [f"answer {n}" for n in (1, 2, 3, 4)]
    set_cache(api, proxy["id"], mode="replay")
    rewind(api, proxy["id"])
    assert [ask(alpha)[2], ask(beta)[2]] == ["answer 1", "answer 3"]
    rewind(api, proxy["id"], namespace="alpha")
    assert [ask(alpha)[2], ask(beta)[2]] == ["answer 1", "answer 4"]  # alpha again from 1, beta went on


def test_same_repeats_answer_every_repeat_with_the_first_recording(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    client = sdk(proxy)
    assert [ask(client)[::2] for _ in range(3)] == [
        ("miss", "answer 1"),
        ("hit", "answer 1"),
        ("hit", "answer 1"),
    ]


def test_refresh_replaces_the_entry_and_off_leaves_the_cache_alone(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    client = sdk(proxy)
    miss = ask(client)
    assert miss[::2] == ("miss", "answer 1") and len(miss[1]) == 64
    assert ask(client) == ("hit", miss[1], "answer 1")

    set_cache(api, proxy["id"], mode="refresh")
    assert ask(client) == ("miss", miss[1], "answer 2")  # always upstream, even with an entry
    assert ask(client) == ("miss", miss[1], "answer 3")

    set_cache(api, proxy["id"], mode="off")
    assert ask(client) == ("bypass", miss[1], "answer 4")  # not read
    assert ask(client, "Something new")[::2] == ("bypass", "answer 5")

    set_cache(api, proxy["id"], mode="record")
    assert ask(client) == ("hit", miss[1], "answer 3")  # refresh replaced it; off wrote nothing
    assert ask(client, "Something new")[::2] == ("miss", "answer 6")
    assert fake.count("POST", CHAT) == 6


def test_client_cache_controls_count_in_record_mode_only(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    ask(sdk(proxy))
    bypass = sdk(proxy, **{"x-rubberduck-cache": "bypass", "cache-control": "no-cache"})
    assert ask(bypass)[::2] == ("bypass", "answer 2")
    set_cache(api, proxy["id"], mode="replay")
    assert ask(bypass)[::2] == ("hit", "answer 1")  # replay never goes upstream, whatever the client says
    assert fake.count("POST", CHAT) == 2


def test_every_proxied_answer_carries_its_cache_key(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    url = proxy_url(proxy) + CHAT
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    keys = []
    for mode in ("record", "record", "refresh", "off", "replay"):
        set_cache(api, proxy["id"], mode=mode)
        keys.append(httpx.post(url, json=body).headers[KEY_HEADER])
        keys.append(httpx.post(url, json={**body, "n": 2}).headers.get(KEY_HEADER))  # a miss in replay mode
    assert len(set(keys[::2])) == 1 and len(set(keys[1::2])) == 1 and keys[0] != keys[1]
    api.set_failure(proxy["id"], errors=[{"status": 500, "rate": 1.0}])
    simulated = httpx.post(url, json=body)
    assert simulated.status_code == 500 and simulated.headers[KEY_HEADER] == keys[0]


def test_ignored_fields_leave_the_key_but_reach_the_upstream_and_the_recording(
    api: Api, fake: FakeUpstream
) -> None:
    proxy = api.running_proxy("openai", fake.url, cache={"ignore": ["metadata.request_id", "user"]})
    client = sdk(proxy)
    first = ask(client, metadata={"request_id": "run-1", "suite": "a"}, user="u-1")
    assert first[::2] == ("miss", "answer 1")
    assert fake.requests[-1].json()["metadata"] == {"request_id": "run-1", "suite": "a"}  # forwarded whole
    assert ask(client, metadata={"request_id": "run-2", "suite": "a"}, user="u-2") == (
        "hit",
        first[1],
        "answer 1",
    )
    assert ask(client, metadata={"request_id": "run-3", "suite": "b"})[::2] == ("miss", "answer 2")

    entry = api.http.get(f"/api/proxies/{proxy['id']}/cache/{first[1]}").json()
    assert entry["ignored"] == ["metadata.request_id", "user"]
    assert entry["request"]["body"]["metadata"]["request_id"] == "run-1"  # the request as sent
    assert "authorization" not in entry["request"]["headers"]  # never a credential

    set_cache(api, proxy["id"], mode="replay")
    with pytest.raises(openai.NotFoundError) as caught:
        ask(client, "Hello", metadata={"request_id": "run-4", "suite": "a"}, user="u-4")
    assert 'messages[0].content: recorded "Hi" ≠ sent "Hello"' in caught.value.message
    assert (
        "request_id" not in caught.value.message and "user:" not in caught.value.message
    )  # ignored: no reason

    set_cache(api, proxy["id"], mode="record", ignore=[])  # the key rules change without a restart
    assert ask(client, metadata={"request_id": "run-5", "suite": "a"}, user="u-5")[::2] == (
        "miss",
        "answer 3",
    )


def test_an_invalid_ignore_path_is_a_422_naming_it(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    response = api.http.patch(
        f"/api/proxies/{proxy['id']}", json={"cache": {"ignore": ["user", "messages[x"]}}
    )
    assert response.status_code == 422
    assert "messages[x" in response.text and "ignore" in response.text


def test_replay_mode_never_forwards_a_request_it_cannot_record(api: Api, fake: FakeUpstream) -> None:
    fake.add("DELETE", "/v1/files/file-1", FakeResponse.json(200, {"id": "file-1", "deleted": True}))
    proxy = api.running_proxy("openai", fake.url, cache={"mode": "replay"})
    response = httpx.delete(proxy_url(proxy) + "/v1/files/file-1", headers={"authorization": "Bearer sk-x"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "replay_miss"
    assert fake.count("DELETE", "/v1/files/file-1") == 0
    set_cache(api, proxy["id"], mode="record")  # recording passes it through, as it always did
    assert httpx.delete(proxy_url(proxy) + "/v1/files/file-1").json()["deleted"] is True
