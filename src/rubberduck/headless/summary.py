"""What a headless run did: counted from its log rows and its cache stage, never from bodies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from rubberduck.cache.occurrence import OccurrenceCounter
from rubberduck.cache.store import LayeredCache
from rubberduck.providers.usage import decode_body
from rubberduck.proxy.exchange import Exchange
from rubberduck.proxy.runtime import ProxyRuntime
from rubberduck.proxy.stages import CacheStage
from rubberduck.telemetry.enrich import ResponseBody
from rubberduck.telemetry.sqlite_rows import LogRow

EntryRef = tuple[str, int]  # (key, occurrence)


class Miss(NamedTuple):
    """A request the recordings did not answer (replay: a 404 replay_miss; record/refresh: forwarded)."""

    key: str  # "" for a request that is never recorded (not GET/POST, or a body that is not JSON)
    namespace: str  # "" is the default namespace
    error: str  # replay: `replay_miss: <differing paths> (nearest <key>#<occurrence>)`, never values


@dataclass(frozen=True, slots=True)
class Recording:
    key: str
    occurrence: int
    namespace: str
    path: Path | None  # relative to the recordings directory


@dataclass(frozen=True, slots=True)
class Summary:
    provider: str
    url: str
    mode: str
    requests: int  # every request answered, refused or failed included
    hits: int
    misses: tuple[Miss, ...]
    new: tuple[Recording, ...]  # written this run (new, or replacing one in refresh mode)
    unused: tuple[Recording, ...]  # in the directory at start and never used this run
    loaded: int  # recordings of this provider in the directory at start

    def failed(self, fail_on_miss: bool, fail_on_unused: bool) -> bool:
        return (fail_on_miss and bool(self.misses)) or (fail_on_unused and bool(self.unused))

    def lines(self) -> list[str]:
        """The printed summary: one headline, then one line per distinct miss, new and unused recording."""
        lines = [
            f"rubberduck proxy summary: provider={self.provider} url={self.url} mode={self.mode} "
            f"requests={self.requests} hits={self.hits} misses={len(self.misses)} new={len(self.new)} "
            f"unused={len(self.unused)}"
        ]
        counted: dict[Miss, int] = {}
        for miss in self.misses:
            counted[miss] = counted.get(miss, 0) + 1
        for miss, count in counted.items():
            namespace = miss.namespace or "_default"
            times = f" (x{count})" if count > 1 else ""
            lines.append(f"  miss: key={miss.key or '-'} namespace={namespace}{times}: {miss.error}")
        for label, recordings in (("new", self.new), ("unused", self.unused)):
            for recording in recordings:
                where = recording.path if recording.path is not None else f"key={recording.key}"
                lines.append(f"  {label}: {where}")
        return lines


class CountingLogSink:
    """The LogSink of a headless proxy: counts rows and keeps nothing (the response bytes are dropped).

    When a tokens-per-minute limit is configured, it reads the answer's usage to charge the limiter, as the
    server's log writer does.
    """

    def __init__(self) -> None:
        self.requests = 0
        self.hits = 0

    def append(self, row: LogRow) -> None:
        body: ResponseBody | None = row.pop("_body", None)
        if body is not None and body.charge_tokens is not None:
            _charge(body)
        self.requests += 1
        if row.get("cache_status") == "hit":
            self.hits += 1


def _charge(body: ResponseBody) -> None:
    assert body.charge_tokens is not None
    try:
        raw = decode_body(b"".join(body.chunks), body.content_encoding)
        usage = body.adapter.usage(raw, body.stream) if raw else None
    except Exception:  # an answer the adapter cannot read charges nothing
        return
    if usage is not None and usage.input_tokens is not None:
        body.charge_tokens(usage.input_tokens + (usage.output_tokens or 0))


class TallyingCacheStage(CacheStage):
    """The cache stage, noting which recordings answered and which requests missed (with their namespace)."""

    def __init__(self, cache: LayeredCache, occurrences: OccurrenceCounter) -> None:
        super().__init__(cache, occurrences)
        self.used: set[EntryRef] = set()
        self.misses: list[Miss] = []
        self.namespaces: dict[str, str] = {}  # key -> namespace of the requests that missed

    async def before(self, exchange: Exchange, runtime: ProxyRuntime) -> None:
        await super().before(exchange, runtime)
        status, key = exchange.cache_status, exchange.cache_key
        if status == "hit" and key is not None:
            self.used.add((key, exchange.occurrence))
        elif status == "miss":
            error = exchange.error or "forwarded to the upstream"
            self.misses.append(Miss(key or "", exchange.namespace, error))
            if key is not None:
                self.namespaces[key] = exchange.namespace
