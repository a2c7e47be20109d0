"""The pytest plugin's moving parts: test namespaces, the SDKs' environment variables, and the headless proxies.

The proxies run in-process on an event loop of their own, in a background thread (as tests/fakes/upstream.py
serves its fake), so a synchronous test can change a proxy's failure settings directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:  # the proxies are imported only when the plugin is enabled
    from rubberduck.cache.config import CacheMode, Repeats
    from rubberduck.faults.config import FailureConfig
    from rubberduck.headless import HeadlessProxy, Miss, Summary
    from rubberduck.proxy.upstream import UpstreamClient

T = TypeVar("T")

# The six providers an official SDK can reach through an environment variable.
DEFAULT_PROVIDERS: Final = ("openai", "anthropic", "azure", "bedrock", "gemini", "vertex")

# Every provider a headless proxy serves; `openai_compatible` has no SDK variable (its base URL is code).
KNOWN_PROVIDERS: Final = frozenset({*DEFAULT_PROVIDERS, "openai_compatible"})

# Where each SDK reads its base URL, and what it appends to the proxy's URL (OPENAI_BASE_URL includes /v1;
# AZURE_OPENAI_ENDPOINT is the resource root; the Bedrock endpoint and the google-genai base URLs are roots).
SDK_VARIABLES: Final[Mapping[str, tuple[str, str]]] = {
    "openai": ("OPENAI_BASE_URL", "/v1"),
    "anthropic": ("ANTHROPIC_BASE_URL", ""),
    "azure": ("AZURE_OPENAI_ENDPOINT", ""),
    "bedrock": ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", ""),
    "gemini": ("GOOGLE_GEMINI_BASE_URL", ""),
    "vertex": ("GOOGLE_VERTEX_BASE_URL", ""),
}

MAX_NAMESPACE: Final = 200
# A namespace is a directory of the recordings in the user's repo: no ':' (Windows and git for Windows refuse
# it), nor a leading or trailing '.', though a namespace may have them.
_NOT_KEPT: Final = re.compile(r"[^A-Za-z0-9._-]+")
_HASH_LENGTH: Final = 12


def namespace_for(nodeid: str) -> str:
    """A test's namespace: its node id with `::` made `.` and every run of other characters than `A-Za-z0-9._-`
    made one `_` (`tests/test_app.py::test_x[a b]` → `tests_test_app.py.test_x_a_b`); an id longer than 200
    keeps its start and ends with `-` and a hash of the whole id."""
    name = _NOT_KEPT.sub("_", nodeid.replace("::", ".")).strip("._") or "_"
    if len(name) <= MAX_NAMESPACE:
        return name
    digest = hashlib.sha256(nodeid.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{name[: MAX_NAMESPACE - _HASH_LENGTH - 1]}-{digest}"


def file_prefix(nodeid: str) -> str:
    """The namespace prefix shared by every test of the file `nodeid` is in."""
    return namespace_for(nodeid.split("::", 1)[0]) + "."


def base_url(proxy_url: str, namespace: str) -> str:
    """The proxy's URL for a namespace: `http://127.0.0.1:PORT/_ns/<namespace>` ("" = the default one)."""
    return f"{proxy_url}/_ns/{namespace}" if namespace else proxy_url


def sdk_environment(urls: Mapping[str, str]) -> dict[str, str]:
    """The SDK variables for these (already namespaced) proxy URLs; providers without one are left out."""
    env: dict[str, str] = {}
    for provider, url in urls.items():
        if provider in SDK_VARIABLES:
            name, suffix = SDK_VARIABLES[provider]
            env[name] = url + suffix
    return env


def inherited_upstream(provider: str, environ: Mapping[str, str]) -> str | None:
    """What the SDK variable pointed at before the plugin replaced it (a gateway, an Azure resource), as the
    provider's upstream root; None when unset."""
    if provider not in SDK_VARIABLES:
        return None
    name, suffix = SDK_VARIABLES[provider]
    value = environ.get(name, "").strip().rstrip("/")
    if not value:
        return None
    return value[: -len(suffix)] if suffix and value.endswith(suffix) else value


def failure(status: int, rate: float, retry_after: float | None) -> FailureConfig:
    """A failure config that answers `status` to a share `rate` of the requests (validated)."""
    from rubberduck.faults.config import FailureConfig

    return FailureConfig.model_validate(
        {"errors": [{"status": status, "rate": rate, "retry_after_s": retry_after}]}
    )


@dataclass(frozen=True)
class Settings:
    mode: CacheMode
    recordings: Path
    providers: list[str]
    upstreams: dict[str, str]
    repeats: Repeats
    fail_unused: bool


