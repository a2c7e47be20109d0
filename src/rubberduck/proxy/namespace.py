"""Which namespace a request records and replays in: `x-rubberduck-namespace`, or a `/_ns/<name>/` path prefix.

The prefix is for SDKs where a header is awkward: `base_url=".../_ns/test_login/v1"`. It is stripped before
routing, so adapters, keys and the upstream never see it. No namespace is the default namespace ("").
"""

from __future__ import annotations

import re
from typing import Final

NAMESPACE_HEADER: Final = "x-rubberduck-namespace"
NAMESPACE_PREFIX: Final = "/_ns/"
_NAME: Final = re.compile(r"[A-Za-z0-9._:-]{1,200}")
RULE: Final = "1 to 200 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-' (not '.' or '..')"


class NamespaceError(ValueError):
    """The request names a namespace badly: answered with a 400 in the provider's format."""


def split_namespace(path: str, headers: dict[str, str]) -> tuple[str, str]:
    """(namespace, path without the prefix); raises NamespaceError for a bad or contradictory name."""
    header = headers.get(NAMESPACE_HEADER)
    if header is None and not path.startswith(NAMESPACE_PREFIX):
        return "", path  # the common case: two lookups and done
    prefixed: str | None = None
    if path.startswith(NAMESPACE_PREFIX):
        prefixed, slash, rest = path[len(NAMESPACE_PREFIX) :].partition("/")
        path = slash + rest or "/"
        _check(prefixed, "the /_ns/<name>/ path prefix")
    if header is not None:
        _check(header, f"the {NAMESPACE_HEADER} header")
        if prefixed is not None and prefixed != header:
            raise NamespaceError(
                f"Rubberduck: the {NAMESPACE_HEADER} header ({header!r}) and the /_ns/ path prefix "
                f"({prefixed!r}) name different namespaces."
            )
        return header, path
    assert prefixed is not None
    return prefixed, path


def _check(name: str, where: str) -> None:
    # `.` and `..` would name a folder's parent when recordings are files (one folder per namespace).
    if not _NAME.fullmatch(name) or name in (".", ".."):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise NamespaceError(f"Rubberduck: invalid namespace {shown!r} in {where}: a name is {RULE}.")
