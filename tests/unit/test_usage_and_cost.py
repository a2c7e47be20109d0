"""Token usage read from real recorded responses, plain and streamed, and what it costs."""

from __future__ import annotations

import pytest

from rubberduck.providers import build_registry
from rubberduck.providers.base import Usage
from rubberduck.providers.usage import decode_body
from rubberduck.telemetry.enrich import ResponseBody, UsageEnricher
from rubberduck.telemetry.pricing import PricingTable, normalise_model
from tests.fakes.cassette import recordings

ADAPTERS = build_registry()


@pytest.mark.parametrize(
    ("folder", "name", "adapter", "stream", "expected"),
    [
        ("openai", "chat_completions_nonstream_tools", "openai", False, ("gpt-4o-mini-2024-07-18", 92, 17)),
        ("openai", "chat_completions_stream_tools", "openai", True, ("gpt-4o-mini-2024-07-18", 54, 20)),
        ("openai", "responses_nonstream", "openai", False, ("gpt-5.5-2026-04-23", 11, 5)),
        ("openai", "responses_stream", "openai", True, ("gpt-5.5-2026-04-23", 11, 5)),
        ("openai", "embeddings_base64", "openai", False, ("text-embedding-3-small", 2, 0)),
        ("anthropic", "messages_nonstream_gzip", "anthropic", False, ("claude-3-opus-20240229", 17, 220)),
        ("anthropic", "messages_stream", "anthropic", True, ("claude-sonnet-4-5-20250929", 17, 10)),
        ("anthropic", "messages_stream_tool_use", "anthropic", True, ("claude-haiku-4-5-20251001", 543, 40)),
        ("azure", "chat_completions_stream_usage_scrubbed", "azure", True, ("gpt-4o-mini-2024-07-18", 9, 10)),
        ("vertex", "vertex_generate_content", "vertex", False, ("gemini-2.0-flash", 13, 8)),
        ("vertex", "vertex_stream_generate_content_sse", "vertex", True, ("gemini-3-flash-preview", 5, 101)),
        ("vertex", "gemini_stream_generate_content_sse", "gemini", True, ("gemini-2.0-flash-exp", 13, 8)),
        ("bedrock", "converse", "bedrock", False, (None, 269, 77)),
        ("bedrock", "converse_stream", "bedrock", True, (None, 259, 64)),
        ("bedrock", "invoke_anthropic", "bedrock", False, ("claude-3-sonnet-28k-20240229", 21, 22)),
        ("bedrock", "invoke_with_response_stream_anthropic", "bedrock", True, (None, 21, 22)),
    ],
)
def test_usage_from_recorded_responses(
    folder: str, name: str, adapter: str, stream: bool, expected: tuple[str | None, int, int]
) -> None:
    recording = recordings(folder, name)[0]
    usage = ADAPTERS[adapter].usage(decode_body(recording.body, recording.header("content-encoding")), stream)
    assert usage is not None
    assert (usage.model, usage.input_tokens, usage.output_tokens) == expected


def test_anthropic_input_counts_cache_reads_and_openai_cached_tokens() -> None:
    body = b'{"model":"claude-sonnet-4-5","usage":{"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":5}}'
    assert ADAPTERS["anthropic"].usage(body, False) == Usage("claude-sonnet-4-5", 100, 5, 90)
    body = b'{"model":"gpt-4o","usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":60}}}'
    assert ADAPTERS["openai"].usage(body, False) == Usage("gpt-4o", 100, 5, 60)


def test_unreadable_bodies_give_no_usage() -> None:
    assert ADAPTERS["openai"].usage(b"not json", False) is None
    assert ADAPTERS["anthropic"].usage(b"data: [DONE]\n\n", True) is None
    assert decode_body(b"\x1f\x8bbroken", "gzip") == b""


def test_cost_uses_cached_rates_and_unknown_models_cost_null() -> None:
    table = PricingTable.load()
    assert table.cost(Usage("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000, 0)) == pytest.approx(0.75)
    assert table.cost(Usage("gpt-4o", 1_000_000, 0, 500_000)) == pytest.approx(1.25 + 0.625)
    assert table.cost(Usage("us.anthropic.claude-3-haiku-20240307-v1:0", 1_000_000, 0, 0)) == pytest.approx(
        0.25
    )
    assert table.cost(Usage("some-private-model", 10, 10, 0)) is None
    assert table.cost(Usage("gpt-4o", None, 10, 0)) is None
    assert normalise_model("gpt-4o-mini-2024-07-18") == "gpt-4o-mini"


def test_user_overrides_win_for_that_user_only() -> None:
    table = PricingTable.load()
    assert table.cost(Usage("gpt-4o", 1_000_000, 0, 0), "u1") == pytest.approx(2.5)
    table.set_overrides("u1", {"gpt-4o": table.prices["gpt-4o-mini"]})
    assert table.cost(Usage("gpt-4o", 1_000_000, 0, 0), "u1") == pytest.approx(0.15)
    assert table.cost(Usage("gpt-4o", 1_000_000, 0, 0), "u2") == pytest.approx(2.5)


def test_cache_hits_cost_nothing_and_record_what_they_saved() -> None:
    enrich = UsageEnricher(PricingTable.load())
    body = b'{"model":"gpt-4o","usage":{"prompt_tokens":1000,"completion_tokens":1000}}'
    rows = []
    for status in ("miss", "hit"):
        row = {
            "status": 200,
            "cache_status": status,
            "cache_key": "k",
            "model": "gpt-4o",
            "user_id": None,
            "_body": ResponseBody(ADAPTERS["openai"], (body,), False, []),
        }
        enrich(row)
        rows.append(row)
    assert rows[0]["cost_usd"] == pytest.approx(0.0125) and rows[0]["saved_usd"] == 0.0
    assert rows[1]["cost_usd"] == 0.0 and rows[1]["saved_usd"] == pytest.approx(0.0125)
    assert rows[1]["input_tokens"] == 1000 and "_body" not in rows[1]


def test_a_price_change_reaches_later_cache_hits() -> None:
    table = PricingTable.load()
    enrich = UsageEnricher(table)
    body = b'{"model":"gpt-4o","usage":{"prompt_tokens":1000000,"completion_tokens":0}}'

    def hit() -> object:
        row = {
            "status": 200,
            "cache_status": "hit",
            "cache_key": "k",
            "model": "gpt-4o",
            "user_id": "u1",
            "_body": ResponseBody(ADAPTERS["openai"], (body,), False, []),
        }
        enrich(row)
        return row["saved_usd"]

    assert hit() == pytest.approx(2.5) and hit() == pytest.approx(2.5)  # the second from the memo
    table.set_overrides("u1", {"gpt-4o": table.prices["gpt-4o-mini"]})
    assert hit() == pytest.approx(0.15)
