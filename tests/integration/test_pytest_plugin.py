"""The pytest plugin, run the way a user runs it: a sample suite in a pytester directory, in a fresh pytest
process, with the official openai SDK reading OPENAI_BASE_URL, against a fake upstream on a real socket."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rubberduck.pytest_support import MAX_NAMESPACE, namespace_for, sdk_environment
from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream

pytest_plugins = ["pytester"]

CHAT = "/v1/chat/completions"

# The sample suite's helpers: a client made inside the test, as the docs advise, and a record of what each
# test was answered (to compare one run with the next).
CONFTEST = """
import json, os
from pathlib import Path

import openai
import pytest


@pytest.fixture
def ask(request):
    def ask(prompt):
        client = openai.OpenAI(api_key="sk-test-key", max_retries=0)
        answer = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
        ).choices[0].message.content
        with Path("answers.jsonl").open("a") as log:
            log.write(json.dumps({"test": request.node.name, "answer": answer}) + "\\n")
        return answer

    return ask
"""


def sample(prompt: str = "What is 2+2?") -> str:
    return f"""
def test_sum(ask):
    assert ask({prompt!r}).startswith("answer")
"""


def completion(content: str) -> FakeResponse:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini"}
    return FakeResponse.json(200, {**body, "choices": [choice], "usage": usage})


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    """Answers `answer N: <prompt>`, N counting the requests, so two recordings of one prompt differ."""
    counter = itertools.count(1)

    async def answer(request: FakeRequest) -> FakeResponse:
        prompt = request.json()["messages"][-1]["content"]
        return completion(f"answer {next(counter)}: {prompt}")

    fake = FakeUpstream()
    fake.add_handler("POST", CHAT, answer)
    with fake:
        yield fake


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("CI", "OPENAI_BASE_URL", "OPENAI_API_KEY", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(CONFTEST)
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess("-p", "no:cacheprovider", "--rubberduck", *args, timeout=120)


def record(suite: pytest.Pytester, upstream: FakeUpstream, *args: str) -> pytest.RunResult:
    return run(suite, "--rubberduck-mode", "record", "--rubberduck-upstream", f"openai={upstream.url}", *args)


def answers(suite: pytest.Pytester) -> dict[str, str]:
    """Each test's answers in this run (the log is emptied)."""
    log = suite.path / "answers.jsonl"
    found: dict[str, str] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        item = json.loads(line)
        found[item["test"]] = item["answer"]
    log.unlink(missing_ok=True)
    return found


def recording_files(suite: pytest.Pytester) -> list[Path]:
    return sorted((suite.path / "tests" / "recordings").rglob("*.json"))


def test_records_then_replays_offline_then_a_changed_prompt_fails_with_the_diff(
    suite: pytest.Pytester, upstream: FakeUpstream
) -> None:
    suite.makepyfile(test_app=sample())
    recorded = record(suite, upstream)
    recorded.assert_outcomes(passed=1)
    assert upstream.count("POST", CHAT) == 1
    assert answers(suite) == {"test_sum": "answer 1: What is 2+2?"}
    files = recording_files(suite)
    assert [path.parent.name for path in files] == ["test_app.py.test_sum"]
    recorded.stdout.fnmatch_lines(
        ["*= rubberduck =*", "openai: 1 requests, 0 hits, 1 forwarded to the upstream, 1 new recordings"]
    )

    upstream.stop()  # offline: a request that reached for it would fail
    replayed = run(suite, "--rubberduck-mode", "replay")
    replayed.assert_outcomes(passed=1)
    assert answers(suite) == {"test_sum": "answer 1: What is 2+2?"}
    replayed.stdout.fnmatch_lines(["openai: 1 requests, 1 hits, 0 misses, 0 new recordings"])

    # A changed prompt, and a new request whose error the app swallows: both tests fail, with the diff.
    swallowed = """
def test_swallowed(ask):
    try:
        ask("Something new")
    except Exception:
        pass
"""
    suite.makepyfile(test_app=sample("What is 3+3?") + swallowed)
    changed = run(suite, "--rubberduck-mode", "replay")
    changed.assert_outcomes(failed=2)
    changed.stdout.fnmatch_lines(
        [
            "E * openai.NotFoundError: Error code: 404 - Rubberduck replay_miss: this request is not recorded*",
            "E * The nearest recorded request (key *, occurrence 1) differs in 1 field:",
            'E * messages?0?.content: recorded "What is 2+2?" ≠ sent "What is 3+3?"',
        ]
    )
    changed.stdout.fnmatch_lines(
        [
            "*_ test_swallowed _*",
            "Rubberduck: 1 request(s) not recorded (replay mode)",
            "openai: key * in namespace 'test_app.py.test_swallowed': replay_miss",
        ]
    )
    changed.stdout.fnmatch_lines(
        ["*= rubberduck =*", "openai: 2 requests, 0 hits, 2 misses, 0 new recordings"]
    )
    assert recording_files(suite) == files  # replay mode never writes


