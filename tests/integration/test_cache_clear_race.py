"""`DELETE /api/proxies/{id}/cache` wins over an answer still on its way when the clear came.

The upstream holds its stream after the first event until the test releases it, so the clear lands
while the request is in flight, every time, with no sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.support import Api, proxy_url

CHAT = "/v1/chat/completions"
QUESTION = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "clear me"}]}


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    stream = recordings("openai", "chat_completions_stream_tools.yaml")[0]
    upstream.add("POST", CHAT, stream, stream=True, hold_after=1)
    with upstream:
        yield upstream


def test_a_stream_in_flight_when_the_cache_is_cleared_is_not_cached(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    client = openai.OpenAI(base_url=proxy_url(proxy) + "/v1", api_key="sk-test", max_retries=0)
    stream = client.chat.completions.with_raw_response.create(**QUESTION, stream=True)
    assert stream.headers["x-rubberduck-cache"] == "miss"
    chunks = iter(stream.parse())
    next(chunks)  # the first event is through; the upstream holds the rest

    cleared = api.http.delete(f"/api/proxies/{proxy['id']}/cache")
    assert cleared.status_code == 200, cleared.text
    fake.release()
    assert list(chunks)  # the client reads its whole answer ...

    # ... but the cache holds nothing begun before the clear: the same request goes upstream again.
    again = client.chat.completions.with_raw_response.create(**QUESTION, stream=True)
    assert again.headers["x-rubberduck-cache"] == "miss"
    assert list(again.parse())
    assert fake.count("POST", CHAT) == 2
    # Answers begun after the clear are cached as usual.
    third = client.chat.completions.with_raw_response.create(**QUESTION, stream=True)
    assert third.headers["x-rubberduck-cache"] == "hit"
    assert fake.count("POST", CHAT) == 2
