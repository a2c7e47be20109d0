from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import pytest

from rubberduck.cache.diff import (
    ABSENT,
    SHORTEN_AT,
    Difference,
    FieldDiff,
    describe,
    field_diff,
    nearest,
    paths_only,
)
from rubberduck.cache.paths import parse_path, without_paths


def request(body: Any = None, **parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "POST",
        "path": "/v1/chat/completions",
        "query": [],
        "headers": {},
        "body": body
        if body is not None
        else {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "Hello there"},
            ],
        },
    }
    base.update(parts)
    return base


def diff_of(recorded: Any, sent: Any, limit: int = 20) -> list[tuple[str, Any, Any]]:
    differences, total = field_diff(recorded, sent, limit)
    assert total >= len(differences)
    return [(d.path, d.recorded, d.sent) for d in differences]


def test_identical_requests_have_no_differences() -> None:
    assert field_diff(request(), copy.deepcopy(request())) == FieldDiff([], 0)


def test_key_order_never_matters() -> None:
    recorded = request({"a": 1, "b": {"x": 1, "y": 2}})
    sent = request({"b": {"y": 2, "x": 1}, "a": 1})
    assert field_diff(recorded, sent).total == 0


def test_changed_message_content() -> None:
    sent = request()
    sent["body"]["messages"][1]["content"] = "Hi there"
    assert diff_of(request(), sent) == [("messages[1].content", "Hello there", "Hi there")]


def test_missing_and_extra_keys() -> None:
    recorded = request({"model": "m", "temperature": 0.2})
    sent = request({"model": "m", "seed": 7})
    assert diff_of(recorded, sent) == [("temperature", 0.2, ABSENT), ("seed", ABSENT, 7)]


def test_extra_and_missing_list_items() -> None:
    recorded = request({"messages": [{"c": 1}]})
    sent = request({"messages": [{"c": 1}, {"c": 2}, {"c": 3}]})
    assert diff_of(recorded, sent) == [("messages[1]", ABSENT, {"c": 2}), ("messages[2]", ABSENT, {"c": 3})]
    assert diff_of(sent, recorded) == [("messages[1]", {"c": 2}, ABSENT), ("messages[2]", {"c": 3}, ABSENT)]


@pytest.mark.parametrize(
    ("old", "new"),
    [(1, 1.0), (1, True), (0, False), (1.0, True), (0, None), ("1", 1), ("", None), ([], {}), ({}, None)],
)
def test_scalars_compare_by_value_and_type(old: Any, new: Any) -> None:
    assert diff_of(request({"v": old}), request({"v": new})) == [("v", old, new)]


def test_null_differs_from_absent() -> None:
    assert diff_of(request({"v": None}), request({})) == [("v", None, ABSENT)]


def test_nested_arrays_and_top_level_arrays() -> None:
    assert diff_of(request({"g": [[1, 2], [3]]}), request({"g": [[1, 5], [3, 4]]})) == [
        ("g[0][1]", 2, 5),
        ("g[1][1]", ABSENT, 4),
    ]
    assert diff_of(request([{"id": 1}]), request([{"id": 2}])) == [("[0].id", 1, 2)]


def test_whole_body_differences() -> None:
    assert diff_of(request({"a": 1}), request([1])) == [("body", {"a": 1}, [1])]
    recorded = request()
    del recorded["body"]
    assert diff_of(recorded, request({"a": 1})) == [("body", ABSENT, {"a": 1})]


def test_paths_quote_unusual_keys_so_they_can_be_ignored() -> None:
    differences, _ = field_diff(
        request({"a.b": 1, "café": {"x y": 1}}), request({"a.b": 2, "café": {"x y": 2}})
    )
    paths = [d.path for d in differences]
    assert paths == ['"a.b"', '"café"."x y"']
    # A body path from a miss is a valid ignore path that removes exactly that field.
    body = {"a.b": 2, "café": {"x y": 2}}
    assert all(parse_path(path) for path in paths)
    assert without_paths(body, paths) == {"café": {}}


def test_request_parts() -> None:
    recorded = request(
        method="POST",
        path="/v1/a",
        query=[["api-version", "2024-01-01"], ["x", "1"]],
        headers={"anthropic-version": "2023-06-01", "anthropic-beta": "b"},
    )
    sent = request(
        method="PUT",
        path="/v1/b",
        query=[["x", "1"], ["api-version", "2024-06-01"]],
        headers={"anthropic-version": "2023-06-01", "openai-beta": "o"},
    )
    differences, total = field_diff(recorded, sent)
    assert [(d.part, d.path, d.recorded, d.sent) for d in differences] == [
        ("method", "method", "POST", "PUT"),
        ("path", "path", "/v1/a", "/v1/b"),
        ("query", "query.api-version", "2024-01-01", "2024-06-01"),
        ("headers", "headers.anthropic-beta", "b", ABSENT),
        ("headers", "headers.openai-beta", ABSENT, "o"),
    ]
    assert total == 5