def test_the_same_prompt_in_two_tests_gets_two_answers(
    suite: pytest.Pytester, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enabled from the ini file this time, the mode from the environment: RUBBERDUCK_PYTEST_MODE, then CI."""
    suite.makeini(f"[pytest]\nrubberduck = true\nrubberduck_upstreams = openai={upstream.url}\n")
    suite.makepyfile(
        test_twice="""
        def test_first(ask):
            assert ask("Tell me a joke").startswith("answer")

        def test_second(ask):
            assert ask("Tell me a joke").startswith("answer")
        """
    )
    monkeypatch.setenv("RUBBERDUCK_PYTEST_MODE", "record")
    suite.runpytest_subprocess("-p", "no:cacheprovider", timeout=120).assert_outcomes(passed=2)
    first = answers(suite)
    assert sorted(first.values()) == ["answer 1: Tell me a joke", "answer 2: Tell me a joke"]
    assert {path.parent.name for path in recording_files(suite)} == {
        "test_twice.py.test_first",
        "test_twice.py.test_second",
    }
    upstream.stop()
    monkeypatch.delenv("RUBBERDUCK_PYTEST_MODE")
    monkeypatch.setenv("CI", "true")  # replay by default in CI
    replayed = suite.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(["mode replay, *"])
    assert answers(suite) == first


def test_fail_makes_the_sdk_see_a_429_for_that_test_only(
    suite: pytest.Pytester, upstream: FakeUpstream
) -> None:
    suite.makepyfile(
        test_fail="""
        import os

        import openai
        import pytest


        def test_rate_limited(ask, rubberduck):
            assert rubberduck.namespace == "test_fail.py.test_rate_limited"
            assert rubberduck.urls["openai"].endswith("/_ns/test_fail.py.test_rate_limited")
            assert os.environ["OPENAI_BASE_URL"] == rubberduck.urls["openai"] + "/v1"
            assert len(rubberduck.env) == 6  # the six providers, each through its SDK's own variable
            assert all(os.environ[name] == url for name, url in rubberduck.env.items())
            rubberduck.fail(429)
            with pytest.raises(openai.RateLimitError):
                ask("Hello")


        def test_next_test_is_not_failed(ask):
            assert ask("Hello") == "answer 1: Hello"
        """
    )
    result = record(suite, upstream)
    result.assert_outcomes(passed=2)
    assert upstream.count("POST", CHAT) == 1  # the simulated 429 never reached the upstream


def test_fail_unused_fails_the_session_when_a_recording_went_unused(
    suite: pytest.Pytester, upstream: FakeUpstream
) -> None:
    suite.makepyfile(
        test_a="""
        def test_two(ask):
            ask("one")
            ask("two")

        def test_other(ask):
            ask("three")
        """
    )
    record(suite, upstream).assert_outcomes(passed=2)
    upstream.stop()
    suite.makepyfile(
        test_a="""
        def test_two(ask):
            ask("one")

        def test_other(ask):
            ask("three")
        """
    )
    # Without the option the unused recording is reported; with it the session fails.
    reported = run(suite, "--rubberduck-mode", "replay")
    reported.assert_outcomes(passed=2)
    assert reported.ret == pytest.ExitCode.OK
    reported.stdout.fnmatch_lines(
        ["1 unused recording of tests that passed or are gone from their file:", "*unused openai*"]
    )
    failed = run(suite, "--rubberduck-mode", "replay", "--rubberduck-fail-unused")
    failed.assert_outcomes(passed=2)
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    failed.stdout.fnmatch_lines(["*--rubberduck-fail-unused: the session fails*"])
    # Tests that did not run are not judged: -k runs only test_other, whose recording was used.
    selected = run(suite, "--rubberduck-mode", "replay", "--rubberduck-fail-unused", "-k", "other")
    assert selected.ret == pytest.ExitCode.OK
    # A test gone from a file that ran leaves its recordings unused too.
    suite.makepyfile(test_a="def test_two(ask):\n    ask('one')\n    ask('two')\n")
    removed = run(suite, "--rubberduck-mode", "replay", "--rubberduck-fail-unused")
    removed.assert_outcomes(passed=1)
    assert removed.ret == pytest.ExitCode.TESTS_FAILED
    removed.stdout.fnmatch_lines(["1 unused recording *", "  unused openai test_a.py.test_other/chat-*.json"])


def test_a_miss_escaped_in_the_sdk_error_is_shown_with_its_line_breaks(suite: pytest.Pytester) -> None:
    """google-genai's error text holds the body's repr (line breaks as \\n): the report shows the explanation
    as it was written. And its client found the proxy through GOOGLE_GEMINI_BASE_URL."""
    suite.makepyfile(
        test_gemini="""
        from google import genai

        def test_gemini():
            client = genai.Client(api_key="AIza-test-key")
            client.models.generate_content(model="gemini-2.5-flash", contents="Hi")
        """
    )
    result = run(suite, "--rubberduck-mode", "replay", "--rubberduck-providers", "gemini")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * google.genai.errors.ClientError: 404 NOT_FOUND*replay_miss*\\nNothing is recorded*",
            "*- rubberduck: replay miss -*",
            "Rubberduck replay_miss: this request is not recorded (key *, namespace 'test_gemini.py.test_gemini')*",
            "Nothing is recorded for * in namespace 'test_gemini.py.test_gemini' to compare it with.",
        ]
    )


def test_inactive_unless_enabled(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    pytester.makepyfile(
        test_plain="""
        import os

        def test_untouched():
            assert "OPENAI_BASE_URL" not in os.environ

        def test_fixture_needs_the_option(rubberduck):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*needs the plugin enabled: pytest --rubberduck*"])


def test_namespaces_and_sdk_variables() -> None:
    assert namespace_for("tests/test_app.py::test_login[a b/c]") == "tests_test_app.py.test_login_a_b_c"
    assert namespace_for("tests/test_app.py::TestA::test_b[1.]") == "tests_test_app.py.TestA.test_b_1"
    long_id = "tests/test_x.py::test_" + "x" * 300
    name = namespace_for(long_id)
    assert len(name) == MAX_NAMESPACE and name.startswith("tests_test_x.py.test_xxx")
    assert name != namespace_for(long_id + "y") and name == namespace_for(long_id)
    assert sdk_environment({"openai": "http://h/_ns/n", "azure": "http://a", "openai_compatible": "x"}) == {
        "OPENAI_BASE_URL": "http://h/_ns/n/v1",
        "AZURE_OPENAI_ENDPOINT": "http://a",
    }
