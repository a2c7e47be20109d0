"""A simulated 429 looks like a real one, and the tokens-per-minute window counts the tokens really used.

OpenAI and Azure put six rate-limit headers on every answer, a 429 included: the limit, what remains and
when it resets, for requests and for tokens (recorded formats: `30000`, `29999`, `2ms`, `0s`, `6m0s`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.upstream import FakeResponse, FakeUpstream
from tests.support import Api, proxy_url

CHAT = "/v1/chat/completions"
AZURE_CHAT = "/openai/deployments/gpt-4o-mini/chat/completions"
QUESTION = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "How many tokens?"}]}
# What this question really costs: far more than the proxy's estimate from its size (about 25 tokens).
PROMPT_TOKENS, COMPLETION_TOKENS = 700, 400
COMPLETION = {
    "id": "chatcmpl-usage",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Many.", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    },
}
RATE_LIMIT_HEADERS = tuple(
    f"x-ratelimit-{what}-{kind}"
    for kind in ("requests", "tokens")
    for what in ("limit", "remaining", "reset")
)
# OpenAI's reset durations: `6m0s`, `1m26.4s`, `59.98s`, `20ms`, `0s`.
DURATION = re.compile(r"^(?:(\d+)m)?(\d+(?:\.\d+)?)(ms|s)$")


def seconds(duration: str) -> float:
    found = DURATION.match(duration)
    assert found, f"not an OpenAI duration: {duration!r}"
    minutes, number, unit = found.groups()
    return int(minutes or 0) * 60 + float(number) / (1000 if unit == "ms" else 1)


def quota(headers: httpx.Headers) -> dict[str, str]:
    missing = [name for name in RATE_LIMIT_HEADERS if name not in headers]
    assert not missing, f"missing {missing}"
    for name in RATE_LIMIT_HEADERS:
        if "reset" in name:
            seconds(headers[name])
        else:
            assert headers[name].isdigit(), (name, headers[name])
    return {name.removeprefix("x-ratelimit-"): headers[name] for name in RATE_LIMIT_HEADERS}


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    answer = FakeResponse.json(200, COMPLETION)
    upstream.add("POST", CHAT, answer)
    upstream.add("POST", AZURE_CHAT, answer)
    with upstream:
        yield upstream


def sdk(proxy: dict[str, Any]) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy_url(proxy) + "/v1", api_key="sk-test", max_retries=0)


def test_an_injected_openai_429_carries_the_rate_limit_headers(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    api.set_failure(proxy["id"], errors=[{"status": 429, "rate": 1.0, "retry_after_s": 2}])
    with pytest.raises(openai.RateLimitError) as raised:
        sdk(proxy).chat.completions.create(**QUESTION)
    headers = raised.value.response.headers
    # No limit is set on the proxy: plausible numbers, the requests exhausted until the retry.
    assert quota(headers) == {
        "limit-requests": "500",
        "remaining-requests": "0",
        "reset-requests": "2s",
        "limit-tokens": "200000",
        "remaining-tokens": "200000",
        "reset-tokens": "0s",
    }
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("2", "2000")


def test_an_injected_azure_429_carries_the_rate_limit_headers(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("azure", fake.url)
    api.set_failure(proxy["id"], allow_header_faults=True)
    client = openai.AzureOpenAI(
        azure_endpoint=proxy_url(proxy), api_version="2024-10-21", api_key="azure-key", max_retries=0
    )
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(**QUESTION, extra_headers={"x-rubberduck-fault": "429"})
    headers = raised.value.response.headers
    assert quota(headers)["remaining-requests"] == "0"
    assert seconds(headers["x-ratelimit-reset-requests"]) == 1.0 == float(headers["retry-after"])
    assert headers["apim-request-id"]


def test_the_rate_limit_stages_429_has_its_own_numbers_and_plausible_ones_for_the_rest(
    api: Api, fake: FakeUpstream
) -> None:
    proxy = api.running_proxy("openai", fake.url)
    api.set_failure(proxy["id"], rate_limit={"rpm": 1})
    client = sdk(proxy)
    client.chat.completions.create(**QUESTION)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(**QUESTION)
    found = quota(raised.value.response.headers)
    assert (found["limit-requests"], found["remaining-requests"]) == ("1", "0")
    assert 55 < seconds(found["reset-requests"]) <= 60
    # Tokens are not limited here: a provider still reports them, untouched by this refusal.
    assert (found["limit-tokens"], found["remaining-tokens"], found["reset-tokens"]) == ("200000",) * 2 + (
        "0s",
    )


def test_an_injected_429_reports_the_limiters_window_where_it_limits(api: Api, fake: FakeUpstream) -> None:
    proxy = api.running_proxy("openai", fake.url)
    api.set_failure(proxy["id"], rate_limit={"rpm": 10}, errors=[{"status": 429, "rate": 1.0}])
    with pytest.raises(openai.RateLimitError) as raised:
        sdk(proxy).chat.completions.create(**QUESTION)
    found = quota(raised.value.response.headers)
    assert (found["limit-requests"], found["remaining-requests"]) == ("10", "9")
    # The requests do not explain the refusal, so the tokens (not limited) are shown exhausted.
    assert (found["limit-tokens"], found["remaining-tokens"], found["reset-tokens"]) == ("200000", "0", "1s")


def logged_tokens(api: Api, proxy_id: int, count: int) -> list[dict[str, Any]]:
    """The proxy's log rows once `count` of them are written (each one enriched with its usage)."""
    deadline = time.monotonic() + 15
    while True:
        rows = api.http.get("/api/logs", params={"proxy_id": proxy_id}).json()["items"]
        if len(rows) >= count:
            return list(rows)
        assert time.monotonic() < deadline, f"{len(rows)} log rows, expected {count}"
        time.sleep(0.05)


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_the_real_usage_of_an_answer_fills_the_tokens_per_minute_window(
    api: Api, fake: FakeUpstream, provider: str
) -> None:
    proxy = api.running_proxy(provider, fake.url)
    tpm = 1000  # the estimate (~25 tokens) fits many times; the real usage (1100) does not
    api.set_failure(proxy["id"], rate_limit={"tpm": tpm})
    if provider == "openai":
        client: openai.OpenAI = sdk(proxy)
    else:
        client = openai.AzureOpenAI(
            azure_endpoint=proxy_url(proxy), api_version="2024-10-21", api_key="k", max_retries=0
        )
    first = client.chat.completions.with_raw_response.create(**QUESTION)
    assert first.headers["x-ratelimit-limit-tokens"] == str(tpm)
    assert int(first.headers["x-ratelimit-remaining-tokens"]) > tpm - 100  # charged the estimate only
    # The log writer reads the answer's usage off the request path and corrects the window with it.
    [row] = logged_tokens(api, proxy["id"], 1)
    assert (row["input_tokens"], row["output_tokens"]) == (PROMPT_TOKENS, COMPLETION_TOKENS)

    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(**QUESTION)
    assert "tokens per minute" in raised.value.message
    found = quota(raised.value.response.headers)
    assert (found["limit-tokens"], found["remaining-tokens"]) == (str(tpm), "0")
    assert 55 < seconds(found["reset-tokens"]) <= 60
    assert 55 < float(raised.value.response.headers["retry-after"]) <= 60
    assert (found["limit-requests"], found["remaining-requests"], found["reset-requests"]) == (
        "500",
        "500",
        "0s",
    )