def test_query_order_is_ignored_but_repeats_count() -> None:
    assert (
        field_diff(request(query=[["a", "1"], ["b", "2"]]), request(query=[("b", "2"), ("a", "1")])).total
        == 0
    )
    assert diff_of(request(query=[["a", "1"]]), request(query=[["a", "1"], ["a", "2"]])) == [
        ("query.a", "1", ["1", "2"])
    ]
    assert diff_of(request(query=[["a", "1"], ["a", "2"]]), request(query=[["a", "1"], ["a", "3"]])) == [
        ("query.a[1]", "2", "3")
    ]
    assert diff_of(request(query=[["a b", "1"]]), request(query=[])) == [('query."a b"', "1", ABSENT)]


def test_missing_parts_and_unknown_parts() -> None:
    recorded = request()
    del recorded["query"]
    assert diff_of(recorded, request()) == [("query", ABSENT, {})]
    assert diff_of(request(extra=1), request(extra=2)) == [("extra", 1, 2)]


def test_limit_keeps_counting() -> None:
    recorded = request({f"k{i}": i for i in range(30)})
    sent = request({f"k{i}": -i - 1 for i in range(30)})
    differences, total = field_diff(recorded, sent, limit=5)
    assert [d.path for d in differences] == ["k0", "k1", "k2", "k3", "k4"]
    assert total == 30
    assert field_diff(recorded, sent, limit=0) == FieldDiff([], 30)
    with pytest.raises(ValueError):
        field_diff(recorded, sent, limit=-1)


def test_inputs_are_not_mutated() -> None:
    recorded, sent = request({"a": [1, {"b": 2}]}), request({"a": [1, {"b": 3}, 4]})
    before = copy.deepcopy((recorded, sent))
    field_diff(recorded, sent)
    nearest(sent, [recorded])
    assert (recorded, sent) == before


# --- nearest -----------------------------------------------------------------------------------------------


def chat(*contents: str, **extra: Any) -> dict[str, Any]:
    return request({"model": "m", "messages": [{"role": "user", "content": c} for c in contents], **extra})


def test_nearest_picks_fewest_differences() -> None:
    sent = chat("a", "b", "c")
    far, close = chat("x", "y", "z"), chat("a", "b", "zz")
    found = nearest(sent, [far, close])
    assert found is not None
    candidate, result = found
    assert candidate is close
    assert result == FieldDiff([Difference("body", "messages[2].content", "zz", "c")], 1)


def test_nearest_tie_goes_to_the_first_given() -> None:
    sent = chat("a")
    newer, older = chat("b"), chat("c")
    found = nearest(sent, [newer, older])
    assert found is not None and found[0] is newer


def test_nearest_identical_request_has_no_differences() -> None:
    sent = chat("a")
    found = nearest(sent, [chat("b"), chat("a"), chat("a", "b")])
    assert found is not None and found[1] == FieldDiff([], 0)


def test_nearest_with_no_usable_candidate() -> None:
    assert nearest(chat("a"), []) is None


@dataclass
class Entry:
    key: str
    request: dict[str, Any] | None


def test_nearest_reads_requests_through_request_of_and_skips_missing_ones() -> None:
    entries = [Entry("old", None), Entry("rec", chat("a", "b")), Entry("rec2", chat("x", "y"))]
    found = nearest(chat("a", "c"), entries, request_of=lambda entry: entry.request, limit=1)
    assert found is not None
    entry, (differences, total) = found
    assert entry.key == "rec" and total == 1 and differences[0].path == "messages[1].content"
    assert nearest(chat("a"), [Entry("old", None)], request_of=lambda entry: entry.request) is None


def test_nearest_reports_the_full_total_of_the_winner() -> None:
    sent = chat(*[str(i) for i in range(10)])
    worse = chat(*[f"w{i}" for i in range(10)])
    best = chat(*[f"b{i}" if i < 4 else str(i) for i in range(10)])
    found = nearest(sent, [worse, best], limit=2)
    assert found is not None and found[0] is best
    assert len(found[1].differences) == 2 and found[1].total == 4


