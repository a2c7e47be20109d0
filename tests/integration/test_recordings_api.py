"""Browsing and pruning recordings: `/api/proxies/{id}/cache[...]` on a real server.

Entries are recorded through real proxies with the official SDKs (openai, anthropic, boto3) against the fake
upstreams. Cases the SDKs cannot set up cheaply (many namespaces, occurrences, old or expired entries) are
written straight into the server's SQLite file through the cache store, which is what the API reads.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import boto3
import openai
import pytest
from botocore.config import Config

from rubberduck.cache.entry import CachedResponse
from rubberduck.cache.sqlstore import SqlCacheStore
from rubberduck.db.database import Database
from tests.fakes import aws
from tests.fakes.cassette import recordings
from tests.fakes.eventstream import split_frames
from tests.fakes.sse import split_sse_events
from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream
from tests.support import Api, RubberduckProcess, proxy_url

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
BEDROCK_MODEL = "us.anthropic.claude-3-sonnet-20240229-v1:0"
BEDROCK_STREAM = "/model/us.anthropic.claude-3-sonnet-20240229-v1%3A0/invoke-with-response-stream"
PLAIN = recordings("openai", "chat_completions_nonstream_tools.yaml")[0]
STREAM = recordings("openai", "chat_completions_stream_tools.yaml")[0]
GZIP = recordings("anthropic", "messages_nonstream_gzip.yaml")[0]
BEDROCK = recordings("bedrock", "invoke_with_response_stream_anthropic.yaml")[0]
QUESTION = [{"role": "user", "content": "What is 2+2?"}]
KEY = "ab" * 32
OTHER_KEY = "cd" * 32


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()

    async def chat(request: FakeRequest) -> FakeResponse:
        if request.json().get("stream"):
            return FakeResponse(STREAM.status, list(STREAM.headers), chunks=split_sse_events(STREAM.body))
        return FakeResponse(PLAIN.status, list(PLAIN.headers), PLAIN.body)

    async def bedrock(request: FakeRequest) -> FakeResponse:
        problem = aws.signature_problem(request)
        if problem:
            return aws.invalid_signature(problem)
        return FakeResponse(BEDROCK.status, list(BEDROCK.headers), chunks=split_frames(BEDROCK.body))

    upstream.add_handler("POST", CHAT, chat)
    upstream.add("POST", MESSAGES, GZIP)
    upstream.add_handler("POST", BEDROCK_STREAM, bedrock)
    with upstream:
        yield upstream


def openai_client(proxy: dict[str, Any], **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy_url(proxy) + "/v1", api_key="sk-test", max_retries=0, **kwargs)


def ask(sdk: openai.OpenAI, content: str = "What is 2+2?", **extra: Any) -> Any:
    messages = [{"role": "user", "content": content}]
    return sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages, **extra)


def ask_stream(sdk: openai.OpenAI) -> list[Any]:
    with sdk.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=QUESTION,
        stream=True,  # type: ignore[arg-type]
    ) as response:
        return list(response.parse())


def entries(api: Api, proxy_id: int, **params: Any) -> list[dict[str, Any]]:
    response = api.http.get(f"/api/proxies/{proxy_id}/cache", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def entry(api: Api, proxy_id: int, key: str, occurrence: int = 1) -> dict[str, Any]:
    response = api.http.get(f"/api/proxies/{proxy_id}/cache/{key}", params={"occurrence": occurrence})
    assert response.status_code == 200, response.text
    return dict(response.json())


def seed(
    server: RubberduckProcess, proxy_id: int, *rows: CachedResponse, hits: dict[Any, float] | None = None
) -> None:
    """Entries written into the server's database through the cache store (and hits, as the hit writer would)."""

    async def write() -> None:
        database = Database(server.database_url)
        store = SqlCacheStore(database)
        try:
            for row in rows:
                await store.put(proxy_id, row)
            await store.add_hits({(proxy_id, *slot): (1, moment) for slot, moment in (hits or {}).items()})
        finally:
            await database.dispose()

    asyncio.run(write())


def recorded(
    key: str,
    created: float,
    namespace: str = "",
    occurrence: int = 1,
    operation: str = "chat",
    model: str = "gpt-4o-mini",
    **fields: Any,
) -> CachedResponse:
    body = json.dumps({"id": f"{namespace}-{occurrence}"}).encode()
    return CachedResponse(
        200,
        [(b"content-type", b"application/json")],
        (body,),
        False,
        key=key,
        namespace=namespace,
        occurrence=occurrence,
        operation=operation,
        model=model,
        request={"method": "POST", "path": CHAT, "query": [], "headers": {}, "body": {"model": model}},
        created_at=created,
        **fields,
    )


