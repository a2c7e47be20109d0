"""The `ignore` paths of a proxy's cache config: which JSON members are left out of a request's key.

Grammar: segments separated by `.`; a segment is a name (`[A-Za-z0-9_$@-]+`, or `"…"` quoted with `\\"` and
`\\\\` escapes for any other key, the empty key included) followed by any number of `[N]` or `[*]`; only the
first segment may be brackets alone (a top-level array). `user`, `metadata.request_id`,
`messages[*].timestamp`, `messages[0].content[*].cache_control`, `"a.b".c`, `[0].id`.

Removal never mutates the request and copies only the containers on the way to a removed member, because it
runs on the hot path (once per request, before the key is hashed); untouched sub-values are shared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

MAX_PATH_LENGTH: Final = 500  # an ignore path is a handful of keys; anything longer is a mistake


@dataclass(frozen=True, slots=True)
class Key:
    """An object member, by name."""

    name: str


@dataclass(frozen=True, slots=True)
class Index:
    """One array item, by its position in the request as sent (0-based)."""

    position: int


@dataclass(frozen=True, slots=True)
class AnyIndex:
    """`[*]`: every item of an array."""


Step = Key | Index | AnyIndex

_NAME: Final = re.compile(r"[A-Za-z0-9_$@-]+")
_DIGITS: Final = re.compile(r"[0-9]+")  # not str.isdigit(): that accepts "²" and other Unicode digits


def parse_path(text: str) -> tuple[Step, ...]:
    """Parse one ignore path; raise ValueError with the reason and its 1-based character position."""
    if not text:
        raise ValueError("empty path")
    if len(text) > MAX_PATH_LENGTH:
        raise ValueError(f"longer than {MAX_PATH_LENGTH} characters")
    steps: list[Step] = []
    i, end = 0, len(text)
    while True:
        if i == 0 and text.startswith("["):
            pass  # a top-level array: the first segment is brackets only
        elif i < end and text[i] == '"':
            name, i = _quoted(text, i)
            steps.append(Key(name))
        else:
            match = _NAME.match(text, i)
            if match is None:
                raise ValueError(_no_name(text, i))
            steps.append(Key(match.group()))
            i = match.end()
        while i < end and text[i] == "[":
            close = text.find("]", i)
            if close < 0:
                raise ValueError(f"unclosed [ at {i + 1}")
            inner = text[i + 1 : close]
            if inner == "*":
                steps.append(AnyIndex())
            elif _DIGITS.fullmatch(inner):
                steps.append(Index(int(inner)))
            else:
                raise ValueError(f"index must be a number or * at {i + 1}")
            i = close + 1
        if i == end:
            return tuple(steps)
        if text[i] != ".":
            raise ValueError(f"unexpected {text[i]!r} at {i + 1}")
        i += 1


def _quoted(text: str, start: int) -> tuple[str, int]:
    """Read a `"…"` segment starting at `start`; return the name and the position after the closing quote."""
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(chars), i + 1
        if char == "\\":
            following = text[i + 1 : i + 2]
            if following not in ('"', "\\"):
                raise ValueError(f'unknown escape \\{following} at {i + 1} (only \\" and \\\\)')
            chars.append(following)
            i += 2
            continue
        chars.append(char)
        i += 1
    raise ValueError(f'unclosed " at {start + 1}')


def _no_name(text: str, i: int) -> str:
    if i == len(text) or text[i] == ".":
        return f"empty segment at {i + 1}"
    if text[i] == "[":
        return f"missing name before [ at {i + 1} (only the first segment may start with [)"
    return f"unexpected {text[i]!r} at {i + 1} (quote names with other characters)"


def format_path(steps: Iterable[Step]) -> str:
    """The path's text in the same grammar, so `parse_path(format_path(steps)) == steps`."""
    out: list[str] = []
    for step in steps:
        if isinstance(step, Key):
            if out:
                out.append(".")
            out.append(format_name(step.name))
        elif isinstance(step, Index):
            out.append(f"[{step.position}]")
        else:
            out.append("[*]")
    return "".join(out)


