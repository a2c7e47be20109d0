"""HeadlessProxy: one ProxyApp on one ProxyServer, its cache a directory of recordings. No DB, no accounts."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rubberduck.cache.config import CacheConfig, CacheMode, Repeats, Timing
from rubberduck.cache.memory import MemoryLRU
from rubberduck.cache.occurrence import LocalOccurrences
from rubberduck.cache.store import LayeredCache
from rubberduck.faults.config import FailureConfig
from rubberduck.faults.stages import FaultStage, GlobalIPFilter, IpFilterStage, RateLimitStage
from rubberduck.faults.state import FaultState
from rubberduck.headless.config import HeadlessError, describe_validation
from rubberduck.headless.summary import CountingLogSink, Recording, Summary, TallyingCacheStage
from rubberduck.providers import build_registry
from rubberduck.proxy.asgi import ProxyApp
from rubberduck.proxy.runtime import ProxyRuntime
from rubberduck.proxy.server import ProxyServer, describe_bind_error, limits_from
from rubberduck.proxy.stages import ForwardStage, Stage
from rubberduck.proxy.upstream import UpstreamClient
from rubberduck.recordings.files import RecordingError
from rubberduck.recordings.filestore import FileCacheStore
from rubberduck.settings import Settings

PROXY_ID = 1  # each headless proxy has its own cache and counters: the id only has to be stable
OWNER = uuid.UUID(int=0)


class HeadlessProxy:
    """A proxy in this process, for one provider, recording to and replaying from `recordings`.

    Bad input raises HeadlessError (a ValueError) with a one-line message: an unknown provider or cache
    setting at once, a directory that is not one or cannot be read (or written, when recording) at once,
    a bad recording file and a port in use from `start()`. Use it on one event loop; `set_failure` and
    `rewind` only swap or clear in-memory state and may be called from any thread.

    `client` shares one pooled upstream client between several proxies (it is then not closed by `stop`);
    `settings` gives the limits and timeouts (default: Settings() from RUBBERDUCK_* variables).
    """

    def __init__(
        self,
        provider: str,
        recordings: Path,
        mode: CacheMode = "replay",
        upstream: str | None = None,
        port: int = 0,
        repeats: Repeats = "same",
        timing: Timing = "instant",
        failure: FailureConfig | None = None,
        *,
        host: str = "127.0.0.1",
        ignore: Sequence[str] = (),
        options: Mapping[str, Any] | None = None,
        client: UpstreamClient | None = None,
        settings: Settings | None = None,
    ) -> None:
        providers = build_registry()
        if provider not in providers:
            known = ", ".join(sorted(providers))
            raise HeadlessError(f"unknown provider {provider!r} (known: {known})")
        try:
            self.cache_config = CacheConfig(mode=mode, repeats=repeats, timing=timing, ignore=tuple(ignore))
        except ValidationError as exc:
            raise HeadlessError(describe_validation(exc)) from None
        self.provider = provider
        self.adapter = providers[provider]
        self.recordings = Path(recordings)
        self.upstream = upstream
        self.host = host
        self.port = port
        self.options = dict(options or {})
        self.settings = settings or Settings()
        self._failure = failure or FailureConfig()
        self._client = client
        self._own_client = client is None
        check_directory(self.recordings, writable=mode in ("record", "refresh"))
        self.occurrences = LocalOccurrences()
        self.sink = CountingLogSink()
        self.cache: LayeredCache | None = None
        self.store: FileCacheStore | None = None
        self.stage: TallyingCacheStage | None = None
        self.app: ProxyApp | None = None
        self.server: ProxyServer | None = None

    @property
    def mode(self) -> CacheMode:
        return self.cache_config.mode

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def loaded(self) -> int:
        """Recordings of this provider found in the directory at start."""
        return 0 if self.store is None else self.store.stats().loaded

    async def start(self) -> str:
        """Read the recordings, listen, and return the URL (with the port the system picked for port 0)."""
        if self.server is not None:
            return self.url
        try:
            store = await asyncio.to_thread(FileCacheStore, self.recordings, self.provider)
        except RecordingError as exc:  # names the file and what is wrong with it
            raise HeadlessError(f"bad recording: {_reason(exc)}") from None
        except OSError as exc:
            raise HeadlessError(f"recordings directory {self.recordings}: {_reason(exc)}") from None
        settings = self.settings
        cache = LayeredCache(MemoryLRU(settings.memory_cache_bytes), store)
        client = self._client
        if client is None:
            client = self._client = UpstreamClient(settings.upstream_connect_timeout_seconds)
        stage = TallyingCacheStage(cache, self.occurrences)
        # The order of app.py's stages: IP filter (no global list here), rate limit, faults, cache, upstream.
        stages: list[Stage] = [
            IpFilterStage(GlobalIPFilter()),
            RateLimitStage(),
            FaultStage(),
            stage,
            ForwardStage(client),
        ]
        app = ProxyApp(self._runtime(), stages, self.sink)
        server = ProxyServer(app, self.host, self.port, settings.graceful_stop_seconds, limits_from(settings))
        try:
            await server.start()
        except OSError as exc:
            if self._own_client:
                await client.aclose()
                self._client = None
            raise HeadlessError(describe_bind_error(exc, self.host, self.port)) from None
        self.cache, self.store, self.stage, self.app, self.server = cache, store, stage, app, server
        self.port = server.port
        return self.url

    async def stop(self, force: bool = False) -> Summary:
        """Stop listening, let requests in flight finish (within the graceful time), and sum the run up."""
        server, self.server = self.server, None
        if server is not None:
            await server.stop(force=force)
            if self.cache is not None:
                await self.cache.flush_hits()
            if self._own_client and self._client is not None:
                await self._client.aclose()
                self._client = None
        return self.summary()

    def set_failure(self, config: FailureConfig | None) -> None:
        """Simulated failures from the next request on (None: none); the dice start over with its seed."""
        self._failure = config or FailureConfig()
        if self.app is not None:
            self.app.runtime = dataclasses.replace(self.app.runtime, faults=FaultState(self._failure))

    def rewind(self, namespace: str | None = None) -> None:
        """`repeats: sequence`: the next request of each key (of one namespace, or all) is occurrence 1 again."""
        self.occurrences.rewind_now(PROXY_ID, namespace)

    def summary(self) -> Summary:
        """Hits, misses, recordings written and recordings not used so far (final after `stop`)."""
        store, stage = self.store, self.stage
        new: list[Recording] = []
        unused: list[Recording] = []
        if store is not None and stage is not None:
            stats = store.stats()
            for key, occurrence in stats.created:
                path = self._relative(store.path_of(key, occurrence))
                new.append(Recording(key, occurrence, stage.namespaces.get(key, ""), path))
            for entry in stats.unused:
                if (entry.key, entry.occurrence) in stage.used:  # a hit whose count is not flushed yet
                    continue
                path = self._relative(store.path_of(entry.key, entry.occurrence))
                unused.append(Recording(entry.key, entry.occurrence, entry.namespace, path))
        new.sort(key=_order)
        unused.sort(key=_order)
        return Summary(
            provider=self.provider,
            url=self.url,
            mode=self.mode,
            requests=self.sink.requests,
            hits=self.sink.hits,
            misses=tuple(stage.misses) if stage is not None else (),
            new=tuple(new),
            unused=tuple(unused),
            loaded=store.stats().loaded if store is not None else 0,
        )

    def _runtime(self) -> ProxyRuntime:
        settings = self.settings
        return ProxyRuntime(
            proxy_id=PROXY_ID,
            owner_id=OWNER,
            adapter=self.adapter,
            upstream_url=self.upstream,
            upstream_timeout=settings.upstream_timeout_seconds,
            max_request_bytes=settings.max_request_bytes,
            max_cached_response_bytes=settings.max_cached_response_bytes,
            faults=FaultState(self._failure),
            options=self.options,
            cache=self.cache_config,
        )

    def _relative(self, path: Path | None) -> Path | None:
        if path is None:
            return None
        try:
            return path.relative_to(self.recordings)
        except ValueError:
            return path


def _order(recording: Recording) -> tuple[str, str, int]:
    """By namespace, then key, then occurrence (2 after 1, whatever their file names)."""
    return recording.namespace, recording.key, recording.occurrence


def check_directory(path: Path, writable: bool) -> None:
    """The recordings directory: made when missing; HeadlessError when it is a file or cannot be used."""
    if path.exists() and not path.is_dir():
        raise HeadlessError(f"recordings directory {path} is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HeadlessError(f"recordings directory {path} cannot be created: {_reason(exc)}") from None
    if not os.access(path, os.R_OK | os.X_OK):
        raise HeadlessError(f"recordings directory {path} is not readable (permission denied)")
    if writable and not os.access(path, os.W_OK):
        raise HeadlessError(f"recordings directory {path} is not writable (permission denied)")


def _reason(exc: Exception) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(text.split())
