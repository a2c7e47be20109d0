"""The headless proxy: one provider's proxy in the foreground, its cache a directory of recording files.

No accounts, no control plane, no database: `rubberduck proxy` and `rubberduck up` on the command line, and
`HeadlessProxy` for in-process use (the pytest plugin). The names below load on first use, so building the
command line parser (which imports this package) stays cheap for every other command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rubberduck.headless.config import HeadlessError, ProxySpec, load_failure
    from rubberduck.headless.proxy import HeadlessProxy
    from rubberduck.headless.summary import Miss, Recording, Summary

__all__ = ["HeadlessError", "HeadlessProxy", "Miss", "ProxySpec", "Recording", "Summary", "load_failure"]

_HOMES = {
    "HeadlessError": "config",
    "ProxySpec": "config",
    "load_failure": "config",
    "HeadlessProxy": "proxy",
    "Miss": "summary",
    "Recording": "summary",
    "Summary": "summary",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