# ---- recorded through real proxies --------------------------------------------------------------------------


def test_sdk_recordings_are_listed_newest_first_and_shown(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    sdk = openai_client(proxy)
    assert ask(sdk).headers["x-rubberduck-cache"] == "miss"
    assert len(ask_stream(sdk)) > 3
    listed = entries(api, proxy["id"])
    assert [item["stream"] for item in listed] == [True, False]  # newest first
    for item in listed:
        assert (item["status"], item["occurrence"], item["namespace"], item["hits"]) == (200, 1, "", 0)
        assert item["size"] > 0 and item["expired"] is False and item["ignored"] == []
        assert len(item["key"]) == 64
    stream_key, plain_key = listed[0]["key"], listed[1]["key"]

    plain = entry(api, proxy["id"], plain_key)
    assert plain["response"]["json"] == json.loads(gzip.decompress(PLAIN.body))
    assert plain["response"]["encoding"] == "gzip"  # the recording is gzip'd: shown decoded
    assert plain["response"]["events"] is None and plain["response"]["body"] is None
    assert ["content-type", "application/json"] in plain["response"]["headers"]

    stream = entry(api, proxy["id"], stream_key)
    events = stream["response"]["events"]
    assert [event["data"] for event in events] == [e.decode() for e in split_sse_events(STREAM.body)]
    assert stream["response"]["json"] is None

    assert api.http.get(f"/api/proxies/{proxy['id']}/cache/{KEY}").status_code == 404
    assert api.http.get(f"/api/proxies/{proxy['id']}/cache/{plain_key}?occurrence=2").status_code == 404


def test_entry_shows_the_request_as_sent_and_stream_offsets(api: Api, fake: FakeUpstream) -> None:
    """Needs the data plane's recordings (canonical request, operation, model, offsets)."""
    proxy = api.running_proxy("openai", fake.url)
    sdk = openai_client(proxy)
    plain = ask(sdk, content="Recorded as sent", temperature=0.5)
    ask_stream(sdk)
    key = plain.headers["x-rubberduck-cache-key"]
    shown = entry(api, proxy["id"], key)
    assert shown["request"]["method"] == "POST" and shown["request"]["path"] == CHAT
    assert shown["request"]["body"] == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Recorded as sent"}],
        "temperature": 0.5,
    }
    assert "authorization" not in json.dumps(shown["request"]).lower()
    assert shown["operation"] is not None and shown["model"] == "gpt-4o-mini"
    [stream] = entries(api, proxy["id"], operation=shown["operation"], model="gpt-4o-mini", limit=1)
    stream_view = entry(api, proxy["id"], stream["key"])
    offsets = [event["offset_ms"] for event in stream_view["response"]["events"]]
    assert all(offset is not None and offset >= 0 for offset in offsets)
    assert offsets == sorted(offsets)


def test_a_gzip_answer_is_shown_decoded(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("anthropic", fake.url)
    sdk = anthropic.Anthropic(base_url=proxy_url(proxy), api_key="sk-ant-test", max_retries=0)
    sdk.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=QUESTION)  # type: ignore[arg-type]
    [item] = entries(api, proxy["id"])
    response = entry(api, proxy["id"], item["key"])["response"]
    assert ["content-encoding", "gzip"] in response["headers"]  # stored as it will be served ...
    assert response["encoding"] == "gzip"  # ... and shown decoded
    assert response["json"]["type"] == "message"


