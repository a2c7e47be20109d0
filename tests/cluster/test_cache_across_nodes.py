"""One cache for every node: what one node records another replays, a clear on one is seen by all, and a
proxy's config (start, stop, edit) reaches every node within a second."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import httpx
import openai
import pytest

from tests.cluster.nodes import CHAT, Cluster, Node, ask, eventually, wait_serving
from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.integration.recording_support import rewind, set_cache
from tests.support import Api

MESSAGES = "/v1/messages"
_probes = itertools.count(1)


def test_a_proxy_started_stopped_and_edited_on_one_node_follows_on_the_other_within_a_second(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    on_a, on_b = users
    proxy = on_a.running_proxy("openai", fake.url)
    wait_serving(cluster.b, proxy, 1.0)
    assert ask(cluster.b, proxy) == ("miss", "answer 1")

    set_cache(on_a, proxy["id"], mode="off")
    eventually(lambda: ask(cluster.b, proxy)[0] == "bypass" or None, 1.0, "mode off not applied on B")

    on_a.stop(proxy["id"])
    eventually(lambda: None if cluster.b.serves(proxy) else True, 1.0, "B still serves a stopped proxy")
    on_b.start(proxy["id"])
    wait_serving(cluster.a, proxy, 1.0)
    assert ask(cluster.a, proxy)[0] == "bypass"  # started again with its current config


def test_what_a_recorded_is_a_hit_on_b_and_the_other_way_round(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    proxy = cluster.running_proxy(users[0], "openai", fake.url)
    assert ask(cluster.a, proxy) == ("miss", "answer 1")
    assert ask(cluster.b, proxy) == ("hit", "answer 1")
    assert ask(cluster.b, proxy, "Other") == ("miss", "answer 2")
    assert ask(cluster.a, proxy, "Other") == ("hit", "answer 2")
    assert fake.count("POST", CHAT) == 2


def test_an_anthropic_answer_recorded_on_b_is_replayed_by_a(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    fake.add("POST", MESSAGES, recordings("anthropic", "messages_nonstream_gzip.yaml")[0])
    proxy = cluster.running_proxy(users[0], "anthropic", fake.url)

    def ask_claude(node: Node) -> Any:
        return node.anthropic(proxy).messages.with_raw_response.create(
            model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "A joke?"}]
        )

    first, second = ask_claude(cluster.b), ask_claude(cluster.a)
    assert (first.headers["x-rubberduck-cache"], second.headers["x-rubberduck-cache"]) == ("miss", "hit")
    assert first.headers["content-encoding"] == second.headers["content-encoding"] == "gzip"
    assert second.parse().content[0].text == first.parse().content[0].text
    assert fake.count("POST", MESSAGES) == 1


def test_a_stream_recorded_on_a_is_replayed_on_b_byte_for_byte(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    recording = recordings("openai", "chat_completions_stream_tools.yaml")[0]
    fake.add("POST", CHAT, recording, stream=True)
    proxy = cluster.running_proxy(users[0], "openai", fake.url)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": True}

    def raw(node: Node) -> tuple[str, list[bytes]]:
        with httpx.stream("POST", node.proxy_url(proxy) + CHAT, json=body, timeout=10) as response:
            return response.headers["x-rubberduck-cache"], list(response.iter_raw())

    (miss, on_a), (hit, on_b) = raw(cluster.a), raw(cluster.b)
    assert (miss, hit) == ("miss", "hit")
    assert b"".join(on_a) == b"".join(on_b) == recording.body
    assert b"".join(on_b).count(b"data: ") == recording.body.count(b"data: ")

    def sdk_stream(node: Node) -> tuple[str, list[dict[str, Any]]]:
        with node.openai(proxy).chat.completions.with_streaming_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "What is 1231 * 2331?"}],
            stream=True,
            stream_options={"include_usage": True},
        ) as response:
            return response.headers["x-rubberduck-cache"], [c.model_dump() for c in response.parse()]

    (miss, chunks_a), (hit, chunks_b) = sdk_stream(cluster.b), sdk_stream(cluster.a)
    assert (miss, hit) == ("miss", "hit") and chunks_a == chunks_b and chunks_b[-1]["usage"]
    assert fake.count("POST", CHAT) == 2


def test_a_clear_on_a_is_a_miss_on_b_as_soon_as_it_returns(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    on_a, on_b = users
    proxy = cluster.running_proxy(on_a, "openai", fake.url)
    assert ask(cluster.a, proxy) == ("miss", "answer 1")
    assert ask(cluster.b, proxy) == ("hit", "answer 1")  # now in B's memory too
    cleared = on_a.http.delete(f"/api/proxies/{proxy['id']}/cache")
    assert cleared.status_code == 200 and cleared.json()["deleted"] == 1, cleared.text
    assert ask(cluster.b, proxy) == ("miss", "answer 2")  # no wait: evicted everywhere before the answer
    assert ask(cluster.a, proxy) == ("hit", "answer 2")

    key = (
        cluster.a.openai(proxy)
        .chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
        .headers["x-rubberduck-cache-key"]
    )
    deleted = on_b.http.delete(f"/api/proxies/{proxy['id']}/cache/{key}")  # one entry, through B
    assert deleted.status_code == 200, deleted.text
    assert ask(cluster.a, proxy) == ("miss", "answer 3")
    assert fake.count("POST", CHAT) == 3


def wait_for_replay_mode(node: Node, proxy: dict[str, Any]) -> None:
    """The node answers a never-seen question with a replay miss (each probe is new: a node still in
    record mode records it, and it must not become a hit for a later probe)."""

    def replays() -> bool | None:
        try:
            ask(node, proxy, f"probe {next(_probes)}")
        except openai.NotFoundError as error:
            return True if error.code == "replay_miss" else None
        return None

    eventually(replays, 1.0, f"replay mode not applied on {node.host}")


def test_sequence_repeats_alternating_nodes_record_1_2_3_and_replay_them_in_order(
    cluster: Cluster, users: tuple[Api, Api], fake: FakeUpstream
) -> None:
    on_a, on_b = users
    proxy = cluster.running_proxy(on_a, "openai", fake.url, cache={"repeats": "sequence"})
    a, b = cluster.a, cluster.b
    assert [ask(a, proxy), ask(b, proxy), ask(a, proxy)] == [("miss", f"answer {n}") for n in (1, 2, 3)]

    set_cache(on_b, proxy["id"], mode="replay")
    for node in (a, b):
        wait_for_replay_mode(node, proxy)
    rewind(on_a, proxy["id"])  # the counters are shared: B starts again from 1 too
    assert [ask(b, proxy), ask(a, proxy), ask(b, proxy)] == [("hit", f"answer {n}") for n in (1, 2, 3)]
    with pytest.raises(openai.NotFoundError) as caught:
        ask(a, proxy)
    assert caught.value.code == "replay_miss"
    assert "occurrence 4; 3 recorded" in caught.value.message
    assert fake.count("POST", CHAT) == 3

    listed = on_b.http.get(f"/api/proxies/{proxy['id']}/cache", params={"limit": 200}).json()["items"]
    [(key, _)] = [(k, n) for k, n in Counter(item["key"] for item in listed).items() if n > 1]
    assert sorted(item["occurrence"] for item in listed if item["key"] == key) == [1, 2, 3]
