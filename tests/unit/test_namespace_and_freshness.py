"""Namespaces from a header or a `/_ns/<name>/` prefix; the upstream's caching headers as an expiry."""

from __future__ import annotations

import pytest

from rubberduck.cache.freshness import storage_policy
from rubberduck.proxy.namespace import NamespaceError, split_namespace

HEADER = "x-rubberduck-namespace"


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/v1/chat/completions", {}, ("", "/v1/chat/completions")),
        ("/_ns/test_login/v1/chat", {}, ("test_login", "/v1/chat")),
        ("/_ns/a.b:c-d_e", {}, ("a.b:c-d_e", "/")),  # the prefix alone is the root
        ("/_ns/a/", {}, ("a", "/")),
        ("/v1/messages", {HEADER: "suite-1"}, ("suite-1", "/v1/messages")),
        ("/_ns/same/v1", {HEADER: "same"}, ("same", "/v1")),
        ("/_ns", {}, ("", "/_ns")),  # not the prefix: an ordinary path
        ("/x/_ns/a/v1", {}, ("", "/x/_ns/a/v1")),
    ],
)
def test_namespaces_are_read_from_the_header_or_the_prefix(
    path: str, headers: dict[str, str], expected: tuple[str, str]
) -> None:
    assert split_namespace(path, headers) == expected


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/_ns//v1", {}),
        ("/_ns/a%2Fb/v1", {}),
        ("/_ns/" + "x" * 201 + "/v1", {}),
        ("/v1", {HEADER: ""}),
        ("/v1", {HEADER: "a, b"}),  # a repeated header
        ("/v1", {HEADER: "café"}),
        ("/_ns/one/v1", {HEADER: "two"}),
        ("/_ns/../v1", {}),  # a parent folder once recordings are files
        ("/v1", {HEADER: "."}),
    ],
)
def test_bad_or_contradictory_names_are_refused(path: str, headers: dict[str, str]) -> None:
    with pytest.raises(NamespaceError):
        split_namespace(path, headers)


def test_the_longest_name_is_accepted() -> None:
    assert split_namespace("/_ns/" + "x" * 200 + "/v1", {})[0] == "x" * 200


NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("headers", "ttl", "expected"),
    [
        ([], None, (True, None)),
        ([], 30, (True, NOW + 30)),
        ([(b"cache-control", b"no-store")], None, (False, None)),
        ([(b"cache-control", b"Private")], None, (False, None)),
        ([(b"cache-control", b'private="set-cookie", max-age=60')], None, (False, None)),
        ([(b"cache-control", b"no-cache")], None, (True, None)),  # every SSE stream says it
        ([(b"cache-control", b"max-age=60")], None, (True, NOW + 60)),
        ([(b"cache-control", b"max-age=60")], 30, (True, NOW + 30)),  # the shorter wins
        ([(b"cache-control", b"max-age=10")], 30, (True, NOW + 10)),
        ([(b"cache-control", b"max-age=60, s-maxage=5")], None, (True, NOW + 5)),
        ([(b"cache-control", b"max-age=oops")], None, (True, NOW)),  # malformed: stale at once
        ([(b"expires", b"Thu, 01 Jan 1970 00:00:10 GMT")], None, (True, 10.0)),
        ([(b"expires", b"0")], None, (True, NOW)),
        ([(b"cache-control", b"max-age=60"), (b"expires", b"0")], None, (True, NOW + 60)),  # max-age wins
    ],
)
def test_storage_policy(
    headers: list[tuple[bytes, bytes]], ttl: int | None, expected: tuple[bool, float | None]
) -> None:
    assert storage_policy(headers, ttl, NOW) == expected
