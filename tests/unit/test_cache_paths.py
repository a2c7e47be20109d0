from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from rubberduck.cache.paths import (
    MAX_PATH_LENGTH,
    AnyIndex,
    IgnoreRules,
    Index,
    Key,
    format_path,
    parse_path,
    validate_paths,
    without_paths,
)

# --- parsing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("user", (Key("user"),)),
        ("metadata.request_id", (Key("metadata"), Key("request_id"))),
        ("messages[*].timestamp", (Key("messages"), AnyIndex(), Key("timestamp"))),
        (
            "messages[0].content[*].cache_control",
            (Key("messages"), Index(0), Key("content"), AnyIndex(), Key("cache_control")),
        ),
        ("[0]", (Index(0),)),
        ("[*].id", (AnyIndex(), Key("id"))),
        ("[1][2]", (Index(1), Index(2))),
        ("grid[3][*]", (Key("grid"), Index(3), AnyIndex())),
        ("a-b.$ref.@type.x_1", (Key("a-b"), Key("$ref"), Key("@type"), Key("x_1"))),
        ('"a.b".c', (Key("a.b"), Key("c"))),
        ('x."a b"[0]', (Key("x"), Key("a b"), Index(0))),
        ('"café"', (Key("café"),)),
        ('""', (Key(""),)),
        ('"say \\"hi\\""', (Key('say "hi"'),)),
        ('"back\\\\slash"', (Key("back\\slash"),)),
        ('"[0]"', (Key("[0]"),)),
        ("items[10]", (Key("items"), Index(10))),
    ],
)
def test_parse_valid(text: str, steps: tuple[Any, ...]) -> None:
    assert parse_path(text) == steps


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty path"),
        ("a.", "empty segment at 3"),
        (".a", "empty segment at 1"),
        ("a..b", "empty segment at 3"),
        ("metadata[", "unclosed [ at 9"),
        ("messages[0", "unclosed [ at 9"),
        ("a[]", "index must be a number or * at 2"),
        ("a[-1]", "index must be a number or * at 2"),
        ("a[x]", "index must be a number or * at 2"),
        ("a[ 1 ]", "index must be a number or * at 2"),
        ("a[²]", "index must be a number or * at 2"),
        ("a[**]", "index must be a number or * at 2"),
        ("a.[0]", "missing name before [ at 3"),
        ("a b", "unexpected ' ' at 2"),
        ("a]", "unexpected ']' at 2"),
        ("café", "unexpected 'é' at 4"),
        ("a[0]b", "unexpected 'b' at 5"),
        ('"abc', 'unclosed " at 1'),
        ('x."abc', 'unclosed " at 3'),
        ('"a\\nb"', "unknown escape \\n at 3"),
        ('"a"b', "unexpected 'b' at 4"),
        ("x" * (MAX_PATH_LENGTH + 1), f"longer than {MAX_PATH_LENGTH} characters"),
    ],
)
def test_parse_invalid_says_why_and_where(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_path(text)
    assert str(info.value).startswith(reason)


@pytest.mark.parametrize(
    "text",
    ["user", "messages[*].timestamp", '"a.b".c', '"say \\"hi\\""', "[0][*].x", '""', '"a b"[3]', "$x.@y-z"],
)
def test_format_round_trips(text: str) -> None:
    steps = parse_path(text)
    assert parse_path(format_path(steps)) == steps
    assert format_path(steps) == text


def test_format_quotes_only_when_needed() -> None:
    assert format_path([Key("messages"), Index(1), Key("content")]) == "messages[1].content"
    assert format_path([Key("a.b"), Key("ok")]) == '"a.b".ok'
    assert format_path([Index(0), Key("id")]) == "[0].id"


def test_validate_paths_names_the_first_bad_path() -> None:
    assert validate_paths(["user", "messages[*].timestamp"]) == ["user", "messages[*].timestamp"]
    assert validate_paths([]) == []
    with pytest.raises(ValueError, match=r"invalid ignore path 'a\[x\]': index must be a number or \* at 2"):
        validate_paths(["user", "a[x]", "b["])


def test_rules_reject_a_bad_path_by_name() -> None:
    with pytest.raises(ValueError, match=re.escape("invalid ignore path 'a..b': empty segment at 3")):
        IgnoreRules(["ok", "a..b"])


# --- removal -----------------------------------------------------------------------------------------------

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "user": "u-123",
    "metadata": {"request_id": "r-1", "team": "a"},
    "messages": [
        {"role": "system", "content": "be brief", "timestamp": 1},
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "bye", "timestamp": 3},
    ],
}


def strip(value: Any, *paths: str) -> Any:
    before = copy.deepcopy(value)
    result = without_paths(value, list(paths))
    assert value == before, "the input must never be mutated"
    return result


def test_removes_top_level_and_nested_keys() -> None:
    out = strip(CHAT, "user", "metadata.request_id")
    assert "user" not in out
    assert out["metadata"] == {"team": "a"}
    assert out["messages"] is CHAT["messages"]  # untouched members are shared, not copied


