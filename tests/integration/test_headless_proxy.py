"""`rubberduck proxy` and `rubberduck up` as CI runs them: real processes, real sockets, the official SDKs.

Record through the headless proxy against a fake upstream, stop it with a signal, read its summary and its
files; replay with the upstream gone and get the same answers; a changed prompt, an unused recording and
bad input each give the exit status CI acts on.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from rubberduck.faults.config import ErrorFault, FailureConfig
from rubberduck.headless import HeadlessProxy
from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"
QUESTION = [{"role": "user", "content": "What is 2+2?"}]
READY = re.compile(r"^rubberduck proxy ready: provider=(\S+) url=(\S+) mode=(\S+) recordings=(\d+)$")
READY_BOUND_SECONDS = 10.0  # generous for a loaded CI machine; on this machine it is well under a second


@dataclass
class Ready:
    provider: str
    url: str
    mode: str
    recordings: int


class Headless:
    """A `rubberduck proxy|up` process: started, read until its ready lines, stopped with a signal."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        self.args = args
        self.cwd = cwd
        self.process: subprocess.Popen[str] | None = None
        self.ready: list[Ready] = []
        self.ready_seconds = 0.0

    def start(self, proxies: int = 1) -> Headless:
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rubberduck", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=self.cwd,
        )
        assert self.process.stdout is not None
        for _ in range(proxies):
            line = self.process.stdout.readline()
            match = READY.match(line.strip())
            if match is None:
                _, err = self.process.communicate(timeout=30)
                raise AssertionError(f"no ready line: {line!r}; stderr: {err}")
            provider, url, mode, count = match.groups()
            self.ready.append(Ready(provider, url, mode, int(count)))
        self.ready_seconds = time.monotonic() - started
        return self

    @property
    def url(self) -> str:
        return self.ready[0].url

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        """(exit status, the rest of stdout: the summaries, stderr)."""
        assert self.process is not None
        self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=30)


@pytest.fixture
def processes() -> Iterator[list[Headless]]:
    started: list[Headless] = []
    yield started
    for process in started:
        process.kill()


def run(processes: list[Headless], *args: str, proxies: int = 1, cwd: Path | None = None) -> Headless:
    process = Headless(*args, cwd=cwd)
    processes.append(process)
    return process.start(proxies)


def finish(*args: str) -> subprocess.CompletedProcess[str]:
    """A command that should end on its own (bad input)."""
    return subprocess.run(
        [sys.executable, "-m", "rubberduck", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", CHAT, recordings("openai", "chat_completions_nonstream_tools.yaml")[0])
    upstream.add("POST", RESPONSES, recordings("openai", "responses_stream.yaml")[0], stream=True)
    upstream.add("POST", MESSAGES, recordings("anthropic", "messages_nonstream_gzip.yaml")[0])
    with upstream:
        yield upstream


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="sk-test-key", max_retries=0)


def ask(client: openai.OpenAI, content: str = "What is 2+2?") -> dict[str, Any]:
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
    )
    return answer.model_dump()


def stream(client: openai.OpenAI) -> list[dict[str, Any]]:
    return [event.model_dump() for event in client.responses.create(model="gpt-5.5", input="hi", stream=True)]


def summary_line(out: str) -> dict[str, str]:
    headline = next(line for line in out.splitlines() if line.startswith("rubberduck proxy summary:"))
    return dict(part.split("=", 1) for part in headline.split(": ", 1)[1].split())


