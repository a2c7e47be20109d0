"""Explaining a replay miss: which fields of the sent request differ from the nearest recorded one.

Requests are canonical requests as entries keep them: `{"method", "path", "query": [[name, value], ...],
"headers": {name: value}, "body": parsed JSON}`. Paths read `method`, `path`, `query.<name>`,
`headers.<name>`, and body fields without a prefix (`messages[1].content`, `[0].id` for a top-level array,
`body` when the bodies differ as a whole) in the `ignore` grammar, so a volatile field named in a miss can be
pasted into the proxy's `ignore` list as it is.

Values compare as JSON does: objects key by key (order never matters), arrays item by item, scalars by value
and type, so `1`, `1.0` and `true` all differ — Python's `1 == 1.0 == True` would hide a changed parameter.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, TypeVar

from rubberduck.cache.paths import Index, Key, format_name, format_path

T = TypeVar("T")

_PARTS: Final = ("method", "path", "query", "headers", "body")  # the order a developer reads a request in


class Absent(enum.Enum):
    """A member one side has and the other lacks (distinct from JSON `null`)."""

    ABSENT = "absent"

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = Absent.ABSENT


@dataclass(frozen=True, slots=True)
class Difference:
    part: str  # "method", "path", "query", "headers", "body" (or a later key of the canonical request)
    path: str  # e.g. "messages[1].content", "query.api-version", "headers.anthropic-version", "method"
    recorded: Any  # the recorded request's value, or ABSENT
    sent: Any  # the sent request's value, or ABSENT


class FieldDiff(NamedTuple):
    differences: list[Difference]  # the first `limit`, in request order
    total: int  # every difference, also those past `limit`


class _Enough(Exception):
    """Raised inside a walk once a candidate can no longer beat the best one."""


# A path as a chain of (parent, step) links: pushing a child costs one small tuple, and only a reported
# difference pays for turning it into text.
_Trail = tuple["_Trail", str | int] | None


class _Walk:
    def __init__(self, limit: int, give_up_at: int | None) -> None:
        self.limit = limit
        self.give_up_at = give_up_at
        self.found: list[Difference] = []
        self.total = 0

    def differ(self, part: str, trail: _Trail, recorded: Any, sent: Any) -> None:
        self.total += 1
        if self.give_up_at is not None and self.total >= self.give_up_at:
            raise _Enough
        if len(self.found) < self.limit:
            self.found.append(Difference(part, _render_path(part, trail), recorded, sent))

    def compare(self, part: str, recorded: Any, sent: Any) -> None:
        """Depth-first in request order, with an explicit stack: a deeply nested body (JSON parsers accept
        about a thousand levels) must get its explanation, not a RecursionError."""
        stack: list[tuple[Any, Any, _Trail]] = [(recorded, sent, None)]
        while stack:
            old, new, trail = stack.pop()
            if old is new:
                continue  # the same object (a shared sub-value) is equal to itself
            children: list[tuple[Any, Any, _Trail]]
            if isinstance(old, dict) and isinstance(new, dict):
                children = [(value, new.get(name, ABSENT), (trail, name)) for name, value in old.items()]
                children += [(ABSENT, value, (trail, name)) for name, value in new.items() if name not in old]
            elif isinstance(old, list) and isinstance(new, list):
                children = [
                    (
                        old[position] if position < len(old) else ABSENT,
                        new[position] if position < len(new) else ABSENT,
                        (trail, position),
                    )
                    for position in range(max(len(old), len(new)))
                ]
            else:
                if type(old) is not type(new) or old != new:
                    self.differ(part, trail, old, new)
                continue
            stack.extend(reversed(children))


def _render_path(part: str, trail: _Trail) -> str:
    steps: list[Key | Index] = []
    while trail is not None:
        trail, step = trail
        steps.append(Key(step) if isinstance(step, str) else Index(step))
    steps.reverse()
    if part == "body":
        return format_path(steps) if steps else "body"
    return format_name(part) + "." + format_path(steps) if steps else part


def _query_members(query: Any) -> Any:
    """`[[name, value], ...]` as `{name: value}` (`{name: [values]}` when repeated): order-free, by name.

    Anything that is not a list of pairs is compared as it is.
    """
    if not isinstance(query, list | tuple):
        return query
    members: dict[Any, Any] = {}
    for pair in query:
        if not isinstance(pair, list | tuple) or len(pair) != 2 or not isinstance(pair[0], str):
            return query
        name, value = pair
        if name not in members:
            members[name] = value
        elif isinstance(members[name], _Repeated):
            members[name].append(value)
        else:
            members[name] = _Repeated([members[name], value])
    return {name: list(value) if isinstance(value, _Repeated) else value for name, value in members.items()}


class _Repeated(list[Any]):
    """Marks a repeated query parameter while grouping, so a value that is itself a list is not confused."""


def _walk(recorded: Mapping[str, Any], sent: Mapping[str, Any], walk: _Walk) -> None:
    extra = sorted({*recorded, *sent} - set(_PARTS))  # future parts of the canonical request still count
    for part in (*_PARTS, *extra):
        old, new = recorded.get(part, ABSENT), sent.get(part, ABSENT)
        if part == "query":
            old, new = _query_members(old), _query_members(new)
        walk.compare(part, old, new)


def field_diff(recorded: Mapping[str, Any], sent: Mapping[str, Any], limit: int = 20) -> FieldDiff:
    """Every field where `sent` differs from `recorded`: the first `limit` of them and the total count."""
    if limit < 0:
        raise ValueError("limit must be >= 0")
    walk = _Walk(limit, None)
    _walk(recorded, sent, walk)
    return FieldDiff(walk.found, walk.total)


def nearest(
    sent: Mapping[str, Any],
    candidates: Iterable[T],
    request_of: Callable[[T], Mapping[str, Any] | None] | None = None,
    limit: int = 20,
) -> tuple[T, FieldDiff] | None:
    """The candidate whose request differs from `sent` in the fewest fields, with its diff; None if none.

    Pass candidates newest first: on a tie the earlier one wins. `request_of` gets a candidate's canonical
    request (e.g. `lambda entry: entry.request`); a candidate without one is skipped. Without `request_of`
    the candidates are the requests themselves. A candidate stops being compared as soon as it reaches the
    best count so far, which keeps 200 candidates cheap.
    """
    best: tuple[T, Mapping[str, Any]] | None = None
    best_total: int | None = None
    for candidate in candidates:
        request = request_of(candidate) if request_of is not None else candidate
        if not isinstance(request, Mapping):
            continue
        walk = _Walk(0, best_total)
        try:
            _walk(request, sent, walk)
        except _Enough:
            continue
        best, best_total = (candidate, request), walk.total
        if best_total == 0:
            break  # nothing can beat an identical request
    if best is None:
        return None
    return best[0], field_diff(best[1], sent, limit)


SHORTEN_AT: Final = 40  # characters of a value shown in a miss message


def describe(differences: Iterable[Difference], total: int | None = None) -> str:
    """One line per difference, `messages[1].content: recorded "Hello th…" ≠ sent "Hi there…"`.

    Values are JSON (strings quoted, newlines escaped so a line stays a line), shortened to about
    `SHORTEN_AT` characters; two long strings are shown around where they first differ, since a shared
    prefix (a system prompt) would otherwise make both sides read the same. A last line counts the
    differences past those given when `total` says there are more.
    """
    lines = []
    for difference in differences:
        recorded, sent = _show_pair(difference.recorded, difference.sent)
        lines.append(f"{difference.path}: recorded {recorded} ≠ sent {sent}")
    if total is not None and total > len(lines):
        more = total - len(lines)
        lines.append(f"… and {more} more difference{'s' if more != 1 else ''}")
    return "\n".join(lines) if lines else "no field differs"


def paths_only(differences: Iterable[Difference], total: int | None = None) -> str:
    """The differing paths, comma-separated, for the log row: never a value, since logs hold no bodies."""
    paths = [difference.path for difference in differences]
    if total is not None and total > len(paths):
        paths.append(f"+{total - len(paths)} more")
    return ", ".join(paths)


def _show_pair(recorded: Any, sent: Any) -> tuple[str, str]:
    if isinstance(recorded, str) and isinstance(sent, str):
        common = 0
        for old, new in zip(recorded, sent, strict=False):
            if old != new:
                break
            common += 1
        # Keep a little context before the first differing character, and only skip when it is worth it.
        start = common - 10 if common > SHORTEN_AT // 2 else 0
        return _show_string(recorded, start), _show_string(sent, start)
    return _show(recorded), _show(sent)


def _show_string(text: str, start: int) -> str:
    window = text[start : start + SHORTEN_AT]
    body = _json(window)[1:-1]
    head = "…" if start > 0 else ""
    tail = "…" if start + SHORTEN_AT < len(text) else ""
    return f'"{head}{body}{tail}"'


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    if isinstance(value, str):
        return _show_string(value, 0)
    text = _json(value)
    return text if len(text) <= SHORTEN_AT else text[: SHORTEN_AT - 1] + "…"


def _json(value: Any) -> str:
    # ensure_ascii=False: a developer should read "café", not "caf\u00e9"; default=repr: never fail to explain.
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except RecursionError:
        return "[…]" if isinstance(value, list) else "{…}"  # too deep to render: its shape is enough