class ProxyFleet:
    """One HeadlessProxy per provider, served by an event loop in a background thread."""

    def __init__(self, build: Callable[[], tuple[UpstreamClient, dict[str, HeadlessProxy]]]) -> None:
        self._build = build
        self._client: UpstreamClient | None = None
        self.proxies: dict[str, HeadlessProxy] = {}
        self.urls: dict[str, str] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rubberduck-pytest", daemon=True)
        self._started = False

    def start(self) -> dict[str, str]:
        self._thread.start()
        self._started = True
        self._client, self.proxies = self._call(self._build)  # on the loop, where their client lives
        self.urls = self._run(self._start_all())
        return dict(self.urls)

    async def _start_all(self) -> dict[str, str]:
        started = await asyncio.gather(
            *(proxy.start() for proxy in self.proxies.values()), return_exceptions=True
        )
        for provider, result in zip(self.proxies, started, strict=True):
            if isinstance(result, BaseException):
                raise RuntimeError(f"{provider}: {result}") from result
        return {provider: str(url) for provider, url in zip(self.proxies, started, strict=True)}

    def stop(self) -> dict[str, Summary]:
        """Stop every proxy that started; their final summaries."""
        summaries: dict[str, Summary] = {}
        if not self._started:
            return summaries
        try:
            for provider, proxy in self.proxies.items():
                summaries[provider] = self._run(proxy.stop())
            if self._client is not None:  # shared, so no proxy closes it
                self._run(self._client.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            if not self._thread.is_alive():
                self._loop.close()
            self._started = False
        return summaries

    def set_failure(self, config: FailureConfig | None, provider: str | None = None) -> None:
        for name in [provider] if provider else list(self.urls):
            self._call(partial(self.proxies[name].set_failure, config))

    def rewind(self, namespace: str) -> None:
        for name in self.urls:
            self._call(partial(self.proxies[name].rewind, namespace))

    def summaries(self) -> dict[str, Summary]:
        return {name: self._call(self.proxies[name].summary) for name in self.urls}

    def miss_counts(self) -> dict[str, int]:
        """How many misses each proxy has had so far (cheaper than a summary: no recording is listed)."""
        return self._call(lambda: {name: len(self._misses(name)) for name in self.urls})

    def misses_since(self, counts: Mapping[str, int], namespace: str) -> list[tuple[str, Miss]]:
        """(provider, miss) of `namespace` after `counts` (from miss_counts)."""
        return self._call(
            lambda: [
                (name, miss)
                for name in self.urls
                for miss in self._misses(name)[counts.get(name, 0) :]
                if miss.namespace == namespace
            ]
        )

    def _misses(self, provider: str) -> Sequence[Miss]:
        stage = self.proxies[provider].stage
        return () if stage is None else stage.misses

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def _call(self, function: Callable[[], T]) -> T:
        """Run `function` on the proxies' loop (their state belongs to it) and wait for its result."""

        async def call() -> T:
            return function()

        return self._run(call())


def make_fleet(settings: Settings) -> ProxyFleet:
    """One proxy per provider, all sharing one pooled upstream client (made and closed on their loop)."""
    from rubberduck.headless import HeadlessProxy
    from rubberduck.proxy.upstream import UpstreamClient
    from rubberduck.settings import Settings as ServerSettings

    server_settings = ServerSettings()

    def build() -> tuple[UpstreamClient, dict[str, HeadlessProxy]]:
        client = UpstreamClient(server_settings.upstream_connect_timeout_seconds)
        return client, {
            provider: HeadlessProxy(
                provider,
                settings.recordings,
                settings.mode,
                upstream=settings.upstreams.get(provider),
                repeats=settings.repeats,
                client=client,
                settings=server_settings,
            )
            for provider in settings.providers
        }

    return ProxyFleet(build)


@dataclass
class Rubberduck:
    """The `rubberduck` fixture: this test's proxies and failure settings."""

    namespace: str
    mode: str
    urls: dict[str, str]  # provider -> proxy URL with this test's /_ns/<namespace> prefix
    env: dict[str, str]  # the SDK variables as this test sees them
    _fleet: ProxyFleet = field(repr=False)

    def fail(
        self, status: int, rate: float = 1.0, *, provider: str | None = None, retry_after: float | None = None
    ) -> None:
        """Answer `status` (in the provider's own error format) to a share `rate` of this test's next requests,
        on every proxy or one provider's; reset after the test."""
        if provider is not None and provider not in self.urls:
            raise ValueError(f"rubberduck: no proxy for {provider!r} (started: {', '.join(self.urls)})")
        self._fleet.set_failure(failure(status, rate, retry_after), provider)

    def reset(self) -> None:
        """Take back any `fail(...)`."""
        self._fleet.set_failure(None)


MISS_MARK: Final = "Rubberduck replay_miss"


def miss_messages(error: BaseException | None) -> list[str]:
    """The replay-miss explanations an SDK exception carries (in its parsed body, a botocore response, ...),
    with their line breaks: an exception's own text often shows them escaped inside a dict's repr."""
    found: list[str] = []
    seen: set[int] = set()

    def walk(value: object, depth: int) -> None:
        if depth > 6 or id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, str):
            if value.startswith(MISS_MARK) and value not in found:
                found.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item, depth + 1)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item, depth + 1)
        elif isinstance(value, BaseException):
            for name in ("body", "response", "message", "details"):
                walk(getattr(value, name, None), depth + 1)
            walk(value.args, depth + 1)
            walk(value.__cause__ or value.__context__, depth + 1)

    walk(error, 0)
    return found