def test_wildcard_walks_every_item() -> None:
    out = strip(CHAT, "messages[*].timestamp")
    assert [sorted(m) for m in out["messages"]] == [["content", "role"]] * 3


def test_wildcard_then_index_then_wildcard() -> None:
    out = strip(CHAT, "messages[1].content[*].cache_control")
    assert out["messages"][1]["content"] == [{"type": "text", "text": "hi"}]
    assert out["messages"][0] is CHAT["messages"][0]


def test_trailing_index_removes_the_item() -> None:
    assert strip(CHAT, "messages[0]")["messages"] == CHAT["messages"][1:]


def test_trailing_wildcard_empties_the_array() -> None:
    assert strip(CHAT, "messages[*]")["messages"] == []


def test_several_indices_mean_positions_as_sent() -> None:
    # Removing [0] must not shift what [2] means.
    assert strip({"a": [0, 1, 2, 3]}, "a[0]", "a[2]") == {"a": [1, 3]}


def test_wildcard_and_index_paths_combine_without_shifting() -> None:
    value = {"a": [{"b": [0, 1, 2]}, {"b": [0, 1, 2]}]}
    out = strip(value, "a[*].b[0]", "a[1].b[1]")
    assert out == {"a": [{"b": [1, 2]}, {"b": [2]}]}


def test_wildcard_removal_wins_over_a_deeper_index_path() -> None:
    assert strip({"a": [{"x": 1}, {"x": 2}]}, "a[1].x", "a[*]") == {"a": []}


def test_top_level_array() -> None:
    value = [{"id": 1, "t": "x"}, {"id": 2, "t": "y"}]
    assert strip(value, "[*].t") == [{"id": 1}, {"id": 2}]
    assert strip(value, "[0]") == [{"id": 2, "t": "y"}]


def test_nested_arrays() -> None:
    grid = {"g": [[1, 2], [3, 4], [5, 6]]}
    assert strip(grid, "g[*][0]") == {"g": [[2], [4], [6]]}
    assert strip(grid, "g[1][*]") == {"g": [[1, 2], [], [5, 6]]}


def test_quoted_keys_with_dots_and_unicode() -> None:
    value = {"a.b": {"c": 1, "d": 2}, "a": {"b": {"c": 9}}, "café": "x", "": 0}
    assert strip(value, '"a.b".c') == {"a.b": {"d": 2}, "a": {"b": {"c": 9}}, "café": "x", "": 0}
    assert strip(value, "a.b.c") == {"a.b": {"c": 1, "d": 2}, "a": {"b": {}}, "café": "x", "": 0}
    assert strip(value, '"café"', '""') == {"a.b": {"c": 1, "d": 2}, "a": {"b": {"c": 9}}}


@pytest.mark.parametrize(
    "path",
    [
        "nope",
        "metadata.nope",
        "messages[9]",
        "messages[9].content",
        "model.x",
        "model[0]",
        "metadata[*]",
        "[0]",
    ],
)
def test_a_path_that_matches_nothing_changes_nothing(path: str) -> None:
    assert strip(CHAT, path) is CHAT


def test_index_on_an_object_and_key_on_an_array_do_not_match() -> None:
    assert strip({"a": {"0": 1}}, "a[0]") == {"a": {"0": 1}}
    assert strip({"a": [{"b": 1}]}, "a.b") == {"a": [{"b": 1}]}


def test_scalars_and_none_bodies_pass_through() -> None:
    for value in (None, 1, "text", True, 1.5):
        assert without_paths(value, ["a", "[0]"]) is value


def test_no_paths_returns_the_input_itself() -> None:
    assert without_paths(CHAT, []) is CHAT
    rules = IgnoreRules([])
    assert not rules and rules.apply(CHAT) is CHAT


def test_rules_are_reusable_and_comparable() -> None:
    rules = IgnoreRules(["user", "messages[*].timestamp"])
    assert rules and rules.paths == ("user", "messages[*].timestamp")
    first, second = rules.apply(CHAT), rules.apply(copy.deepcopy(CHAT))
    assert first == second and "user" not in first
    assert rules == IgnoreRules(("user", "messages[*].timestamp"))
    assert rules != IgnoreRules(["user"])
    assert hash(rules) == hash(IgnoreRules(["user", "messages[*].timestamp"]))
    assert "messages[*].timestamp" in repr(rules)


def test_removing_a_null_member_and_keeping_key_order() -> None:
    value = {"z": 1, "gone": None, "a": 2}
    out = strip(value, "gone")
    assert out == {"z": 1, "a": 2} and list(out) == ["z", "a"]


def test_result_mutation_does_not_reach_the_input() -> None:
    value = {"keep": {"x": 1}, "drop": 1, "list": [1, 2]}
    out = strip(value, "drop", "list[0]")
    out["new"] = 1
    out["list"].append(3)
    assert value == {"keep": {"x": 1}, "drop": 1, "list": [1, 2]}
