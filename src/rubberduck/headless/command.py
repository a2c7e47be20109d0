"""`rubberduck proxy` and `rubberduck up`: headless proxies in the foreground until SIGINT or SIGTERM.

Output contract (scripts and CI read it): one ready line per proxy on stdout, flushed —
`rubberduck proxy ready: provider=openai url=http://127.0.0.1:8001 mode=replay recordings=12` — and at the
end one summary per proxy (a headline, then one indented line per miss, new and unused recording). Exit 0;
1 when --fail-on-miss / --fail-on-unused apply; 2 on bad input, with one line `error: ...` on stderr.

Imports stay light until a command runs: the ready line is what CI waits for.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from rubberduck.headless.config import (
    HeadlessError,
    ProxySpec,
    describe_validation,
    load_failure,
    load_up_config,
)

if TYPE_CHECKING:
    from rubberduck.headless.proxy import HeadlessProxy
    from rubberduck.proxy.upstream import UpstreamClient
    from rubberduck.settings import Settings

BAD_INPUT = 2
FAILED = 1

_FLAGS = ("provider", "recordings", "mode", "port", "host", "upstream", "failure", "repeats", "timing")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The two subcommands, on the `rubberduck` parser's subparsers."""
    proxy = commands.add_parser(
        "proxy", help="run one headless proxy (recordings directory as its cache; no accounts, no database)"
    )
    proxy.add_argument(
        "--provider", help="openai, anthropic, azure, bedrock, vertex, gemini, openai_compatible"
    )
    proxy.add_argument("--port", type=int, help="default 0: a free port, printed on the ready line")
    proxy.add_argument("--recordings", type=Path, help="the recordings directory (made when missing)")
    proxy.add_argument("--mode", help="record | replay (default) | refresh | off")
    proxy.add_argument("--upstream", help="upstream base URL (default: the provider's own API)")
    proxy.add_argument(
        "--failure", type=Path, help="failure config, JSON or TOML (as PUT /api/proxies/{id}/failure)"
    )
    proxy.add_argument("--repeats", help="same (default) | sequence")
    proxy.add_argument("--timing", help="instant (default) | recorded")
    proxy.add_argument("--host", help="default 127.0.0.1")
    _fail_flags(proxy)
    proxy.set_defaults(handler=proxy_command)

    up = commands.add_parser("up", help="run several headless proxies from a TOML file ([[proxy]] tables)")
    up.add_argument(
        "-c", "--config", type=Path, default=Path("rubberduck.toml"), help="default rubberduck.toml"
    )
    _fail_flags(up)
    up.set_defaults(handler=up_command)


def _fail_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit 1 if a request missed the recordings"
    )
    parser.add_argument("--fail-on-unused", action="store_true", help="exit 1 if a recording was never used")


def proxy_command(args: argparse.Namespace) -> int:
    values = {name: getattr(args, name) for name in _FLAGS if getattr(args, name) is not None}
    values.update(fail_on_miss=args.fail_on_miss, fail_on_unused=args.fail_on_unused)
    return _run(lambda: [ProxySpec.parse(values)])


def up_command(args: argparse.Namespace) -> int:
    def specs() -> list[ProxySpec]:
        found = load_up_config(args.config)
        return [
            spec.model_copy(
                update={
                    "fail_on_miss": spec.fail_on_miss or args.fail_on_miss,
                    "fail_on_unused": spec.fail_on_unused or args.fail_on_unused,
                }
            )
            for spec in found
        ]

    return _run(specs)


def _run(specs: Callable[[], list[ProxySpec]]) -> int:
    from rubberduck.proxy.upstream import UpstreamClient
    from rubberduck.redact import configure_logging
    from rubberduck.settings import Settings

    configure_logging(logging.WARNING)  # a proxy's own trouble, redacted, on stderr
    try:
        settings = Settings()
    except ValidationError as exc:
        return _bad_input(HeadlessError(f"RUBBERDUCK_* settings: {describe_validation(exc)}"))
    # One pooled upstream client for every proxy of the process.
    client = UpstreamClient(settings.upstream_connect_timeout_seconds)
    try:
        proxies = [_build(spec, settings, client) for spec in specs()]
    except HeadlessError as exc:
        return _bad_input(exc)
    return _event_loop(_serve(proxies, client))


def _build(spec: ProxySpec, settings: Settings, client: UpstreamClient) -> tuple[HeadlessProxy, ProxySpec]:
    from rubberduck.headless.proxy import HeadlessProxy

    failure = load_failure(spec.failure) if spec.failure is not None else None
    proxy = HeadlessProxy(
        spec.provider,
        spec.recordings,
        spec.mode,
        spec.upstream,
        spec.port,
        spec.repeats,
        spec.timing,
        failure,
        host=spec.host,
        client=client,
        settings=settings,
    )
    return proxy, spec


async def _serve(proxies: list[tuple[HeadlessProxy, ProxySpec]], client: UpstreamClient) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[tuple[HeadlessProxy, ProxySpec]] = []
    try:
        for proxy, spec in proxies:
            try:
                await proxy.start()
            except HeadlessError as exc:
                await asyncio.gather(*(started_proxy.stop(force=True) for started_proxy, _ in started))
                return _bad_input(exc)
            started.append((proxy, spec))
            print(
                f"rubberduck proxy ready: provider={proxy.provider} url={proxy.url} mode={proxy.mode} "
                f"recordings={proxy.loaded}",
                flush=True,
            )
        await stop.wait()
        summaries = await asyncio.gather(*(proxy.stop() for proxy, _ in started))
    finally:
        await client.aclose()
    failed = False
    for summary, (_, spec) in zip(summaries, started, strict=True):
        print("\n".join(summary.lines()), flush=True)
        failed = failed or summary.failed(spec.fail_on_miss, spec.fail_on_unused)
    return FAILED if failed else 0


def _event_loop(main: Coroutine[Any, Any, int]) -> int:
    """uvloop when installed (as `rubberduck serve` runs its proxies), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        result: int = runner.run(main)
    return result


def _bad_input(exc: HeadlessError) -> int:
    print(f"error: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
    return BAD_INPUT