def recording_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def wait_for_files(root: Path, count: int) -> list[Path]:
    """A recording is written just after its answer went out: give the write a moment."""
    deadline = time.monotonic() + 10
    while len(files := recording_files(root)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(files) == count, files
    return files


def record(processes: list[Headless], fake: FakeUpstream, root: Path) -> tuple[dict[str, Any], list[Any]]:
    """Record one chat answer and one streamed answer; returns what the SDK saw."""
    proxy = run(
        processes, "proxy", "--provider", "openai", "--mode", "record", "--port", "0",
        "--recordings", str(root), "--upstream", fake.url,
    )  # fmt: skip
    client = sdk(proxy.url)
    chat, events = ask(client), stream(client)
    status, _, err = proxy.stop()
    assert status == 0, err
    return chat, events


def test_record_then_replay_offline_gives_the_sdk_the_same_answers(
    processes: list[Headless], fake: FakeUpstream, tmp_path: Path
) -> None:
    root = tmp_path / "recordings"
    proxy = run(
        processes, "proxy", "--provider", "openai", "--mode", "record", "--port", "0",
        "--recordings", str(root), "--upstream", fake.url,
    )  # fmt: skip
    ready = proxy.ready[0]
    assert (ready.provider, ready.mode, ready.recordings) == ("openai", "record", 0)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", ready.url) and not ready.url.endswith(":0")
    assert proxy.ready_seconds < READY_BOUND_SECONDS
    print(f"ready after {proxy.ready_seconds:.3f} s")  # the measured number, for the record

    client = sdk(proxy.url)
    chat, events = ask(client), stream(client)
    assert ask(client) == chat  # the second time from the recording
    files = wait_for_files(root, 2)  # written as they are made, before the proxy stops
    status, out, err = proxy.stop()
    assert status == 0, err
    assert err == ""
    counts = summary_line(out)
    assert (counts["requests"], counts["hits"], counts["misses"], counts["new"], counts["unused"]) == (
        "3", "1", "2", "2", "0",
    )  # fmt: skip
    for path in files:
        assert f"  new: {path.relative_to(root)}" in out.splitlines()
        document = json.loads(path.read_text())
        assert document["provider"] == "openai" and document["namespace"] == ""
        assert path.parent.name == "_default"
        assert "sk-test-key" not in path.read_text()
    assert fake.count("POST", CHAT) == 1 and fake.count("POST", RESPONSES) == 1

    upstream = fake.url
    fake.stop()  # replay never needs it
    replay = run(
        processes, "proxy", "--provider", "openai", "--port", "0", "--recordings", str(root),
        "--mode", "replay", "--upstream", upstream, "--fail-on-miss",
    )  # fmt: skip
    assert replay.ready[0].recordings == 2 and replay.ready[0].mode == "replay"
    client = sdk(replay.url)
    assert ask(client) == chat
    assert stream(client) == events  # the same events, in the same order

    with pytest.raises(openai.NotFoundError) as missed:
        ask(client, "What is 3+3?")
    message = str(missed.value)
    assert "replay_miss" in message and "messages" in message and "What is 3+3?" in message
    key = re.search(r"key ([0-9a-f]{16,})", message)
    assert key is not None
    status, out, err = replay.stop()
    assert status == 1, (out, err)  # --fail-on-miss
    counts = summary_line(out)
    assert (counts["hits"], counts["misses"], counts["new"], counts["unused"]) == ("2", "1", "0", "0")
    miss = next(line for line in out.splitlines() if line.startswith("  miss: "))
    assert f"key={key.group(1)}" in miss and "namespace=_default" in miss and "replay_miss" in miss
    assert "3+3" not in miss  # the summary names the differing paths, never the values
    assert recording_files(root) == files  # replay writes nothing


def test_fail_on_unused_and_fail_on_miss_decide_the_exit_status(
    processes: list[Headless], fake: FakeUpstream, tmp_path: Path
) -> None:
    root = tmp_path / "recordings"
    record(processes, fake, root)
    chat_file = next(path for path in recording_files(root) if "chat" in path.name)
    stream_file = next(path for path in recording_files(root) if path != chat_file)

    flags = ("proxy", "--provider", "openai", "--port", "0", "--recordings", str(root))
    used_one = run(processes, *flags, "--fail-on-unused")
    ask(sdk(used_one.url))
    status, out, _ = used_one.stop(signal.SIGTERM)
    assert status == 1
    assert summary_line(out)["unused"] == "1"
    assert f"  unused: {stream_file.relative_to(root)}" in out.splitlines()

    # A miss without --fail-on-miss, and every recording used: exit 0.
    relaxed = run(processes, *flags, "--fail-on-unused")
    client = sdk(relaxed.url)
    ask(client), stream(client)
    with pytest.raises(openai.NotFoundError):
        ask(client, "something else")
    status, out, err = relaxed.stop()
    assert status == 0, err
    assert summary_line(out)["misses"] == "1" and summary_line(out)["unused"] == "0"


def test_bad_input_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    root.mkdir()
    a_file = tmp_path / "file"
    a_file.write_text("")
    broken_json = tmp_path / "failure.json"
    broken_json.write_text('{"errors": [')
    invalid_toml = tmp_path / "failure.toml"
    invalid_toml.write_text("[[errors]]\nstatus = 429\nrate = 2.0\n")
    bad_recordings = tmp_path / "bad"
    (bad_recordings / "_default").mkdir(parents=True)
    (bad_recordings / "_default" / "chat.completions-0123456789ab.json").write_text("{not json")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        base = ("proxy", "--port", "0", "--recordings", str(root))
        cases = [
            (("proxy", "--provider", "nope", "--recordings", str(root)), "unknown provider 'nope'"),
            (("proxy", "--provider", "openai", "--recordings", str(a_file)), "is not a directory"),
            (
                ("proxy", "--provider", "openai", "--recordings", str(a_file / "sub")),
                "cannot be created: Not a directory",
            ),
            ((*base, "--provider", "openai", "--failure", str(broken_json)), "is not valid JSON"),
            ((*base, "--provider", "openai", "--failure", str(invalid_toml)), "errors.0.rate"),
            ((*base, "--provider", "openai", "--failure", str(tmp_path / "none.json")), "No such file"),
            (("proxy", "--provider", "openai", "--port", port, "--recordings", str(root)), "already in use"),
            (("proxy", "--provider", "openai", "--recordings", str(bad_recordings)), "chat.completions-"),
            ((*base, "--provider", "openai", "--mode", "sometimes"), "mode: Input should be"),
            (("proxy", "--provider", "openai"), "recordings: Field required"),
            (("up", "-c", str(tmp_path / "missing.toml")), "cannot read config file"),
        ]
        for args, expected in cases:
            result = finish(*args)
            assert result.returncode == 2, (args, result)
            assert result.stdout == "", args
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
            assert expected in lines[0], (args, lines[0])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_a_directory_without_permission_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "locked"
    root.mkdir(mode=0)
    try:
        result = finish("proxy", "--provider", "openai", "--recordings", str(root))
    finally:
        root.chmod(0o700)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "permission" in result.stderr


def test_up_runs_one_proxy_per_table_in_one_process(
    processes: list[Headless], fake: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "rubberduck.toml").write_text(
        f"""
recordings = "recordings"
mode = "record"
upstream = "{fake.url}"

[[proxy]]
provider = "openai"

[[proxy]]
provider = "anthropic"
fail-on-unused = true
"""
    )
    up = run(processes, "up", "-c", "rubberduck.toml", proxies=2, cwd=tmp_path)
    assert [ready.provider for ready in up.ready] == ["openai", "anthropic"]
    assert len({ready.url for ready in up.ready}) == 2
    chat = ask(sdk(up.ready[0].url))
    claude = anthropic.Anthropic(base_url=up.ready[1].url, api_key="sk-ant-test-key", max_retries=0)
    message = claude.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=QUESTION)
    status, out, err = up.stop(signal.SIGTERM)
    assert status == 0, err
    headlines = [line for line in out.splitlines() if line.startswith("rubberduck proxy summary:")]
    assert len(headlines) == 2 and "provider=openai" in headlines[0] and "provider=anthropic" in headlines[1]
    providers = sorted(
        json.loads(path.read_text())["provider"] for path in recording_files(tmp_path / "recordings")
    )
    assert providers == ["anthropic", "openai"]

    # Replay: each proxy reads only its provider's files; the anthropic one is left unused -> exit 1.
    fake.stop()
    config = (tmp_path / "rubberduck.toml").read_text().replace('mode = "record"', 'mode = "replay"')
    (tmp_path / "rubberduck.toml").write_text(config)
    replay = run(processes, "up", "-c", str(tmp_path / "rubberduck.toml"), proxies=2)
    assert [ready.recordings for ready in replay.ready] == [1, 1]
    assert ask(sdk(replay.ready[0].url)) == chat
    status, out, _ = replay.stop()
    assert status == 1
    assert message.content  # recorded and kept for replay; unused this time
    assert "  unused: _default/" in out