def format_name(name: str) -> str:
    """A member name as one segment: bare when the grammar allows it, quoted otherwise."""
    if _NAME.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def validate_paths(paths: Sequence[str]) -> list[str]:
    """Return the paths unchanged if every one parses; otherwise a ValueError naming the first bad one."""
    for path in paths:
        try:
            parse_path(path)
        except ValueError as exc:
            raise ValueError(f"invalid ignore path {path!r}: {exc}") from None
    return list(paths)


@dataclass(slots=True)
class _Node:
    """All paths merged into one tree, so one walk of the value applies every path at once."""

    remove: bool = False  # a path ends here: the member itself goes
    keys: dict[str, _Node] = field(default_factory=dict)
    items: dict[int, _Node] = field(default_factory=dict)
    every: _Node | None = None  # `[*]`

    def child(self, step: Step) -> _Node:
        if isinstance(step, Key):
            return self.keys.setdefault(step.name, _Node())
        if isinstance(step, Index):
            return self.items.setdefault(step.position, _Node())
        if self.every is None:
            self.every = _Node()
        return self.every

    def merge(self, other: _Node) -> None:
        self.remove = self.remove or other.remove
        for name, node in other.keys.items():
            self.keys.setdefault(name, _Node()).merge(node)
        for position, node in other.items.items():
            self.items.setdefault(position, _Node()).merge(node)
        if other.every is not None:
            if self.every is None:
                self.every = _Node()
            self.every.merge(other.every)

    def fold_wildcards(self) -> None:
        """Merge `[*]` into every explicit `[N]` beside it, so an item follows exactly one node.

        Applying `a[*].b[0]` and `a[1].b[1]` one after the other would shift `b` between them and remove the
        wrong item; with one merged node per item, every index keeps meaning the position as sent.
        """
        if self.every is not None:
            for node in self.items.values():
                node.merge(self.every)
            self.every.fold_wildcards()
        for node in (*self.keys.values(), *self.items.values()):
            node.fold_wildcards()


def _apply(node: _Node, value: Any) -> Any:
    """`value` without what `node` matches; the very same object when nothing matched."""
    if node.keys and isinstance(value, dict):
        changed: dict[str, Any] = {}
        dropped: set[str] = set()
        for name, child in node.keys.items():
            if name not in value:
                continue
            if child.remove:
                dropped.add(name)
            else:
                member = value[name]
                new = _apply(child, member)
                if new is not member:
                    changed[name] = new
        if not changed and not dropped:
            return value
        return {name: changed.get(name, member) for name, member in value.items() if name not in dropped}
    if (node.items or node.every is not None) and isinstance(value, list):
        out: list[Any] = []
        touched = False
        for position, item in enumerate(value):
            follow = node.items.get(position, node.every)
            if follow is None:
                out.append(item)
            elif follow.remove:
                touched = True
            else:
                new = _apply(follow, item)
                touched = touched or new is not item
                out.append(new)
        return out if touched else value
    return value


class IgnoreRules:
    """A proxy's ignore paths, parsed once when the config is set, applied to every distinct request."""

    __slots__ = ("_root", "paths")

    def __init__(self, paths: Iterable[str] = ()) -> None:
        self.paths: tuple[str, ...] = tuple(paths)
        root = _Node()
        for path in self.paths:
            try:
                steps = parse_path(path)
            except ValueError as exc:
                raise ValueError(f"invalid ignore path {path!r}: {exc}") from None
            node = root
            for step in steps:
                node = node.child(step)
            node.remove = True
        root.fold_wildcards()
        self._root: _Node | None = root if self.paths else None

    def apply(self, value: Any) -> Any:
        """`value` without every matched member; `value` itself when there are no rules or nothing matched.

        The input is never mutated. The result shares untouched sub-values with it: read it (hash it,
        serialise it), do not mutate it.
        """
        if self._root is None:
            return value
        return _apply(self._root, value)

    def __bool__(self) -> bool:
        return bool(self.paths)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IgnoreRules) and other.paths == self.paths

    def __hash__(self) -> int:
        return hash(self.paths)

    def __repr__(self) -> str:
        return f"IgnoreRules({list(self.paths)!r})"


def without_paths(value: Any, paths: Sequence[str]) -> Any:
    """One-off form of `IgnoreRules(paths).apply(value)`; prefer a kept `IgnoreRules` on the hot path."""
    if not paths:
        return value
    return IgnoreRules(paths).apply(value)