def test_nearest_over_200_typical_chats_is_cheap() -> None:
    system = "You are a helpful assistant. " * 40

    def conversation(n: int) -> dict[str, Any]:
        turns = [{"role": "system", "content": system}]
        turns += [
            {"role": "user" if i % 2 else "assistant", "content": f"turn {i} of {n}"} for i in range(20)
        ]
        return request(
            {"model": "gpt-4o", "temperature": 0.2, "messages": turns, "tools": [{"x": i} for i in range(10)]}
        )

    candidates = [conversation(n) for n in range(200)]
    sent = conversation(137)
    sent["body"]["temperature"] = 0.3
    started = time.perf_counter()
    found = nearest(sent, candidates)
    elapsed = time.perf_counter() - started
    assert found is not None and found[0] is candidates[137]
    assert [d.path for d in found[1].differences] == ["temperature"]
    assert elapsed < 1.0  # generous bound: a correctness guard against a quadratic walk, not a benchmark


# --- describe / paths_only ---------------------------------------------------------------------------------


def test_describe_one_line_per_difference() -> None:
    sent = request({"model": "m", "messages": [{"content": "Hi there"}], "n": 2})
    recorded = request({"model": "m", "messages": [{"content": "Hello there"}], "temperature": 1})
    differences, total = field_diff(recorded, sent)
    assert describe(differences, total).splitlines() == [
        'messages[0].content: recorded "Hello there" ≠ sent "Hi there"',
        "temperature: recorded 1 ≠ sent (absent)",
        "n: recorded (absent) ≠ sent 2",
    ]


def test_describe_renders_json() -> None:
    text = describe(
        [
            Difference("body", "a", None, True),
            Difference("body", "b", 1.0, 1),
            Difference("body", "c", {"x": [1, "y"]}, ABSENT),
            Difference("body", "d", 'line\nbreak "q"', "café ✓"),
        ]
    )
    assert text.splitlines() == [
        "a: recorded null ≠ sent true",
        "b: recorded 1.0 ≠ sent 1",
        'c: recorded {"x": [1, "y"]} ≠ sent (absent)',
        'd: recorded "line\\nbreak \\"q\\"" ≠ sent "café ✓"',
    ]


def test_describe_shortens_long_values() -> None:
    long_text, long_list = "x" * 100, list(range(100))
    line = describe([Difference("body", "a", long_text, long_list)])
    recorded, sent = line.removeprefix("a: recorded ").split(" ≠ sent ")
    assert recorded == '"' + "x" * SHORTEN_AT + '…"'
    assert sent.endswith("…") and len(sent) == SHORTEN_AT


def test_describe_shows_long_strings_where_they_differ() -> None:
    prompt = "You are a helpful assistant who always answers "
    line = describe([Difference("body", "system", prompt + "in French.", prompt + "in German.")])
    assert "in French." in line and "in German." in line
    assert line.count('"…') == 2  # both sides skip the same shared prefix


def test_describe_short_shared_prefix_is_not_skipped() -> None:
    text = "Hello there, how are you today my friend?"  # 41 characters
    line = describe([Difference("body", "c", text, "Hello")])
    assert line == 'c: recorded "Hello there, how are you today my friend…" ≠ sent "Hello"'


def test_describe_counts_what_was_left_out() -> None:
    shown = [Difference("body", "a", 1, 2)]
    assert describe(shown, 3).splitlines()[-1] == "… and 2 more differences"
    assert describe(shown, 2).splitlines()[-1] == "… and 1 more difference"
    assert describe(shown, 1).splitlines() == ["a: recorded 1 ≠ sent 2"]
    assert describe([], 0) == "no field differs"


def test_unicode_is_shortened_by_character() -> None:
    line = describe([Difference("body", "t", "日本語" * 30, ABSENT)])
    assert line == 't: recorded "' + ("日本語" * 30)[:SHORTEN_AT] + '…" ≠ sent (absent)'


def test_paths_only_never_shows_values() -> None:
    recorded = request({"messages": [{"content": "secret one"}], "temperature": 0.1})
    sent = request({"messages": [{"content": "secret two"}], "temperature": 0.2})
    differences, total = field_diff(recorded, sent)
    text = paths_only(differences, total)
    assert text == "messages[0].content, temperature"
    assert "secret" not in text and "0.1" not in text
    assert paths_only(differences[:1], total) == "messages[0].content, +1 more"
    assert paths_only([]) == ""


def test_deeply_nested_bodies_are_explained_not_crashed() -> None:
    def nest(depth: int, leaf: Any) -> Any:
        value = leaf
        for _ in range(depth):
            value = [value]
        return value

    differences, total = field_diff(request(nest(5000, 1)), request(nest(5000, 2)))
    assert total == 1 and differences[0].path == "[0]" * 5000
    differences, total = field_diff(request({"a": nest(5000, 1)}), request({"a": None}))
    assert describe(differences, total) == "a: recorded […] ≠ sent null"
