"""The enabled plugin's session: proxies up for the session, one namespace per test, misses and the report."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from rubberduck.pytest_support import (
    ProxyFleet,
    Rubberduck,
    Settings,
    base_url,
    file_prefix,
    make_fleet,
    miss_messages,
    namespace_for,
    sdk_environment,
)

if TYPE_CHECKING:
    from rubberduck.headless import Recording, Summary

_SHOWN = 10  # misses and unused recordings listed by name in the report; the rest are counted


class RubberduckPlugin:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.fleet: ProxyFleet | None = None
        self.session_env: dict[str, str] = {}
        self._saved_env: dict[str, str | None] = {}
        self._collected: set[str] = set()  # namespaces of every collected test, deselected ones included
        self._ran: set[str] = set()
        self._ran_files: set[str] = set()
        self._misses_before: dict[str, dict[str, int]] = {}
        self._final: dict[str, Summary] | None = None
        self._counted_unused: list[tuple[str, Recording]] = []

    # ---- session ------------------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        settings = self.settings
        fleet = make_fleet(settings)
        try:
            urls = fleet.start()
        except Exception as error:
            fleet.stop()
            raise pytest.UsageError(f"rubberduck: the proxies did not start: {error}") from error
        self.fleet = fleet
        # Clients built outside a test (at import, in a session fixture) use the default namespace.
        self.session_env = sdk_environment(urls)
        self._saved_env = {name: os.environ.get(name) for name in self.session_env}
        os.environ.update(self.session_env)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self._collected.update(namespace_for(item.nodeid) for item in items)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if self.fleet is None:
            return
        self._final = self.fleet.stop()
        self.fleet = None
        self._counted_unused = [
            (provider, recording)
            for provider, summary in self._final.items()
            for recording in summary.unused
            if self._counts(recording.namespace)
        ]
        if self.settings.fail_unused and self._counted_unused and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _counts(self, namespace: str) -> bool:
        """Whether an unused recording in `namespace` is reported: its test passed, or it belongs to no test of
        the session but to a file that ran (a renamed or deleted test). Tests not run (-k, other files),
        failed or skipped are not judged."""
        if namespace in self._ran:
            return True
        return namespace not in self._collected and any(namespace.startswith(p) for p in self._ran_files)

    # ---- tests --------------------------------------------------------------------------------------------

    def urls_for(self, namespace: str) -> dict[str, str]:
        assert self.fleet is not None
        return {provider: base_url(url, namespace) for provider, url in self.fleet.urls.items()}

    def fixture_for(self, item: pytest.Item) -> Rubberduck:
        assert self.fleet is not None
        namespace = namespace_for(item.nodeid)
        urls = self.urls_for(namespace)
        return Rubberduck(namespace, self.settings.mode, urls, sdk_environment(urls), self.fleet)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        if self.fleet is not None:  # before any fixture, so clients built in fixtures see the namespace
            namespace = namespace_for(item.nodeid)
            self._ran_files.add(file_prefix(item.nodeid))
            if self.settings.repeats == "sequence":
                self.fleet.rewind(namespace)  # a rerun replays the sequence from its start
            if self.settings.mode == "replay":
                self._misses_before[item.nodeid] = self.fleet.miss_counts()
            os.environ.update(sdk_environment(self.urls_for(namespace)))
        return (yield)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:  # after every fixture's teardown
            if self.fleet is not None:
                self.fleet.set_failure(None)
                os.environ.update(self.session_env)
            self._misses_before.pop(item.nodeid, None)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when == "call" and self.fleet is not None and self.settings.mode == "replay":
            self._explain_misses(item, call, report)
        if call.when == "call" and report.passed:  # a failed or skipped test may not use all it recorded
            self._ran.add(namespace_for(item.nodeid))
        return report

    def _explain_misses(
        self, item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> None:
        # The SDK's error carries the explanation with its diff; shown here with its line breaks.
        error = call.excinfo.value if call.excinfo else None
        explained = [text for text in miss_messages(error) if text not in str(error)]
        if explained:
            report.sections.append(("rubberduck: replay miss", "\n\n".join(explained)))
        misses = self._new_misses(item)
        if misses and report.passed:  # the app swallowed the error: a replay miss still fails the test
            text = "\n".join(
                f"{provider}: key {key} in namespace {namespace!r}: {error}"
                for provider, key, namespace, error in misses
            )
            report.outcome = "failed"
            report.longrepr = f"Rubberduck: {len(misses)} request(s) not recorded (replay mode)\n{text}"

    def _new_misses(self, item: pytest.Item) -> list[tuple[str, str, str, str]]:
        assert self.fleet is not None
        before = self._misses_before.get(item.nodeid, {})
        return [
            (provider, miss.key, miss.namespace, miss.error)
            for provider, miss in self.fleet.misses_since(before, namespace_for(item.nodeid))
        ]

    # ---- report -------------------------------------------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self._final is None:
            return
        write = terminalreporter.write_line
        terminalreporter.section("rubberduck")
        settings = self.settings
        replay = settings.mode == "replay"
        write(f"mode {settings.mode}, recordings in {settings.recordings}")
        for provider, summary in self._final.items():
            if summary.requests:
                missed = "misses" if replay else "forwarded to the upstream"
                write(
                    f"{provider}: {summary.requests} requests, {summary.hits} hits, "
                    f"{len(summary.misses)} {missed}, {len(summary.new)} new recordings"
                )
        if replay:
            misses = [(p, miss) for p, s in self._final.items() for miss in s.misses]
            for provider, miss in misses[:_SHOWN]:
                write(f"  miss {provider} {miss.namespace or '(default namespace)'}: {miss.error}")
            if len(misses) > _SHOWN:
                write(f"  ... and {len(misses) - _SHOWN} more misses")
        unused = self._counted_unused
        if unused:
            verdict = " (--rubberduck-fail-unused: the session fails)" if settings.fail_unused else ""
            noun = "recording" if len(unused) == 1 else "recordings"
            write(f"{len(unused)} unused {noun} of tests that passed or are gone from their file{verdict}:")
            for provider, recording in unused[:_SHOWN]:
                write(f"  unused {provider} {recording.path or recording.key}")
            if len(unused) > _SHOWN:
                write(f"  ... and {len(unused) - _SHOWN} more")
