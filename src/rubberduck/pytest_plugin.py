"""pytest plugin: every test's LLM calls go through Rubberduck proxies, recorded to and replayed from files.

Inactive unless `--rubberduck` (or ini `rubberduck = true`). Then, for the session, one headless proxy per
provider runs in-process, and the SDKs' own environment variables (OPENAI_BASE_URL, ANTHROPIC_BASE_URL, ...)
point at them, with a `/_ns/<namespace>/` prefix per test so each test has recordings of its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, cast

import pytest

if TYPE_CHECKING:
    from rubberduck.cache.config import CacheMode, Repeats
    from rubberduck.pytest_session import RubberduckPlugin
from rubberduck.pytest_support import (
    DEFAULT_PROVIDERS,
    KNOWN_PROVIDERS,
    Rubberduck,
    Settings,
    inherited_upstream,
)

MODES: Final = ("record", "replay", "refresh", "off")
REPEATS: Final = ("same", "sequence")
_ENV: Final = "RUBBERDUCK_PYTEST_"
_KEY: Final[pytest.StashKey[RubberduckPlugin]] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rubberduck", "Rubberduck: record and replay LLM calls")
    group.addoption("--rubberduck", action="store_true", default=None, help="enable the Rubberduck plugin")
    parser.addini("rubberduck", "enable the Rubberduck plugin", type="bool", default=False)
    group.addoption(
        "--rubberduck-mode",
        choices=MODES,
        help="record (default), replay (default when CI is set), refresh or off [env RUBBERDUCK_PYTEST_MODE]",
    )
    parser.addini("rubberduck_mode", "record, replay, refresh or off")
    group.addoption(
        "--rubberduck-dir", help="recordings directory (tests/recordings) [RUBBERDUCK_PYTEST_DIR]"
    )
    parser.addini("rubberduck_dir", "recordings directory, relative to the ini file")
    group.addoption(
        "--rubberduck-providers",
        help=f"comma-separated providers to proxy (default: {','.join(DEFAULT_PROVIDERS)}) "
        "[RUBBERDUCK_PYTEST_PROVIDERS]",
    )
    parser.addini("rubberduck_providers", "providers to proxy", type="args")
    group.addoption(
        "--rubberduck-upstream",
        action="append",
        default=[],
        metavar="PROVIDER=URL",
        help="upstream of a provider, repeatable (default: the provider's API) [RUBBERDUCK_PYTEST_UPSTREAMS]",
    )
    parser.addini("rubberduck_upstreams", "PROVIDER=URL lines", type="linelist")
    group.addoption("--rubberduck-repeats", choices=REPEATS, help="same (default) or sequence")
    parser.addini("rubberduck_repeats", "same or sequence")
    group.addoption(
        "--rubberduck-fail-unused",
        action="store_true",
        default=None,
        help="fail the session when recordings of the tests that ran were not used",
    )
    parser.addini(
        "rubberduck_fail_unused", "fail the session on unused recordings", type="bool", default=False
    )


def _truthy(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def _choice(
    config: pytest.Config, environ: Mapping[str, str], name: str, choices: tuple[str, ...], default: str
) -> str:
    value = config.getoption(f"--rubberduck-{name}") or environ.get(f"{_ENV}{name.upper()}") or ""
    value = value or str(config.getini(f"rubberduck_{name}") or "") or default
    if value not in choices:
        raise pytest.UsageError(f"rubberduck: {name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def read_settings(config: pytest.Config, environ: Mapping[str, str]) -> Settings:
    """Command line first, then RUBBERDUCK_PYTEST_* variables, then the ini file, then the defaults."""
    mode = _choice(config, environ, "mode", MODES, "replay" if _truthy(environ.get("CI", "")) else "record")
    invoked = config.invocation_params.dir
    if config.getoption("--rubberduck-dir"):
        recordings = invoked / str(config.getoption("--rubberduck-dir"))
    elif environ.get(f"{_ENV}DIR"):
        recordings = invoked / environ[f"{_ENV}DIR"]
    elif config.getini("rubberduck_dir"):
        base = config.inipath.parent if config.inipath else config.rootpath
        recordings = base / str(config.getini("rubberduck_dir"))
    else:
        recordings = config.rootpath / "tests" / "recordings"
    listed = config.getoption("--rubberduck-providers") or environ.get(f"{_ENV}PROVIDERS")
    names = listed.replace(",", " ").split() if listed else list(config.getini("rubberduck_providers"))
    providers = list(dict.fromkeys(names or DEFAULT_PROVIDERS))
    # Where the SDK variable pointed before the run (a gateway, an Azure resource), then the settings.
    upstreams = {name: url for name in providers if (url := inherited_upstream(name, environ))}
    pairs = [*config.getini("rubberduck_upstreams"), *environ.get(f"{_ENV}UPSTREAMS", "").split()]
    for pair in [*pairs, *config.getoption("--rubberduck-upstream")]:
        provider, equals, url = (part.strip() for part in str(pair).partition("="))
        if not equals or not url or provider not in KNOWN_PROVIDERS:
            known = ", ".join(sorted(KNOWN_PROVIDERS))
            raise pytest.UsageError(f"rubberduck: an upstream is PROVIDER=URL ({known}), not {pair!r}")
        if provider in providers:  # an upstream of a provider not started is not needed
            upstreams[provider] = url.rstrip("/")
    fail_unused = config.getoption("--rubberduck-fail-unused") or _truthy(
        environ.get(f"{_ENV}FAIL_UNUSED", "")
    )
    return Settings(
        mode=cast("CacheMode", mode),
        recordings=recordings,
        providers=providers,
        upstreams=upstreams,
        repeats=cast("Repeats", _choice(config, environ, "repeats", REPEATS, "same")),
        fail_unused=bool(fail_unused or config.getini("rubberduck_fail_unused")),
    )


def pytest_configure(config: pytest.Config) -> None:
    if not (config.getoption("--rubberduck") or config.getini("rubberduck")):
        return
    settings = read_settings(config, os.environ)
    from rubberduck.pytest_session import RubberduckPlugin  # the proxies load only when enabled

    plugin = RubberduckPlugin(settings)
    config.stash[_KEY] = plugin
    config.pluginmanager.register(plugin, "rubberduck-session")


@pytest.fixture
def rubberduck(request: pytest.FixtureRequest) -> Rubberduck:
    plugin = request.config.stash.get(_KEY, None)
    if plugin is None:
        pytest.fail("the rubberduck fixture needs the plugin enabled: pytest --rubberduck", pytrace=False)
    return plugin.fixture_for(request.node)