async def test_python_api_failures_rewind_namespaces_and_summary(fake: FakeUpstream, tmp_path: Path) -> None:
    """The API the pytest plugin drives in-process: start/stop, set_failure, rewind, summary."""
    root = tmp_path / "recordings"
    proxy = HeadlessProxy("openai", root, "record", upstream=fake.url, repeats="sequence")
    url = await proxy.start()
    assert url == proxy.url and not url.endswith(":0")
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-test-key", max_retries=0)

    async def chat() -> str:
        answer = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=QUESTION
        )
        return answer.headers["x-rubberduck-cache"]

    assert [await chat(), await chat()] == ["miss", "miss"]  # occurrences 1 and 2 of one request
    proxy.set_failure(FailureConfig(errors=[ErrorFault(status=429, rate=1.0)]))
    with pytest.raises(openai.RateLimitError):
        await chat()
    proxy.set_failure(None)
    proxy.rewind()
    assert [await chat(), await chat()] == ["hit", "hit"]
    summary = await proxy.stop()
    assert (summary.requests, summary.hits, len(summary.misses), summary.loaded) == (5, 2, 2, 0)
    assert [(r.occurrence, r.namespace) for r in summary.new] == [(1, ""), (2, "")]
    assert all(r.path is not None and (root / r.path).is_file() for r in summary.new)
    await client.close()

    replay = HeadlessProxy("openai", root, "replay")
    url = await replay.start()
    namespaced = openai.AsyncOpenAI(base_url=url + "/_ns/test_one/v1", api_key="sk-test-key", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="replay_miss"):
        await namespaced.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    await namespaced.close()
    summary = await replay.stop()
    assert [(miss.namespace, miss.error.split(":")[0]) for miss in summary.misses] == [
        ("test_one", "replay_miss")
    ]
    assert summary.loaded == 2 and len(summary.unused) == 2 and summary.failed(True, True)