def test_a_bedrock_stream_shows_its_decoded_frames(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("bedrock", fake.url)
    sdk = boto3.client(
        "bedrock-runtime",
        endpoint_url=proxy_url(proxy),
        region_name="us-east-1",
        aws_access_key_id="AKIACLIENTDUMMY00001",
        aws_secret_access_key="client-dummy-secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    answer = sdk.invoke_model_with_response_stream(modelId=BEDROCK_MODEL, body=BEDROCK.request_body)
    assert len(list(answer["body"])) == len(split_frames(BEDROCK.body))
    [item] = entries(api, proxy["id"])
    assert item["stream"] is True
    events = entry(api, proxy["id"], item["key"])["response"]["events"]
    frames = [frame for event in events for frame in event["frames"]]
    assert len(frames) == len(split_frames(BEDROCK.body))
    assert {frame["event_type"] for frame in frames} == {"chunk"}
    kinds = [frame["bytes_decoded"]["type"] for frame in frames]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "content_block_delta" in kinds
    assert all(event["data"] is None and event["data_base64"] for event in events)


def test_deleting_an_entry_makes_the_next_request_a_miss(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    sdk = openai_client(proxy)
    key = ask(sdk).headers["x-rubberduck-cache-key"]
    assert ask(sdk).headers["x-rubberduck-cache"] == "hit"
    deleted = api.http.delete(f"/api/proxies/{proxy['id']}/cache/{key}", params={"occurrence": 1})
    assert deleted.json() == {"deleted": 1}
    assert api.http.get(f"/api/proxies/{proxy['id']}/cache/{key}").status_code == 404
    assert ask(sdk).headers["x-rubberduck-cache"] == "miss"  # the memory copy went too
    assert fake.count("POST", CHAT) == 2
    assert api.http.delete(f"/api/proxies/{proxy['id']}/cache/{OTHER_KEY}").json() == {"deleted": 0}


def test_unused_since_lists_what_a_run_did_not_hit(api: Api, fake: FakeUpstream) -> None:
    """Needs the data plane to count hits (LayeredCache.touch); listing flushes them first."""
    proxy = api.running_proxy("openai", fake.url)
    sdk = openai_client(proxy)
    used = ask(sdk, content="used").headers["x-rubberduck-cache-key"]
    unused = ask(sdk, content="unused").headers["x-rubberduck-cache-key"]
    time.sleep(0.01)
    run_start = datetime.now(UTC)
    assert ask(sdk, content="used").headers["x-rubberduck-cache"] == "hit"
    assert [item["key"] for item in entries(api, proxy["id"], unused_since=run_start.isoformat())] == [unused]
    hit = entry(api, proxy["id"], used)
    assert hit["hits"] == 1 and hit["last_hit_at"] is not None


def test_namespaces_from_the_header_are_separate_and_cleared_alone(api: Api, fake: FakeUpstream) -> None:
    """Needs the data plane's namespaces (`x-rubberduck-namespace`)."""
    proxy = api.running_proxy("openai", fake.url)
    for namespace in ("a", "b"):
        sdk = openai_client(proxy, default_headers={"x-rubberduck-namespace": namespace})
        assert ask(sdk).headers["x-rubberduck-cache"] == "miss"
    assert {item["namespace"] for item in entries(api, proxy["id"])} == {"a", "b"}
    cleared = api.http.delete(f"/api/proxies/{proxy['id']}/cache", params={"namespace": "a"})
    assert cleared.json() == {"deleted": 1}
    assert [item["namespace"] for item in entries(api, proxy["id"])] == ["b"]
    sdk = openai_client(proxy, default_headers={"x-rubberduck-namespace": "b"})
    assert ask(sdk).headers["x-rubberduck-cache"] == "hit"


def test_rewind_starts_the_occurrences_again(api: Api, fake: FakeUpstream) -> None:
    """Needs the data plane's `repeats: sequence`."""
    proxy = api.running_proxy("openai", fake.url, cache={"repeats": "sequence"})
    sdk = openai_client(proxy)
    assert [ask(sdk).headers["x-rubberduck-cache"] for _ in range(2)] == ["miss", "miss"]
    assert sorted(item["occurrence"] for item in entries(api, proxy["id"])) == [1, 2]
    rewound = api.http.post(f"/api/proxies/{proxy['id']}/cache/rewind")
    assert rewound.status_code == 200 and rewound.json() == {"rewound": True}
    assert [ask(sdk).headers["x-rubberduck-cache"] for _ in range(2)] == ["hit", "hit"]
    assert fake.count("POST", CHAT) == 2


# ---- seeded through the cache store ------------------------------------------------------------------------


def test_pages_follow_the_cursor_and_filters_narrow_them(api: Api, server: RubberduckProcess) -> None:
    proxy = api.create_proxy(provider="openai")
    base = time.time() - 1000
    rows = [
        recorded(KEY, base + 5, namespace="a", occurrence=1),
        recorded(KEY, base + 5, namespace="a", occurrence=2),  # same time: ordered by key, occurrence
        recorded(OTHER_KEY, base + 5, namespace="a", occurrence=1),
        recorded("ef" * 32, base + 4, namespace="b", operation="embeddings", model="text-embedding-3-small"),
        recorded("01" * 32, base + 3),
    ]
    seed(server, proxy["id"], *rows)
    seen: list[tuple[str, int]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.http.get(f"/api/proxies/{proxy['id']}/cache", params=params).json()
        seen += [(item["key"], item["occurrence"]) for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [(KEY, 1), (KEY, 2), (OTHER_KEY, 1), ("ef" * 32, 1), ("01" * 32, 1)]

    assert len(entries(api, proxy["id"], namespace="a")) == 3
    assert [i["namespace"] for i in entries(api, proxy["id"], namespace="b")] == ["b"]
    assert [i["key"] for i in entries(api, proxy["id"], namespace="")] == ["01" * 32]  # the default one
    assert [i["key"] for i in entries(api, proxy["id"], operation="embeddings")] == ["ef" * 32]
    assert [i["key"] for i in entries(api, proxy["id"], model="text-embedding-3-small")] == ["ef" * 32]
    assert entries(api, proxy["id"], namespace="a", operation="embeddings") == []
    last = api.http.get(f"/api/proxies/{proxy['id']}/cache", params={"limit": 5}).json()
    assert len(last["items"]) == 5 and last["next_cursor"] is None  # exactly one page: no empty next page


def test_unused_since_with_recorded_hits_and_time_zones(api: Api, server: RubberduckProcess) -> None:
    proxy = api.create_proxy(provider="openai")
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    before, after = (start - timedelta(hours=1)).timestamp(), (start + timedelta(hours=1)).timestamp()
    old_used, old_unused, hit_long_ago, new = "a1" * 32, "b2" * 32, "c3" * 32, "d4" * 32
    seed(
        server,
        proxy["id"],
        recorded(old_used, before - 60),
        recorded(old_unused, before - 60),
        recorded(hit_long_ago, before - 60),
        recorded(new, after),  # created since: not "unused since" the start
        hits={(old_used, 1): after, (hit_long_ago, 1): before},
    )
    expected = {old_unused, hit_long_ago}
    for spelled in ("2026-01-01T12:00:00Z", "2026-01-01T12:00:00", "2026-01-01T14:00:00+02:00"):
        assert {i["key"] for i in entries(api, proxy["id"], unused_since=spelled)} == expected, spelled
    shown = entry(api, proxy["id"], old_used)
    assert shown["hits"] == 1 and datetime.fromisoformat(shown["last_hit_at"]).timestamp() == after
    bad = api.http.get(f"/api/proxies/{proxy['id']}/cache", params={"unused_since": "last tuesday"})
    assert bad.status_code == 422


def test_expired_entries_say_so(api: Api, server: RubberduckProcess) -> None:
    proxy = api.create_proxy(provider="openai")
    now = time.time()
    seed(
        server,
        proxy["id"],
        recorded(KEY, now - 100, expires_at=now - 10),
        recorded(OTHER_KEY, now - 50, expires_at=now + 3600, ignored=("user", "metadata.request_id")),
    )
    listed = {item["key"]: item for item in entries(api, proxy["id"])}
    assert (listed[KEY]["expired"], listed[OTHER_KEY]["expired"]) == (True, False)
    assert listed[OTHER_KEY]["ignored"] == ["user", "metadata.request_id"]
    shown = entry(api, proxy["id"], KEY)
    assert shown["expired"] is True and shown["expires_at"] is not None
    assert shown["request"]["body"] == {"model": "gpt-4o-mini"}
    assert shown["response"]["json"] == {"id": "-1"}


def test_delete_one_occurrence_then_every_occurrence(api: Api, server: RubberduckProcess) -> None:
    proxy = api.create_proxy(provider="openai")
    now = time.time()
    seed(
        server, proxy["id"], *(recorded(KEY, now, occurrence=n) for n in (1, 2, 3)), recorded(OTHER_KEY, now)
    )
    path = f"/api/proxies/{proxy['id']}/cache/{KEY}"
    assert api.http.delete(path, params={"occurrence": 2}).json() == {"deleted": 1}
    assert api.http.get(path, params={"occurrence": 2}).status_code == 404
    assert entry(api, proxy["id"], KEY, occurrence=3)["occurrence"] == 3
    assert api.http.delete(path).json() == {"deleted": 2}
    assert [item["key"] for item in entries(api, proxy["id"])] == [OTHER_KEY]


def test_clearing_one_namespace_keeps_the_others(api: Api, server: RubberduckProcess) -> None:
    proxy = api.create_proxy(provider="openai")
    now = time.time()
    seed(
        server,
        proxy["id"],
        recorded(KEY, now, namespace="suite:login"),
        recorded(KEY, now, namespace="suite:login", occurrence=2),
        recorded(OTHER_KEY, now, namespace="suite.signup"),
        recorded("ef" * 32, now),
    )
    cleared = api.http.delete(f"/api/proxies/{proxy['id']}/cache", params={"namespace": "suite:login"})
    assert cleared.status_code == 200 and cleared.json() == {"deleted": 2}
    assert sorted(item["namespace"] for item in entries(api, proxy["id"])) == ["", "suite.signup"]
    default_only = api.http.delete(f"/api/proxies/{proxy['id']}/cache", params={"namespace": ""})
    assert default_only.json() == {"deleted": 1}  # an empty name is the default namespace
    assert [item["namespace"] for item in entries(api, proxy["id"])] == ["suite.signup"]
    assert api.http.delete(f"/api/proxies/{proxy['id']}/cache").json() == {"deleted": 1}  # no namespace: all
    assert entries(api, proxy["id"]) == []


def test_rewind_answers_for_a_namespace_or_all(api: Api) -> None:
    proxy = api.create_proxy(provider="openai")
    path = f"/api/proxies/{proxy['id']}/cache/rewind"
    assert api.http.post(path).json() == {"rewound": True}
    assert api.http.post(path, params={"namespace": "suite-1"}).json() == {"rewound": True}


# ---- isolation and validation ------------------------------------------------------------------------------


def test_another_users_proxy_and_entries_are_404_everywhere(api: Api, server: RubberduckProcess) -> None:
    proxy = api.create_proxy(provider="openai")
    seed(server, proxy["id"], recorded(KEY, time.time(), namespace="a"))
    other = Api.new_user(server.url, f"other-{time.time_ns()}@example.com")
    base = f"/api/proxies/{proxy['id']}/cache"
    calls = [
        ("GET", base, {}),
        ("GET", base, {"namespace": "a"}),
        ("GET", f"{base}/{KEY}", {}),
        ("DELETE", f"{base}/{KEY}", {}),
        ("DELETE", f"{base}/{KEY}", {"occurrence": 1}),
        ("DELETE", base, {"namespace": "a"}),
        ("DELETE", base, {}),
        ("POST", f"{base}/rewind", {}),
    ]
    for method, path, params in calls:
        response = other.http.request(method, path, params=params)
        assert response.status_code == 404, (method, path, params, response.text)
        assert KEY not in response.text
    assert [item["key"] for item in entries(api, proxy["id"])] == [KEY]  # still there for its owner
    assert other.http.get("/api/proxies/2147483647/cache").status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "params"),
    [
        ("GET", f"/{KEY.upper()}", {}),
        ("GET", f"/{KEY[:-1]}", {}),
        ("GET", f"/{KEY[:-1]}g", {}),
        ("DELETE", f"/{KEY}0", {}),
        ("GET", f"/{KEY}", {"occurrence": 0}),
        ("DELETE", f"/{KEY}", {"occurrence": 2**31}),
        ("GET", "", {"cursor": "not-a-cursor"}),
        ("GET", "", {"cursor": "WzEsMiwzXQ"}),  # base64 of [1,2,3]
        ("GET", "", {"limit": 0}),
        ("GET", "", {"limit": 501}),
        ("GET", "", {"namespace": "a/b"}),
        ("GET", "", {"namespace": "a\n"}),
        ("GET", "", {"namespace": ".."}),
        ("GET", f"/{KEY}%0A", {}),
        ("DELETE", "", {"namespace": "with space"}),
        ("DELETE", "", {"namespace": "x" * 201}),
        ("POST", "/rewind", {"namespace": "ünï"}),
    ],
)
def test_bad_keys_cursors_and_namespaces_are_422(
    api: Api, method: str, suffix: str, params: dict[str, Any]
) -> None:
    proxy = api.create_proxy(provider="openai")
    response = api.http.request(method, f"/api/proxies/{proxy['id']}/cache{suffix}", params=params)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


def test_the_longest_namespace_is_accepted(api: Api) -> None:
    proxy = api.create_proxy(provider="openai")
    response = api.http.delete(f"/api/proxies/{proxy['id']}/cache", params={"namespace": "x" * 200})
    assert response.json() == {"deleted": 0}
