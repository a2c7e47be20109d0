from __future__ import annotations

from typing import Any

from rubberduck.cache.key import cache_key

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def key(body: Any = CHAT, path: str = "/v1/chat/completions", query: str = "", **kwargs: Any) -> str:
    return cache_key("POST", path, query, body, **kwargs)


def test_key_is_sha256_hex_and_stable() -> None:
    assert len(key()) == 64 and key() == key()


def test_key_ignores_json_key_order() -> None:
    reordered = {"messages": [{"content": "hi", "role": "user"}], "model": "gpt-4o-mini"}
    assert key(reordered) == key()


def test_every_parameter_changes_the_key() -> None:
    variants = [
        {**CHAT, "seed": 1},
        {**CHAT, "seed": 2},
        {**CHAT, "n": 2},
        {**CHAT, "stream": True},
        {**CHAT, "stream": False},
        {**CHAT, "model": "gpt-4o"},
        {**CHAT, "temperature": 0},
        {**CHAT, "temperature": 0.0001},
        {**CHAT, "messages": [{"role": "user", "content": "hi "}]},
    ]
    keys = {key(body) for body in variants} | {key()}
    assert len(keys) == len(variants) + 1


def test_path_method_and_query_change_the_key() -> None:
    assert key(path="/v1/embeddings") != key()
    assert cache_key("GET", "/v1/chat/completions", "", CHAT) != key()
    assert key(query="api-version=2024-10-21") != key(query="api-version=2024-06-01")
    assert key(query="a=1&b=2") == key(query="b=2&a=1")


def test_credentials_in_the_query_do_not_enter_the_key() -> None:
    secret = frozenset({"key"})
    assert key(query="key=abc&alt=sse", secret_query_params=secret) == key(
        query="alt=sse&key=xyz", secret_query_params=secret
    )
    assert key(query="alt=sse", secret_query_params=secret) != key(query="", secret_query_params=secret)


def test_key_headers_change_the_key() -> None:
    assert key(key_headers=[("anthropic-beta", "a")]) != key(key_headers=[("anthropic-beta", "b")])
    assert key(key_headers=[]) == key()


def test_embeddings_of_different_inputs_differ() -> None:
    first = key({"model": "text-embedding-3-small", "input": "hello"}, path="/v1/embeddings")
    second = key({"model": "text-embedding-3-small", "input": "goodbye"}, path="/v1/embeddings")
    assert first != second
