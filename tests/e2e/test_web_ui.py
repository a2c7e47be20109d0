"""The web UI in a real headless Chromium, against a real server, a fake OpenAI and a real SMTP mailbox.

The browser is driven by web/e2e/journey.mjs (Playwright, Debian's chromium). Whatever the journey needs
from outside the browser it asks for on stdout (`@@step {json}`), and this test answers on stdin: the
token in an e-mail, calls through the proxy with the official OpenAI SDK (a replay miss among them: a
non-retried 404 that explains itself and never reaches the fake upstream), a check that a port closed.
Screenshots of every page land in test-output/e2e/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.mailbox import Mailbox
from tests.fakes.upstream import FakeUpstream
from tests.support import RubberduckProcess

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
OUTPUT = ROOT / "test-output" / "e2e"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHAT = "/v1/chat/completions"

pytestmark = pytest.mark.timeout(360)


def _prerequisites() -> list[str]:
    missing = []
    if not (ROOT / "src" / "rubberduck" / "static" / "index.html").is_file():
        missing.append("the built UI (cd web && npm ci && npm run build)")
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        missing.append("web/node_modules (cd web && npm ci)")
    if shutil.which("node") is None:
        missing.append("node")
    if not Path(CHROMIUM).exists():
        missing.append(f"chromium at {CHROMIUM} (apt-get install chromium)")
    return missing


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    fake.add("POST", CHAT, recordings("openai", "chat_completions_nonstream_tools.yaml")[0])
    with fake:
        yield fake


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


@pytest.fixture
def fresh_server(tmp_path: Path, mailbox: Mailbox) -> Iterator[RubberduckProcess]:
    """A server of its own with the product's account defaults: no accounts yet (the first to register
    becomes the administrator), registration closed after that, e-mail verification required."""
    process = RubberduckProcess(tmp_path / "data", env=mailbox.env(), product_accounts=True).start()
    yield process
    process.stop()


class Steps:
    """What the browser journey asks of the world outside the browser."""

    def __init__(self, mailbox: Mailbox, upstream: FakeUpstream) -> None:
        self.mailbox = mailbox
        self.upstream = upstream
        self.handlers: dict[str, Callable[..., dict[str, Any]]] = {
            "mail_token": self.mail_token,
            "sdk_calls": self.sdk_calls,
            "sdk_replay_miss": self.sdk_replay_miss,
            "port_closed": self.port_closed,
        }

    def mail_token(self, to: str, subject: str, page: str) -> dict[str, Any]:
        count = sum(subject in str(m.message["subject"]) for m in self.mailbox.messages(to))
        mail = self.mailbox.wait_for(to, subject, count=max(count, 1))
        return {"token": mail.token(page)}

    def sdk_calls(self, port: int, count: int, expect: str, namespace: str | None = None) -> dict[str, Any]:
        # A namespace goes in the base URL, as a suite whose SDK cannot add headers would put it.
        prefix = f"/_ns/{namespace}" if namespace else ""
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}{prefix}/v1", api_key="sk-e2e", max_retries=0
        )
        before = self.upstream.count("POST", CHAT)
        caches = []
        for _ in range(count):
            params: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
            if expect == "429":
                with pytest.raises(openai.RateLimitError):
                    client.chat.completions.create(**params)
                continue
            raw = client.chat.completions.with_raw_response.create(**params)
            caches.append(raw.headers["x-rubberduck-cache"])
        if expect == "ok":
            assert caches == ["miss"] + ["hit"] * (count - 1)
            assert self.upstream.count("POST", CHAT) == before + 1  # the hit never reached the provider
        else:
            assert self.upstream.count("POST", CHAT) == before  # the simulated 429 did not either
        return {"caches": caches}

    def sdk_replay_miss(self, port: int, content: str) -> dict[str, Any]:
        """In replay mode a request that was not recorded fails at once with the provider's own 404 (which
        the SDK does not retry: it keeps its default retries here), explains itself, and never reaches the
        provider."""
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-e2e")
        before = self.upstream.count("POST", CHAT)
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
            )
        error = caught.value
        message = str(error)
        assert error.status_code == 404
        assert error.code == "replay_miss" and error.type == "replay_miss", (error.code, error.type)
        assert "replay_miss" in message and "messages[0].content" in message, message
        # The field-level diff against the nearest recording (the journey's "Hi"), values shortened.
        assert f'messages[0].content: recorded "Hi" ≠ sent "{content}"' in message, message
        assert self.upstream.count("POST", CHAT) == before  # replay mode never contacted the provider
        return {"message": message, "key": error.response.headers.get("x-rubberduck-cache-key", "")}

    def port_closed(self, port: int) -> dict[str, Any]:
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        return {}

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.pop("op")
        try:
            return {"ok": True, **self.handlers[op](**request)}
        # BaseException: pytest.raises reports a miss with an exception outside the Exception tree.
        except BaseException as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _publish(shots: Path) -> None:
    """Replace test-output/e2e with this run's screenshots (or leave them where they are if another run
    got there first)."""
    shutil.rmtree(OUTPUT, ignore_errors=True)
    try:
        shots.rename(OUTPUT)
    except OSError:
        pass


def test_web_ui_journey(fresh_server: RubberduckProcess, upstream: FakeUpstream, mailbox: Mailbox) -> None:
    missing = _prerequisites()
    assert not missing, "make test sets these up; missing: " + ", ".join(missing)
    # Screenshots go to a directory of this run, moved into place at the end: two runs at once (a
    # developer's and the full suite's) must not delete each other's pictures halfway.
    shots = OUTPUT.with_name(f".e2e-{os.getpid()}-{time.monotonic_ns()}")
    shots.mkdir(parents=True)
    steps = Steps(mailbox, upstream)
    env = {
        **os.environ,
        "RD_BASE_URL": fresh_server.url,
        "RD_UPSTREAM_URL": upstream.url,
        "RD_OUTPUT_DIR": str(shots),
        "CHROMIUM": CHROMIUM,
    }
    journey = subprocess.Popen(
        ["node", str(WEB / "e2e" / "journey.mjs")],
        cwd=WEB,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert journey.stdin is not None and journey.stdout is not None
    transcript: list[str] = []
    failures: list[str] = []
    try:
        for line in journey.stdout:
            line = line.rstrip("\n")
            if not line.startswith("@@step "):
                transcript.append(line)
                continue
            request = json.loads(line.removeprefix("@@step "))
            transcript.append(f"step {request}")
            reply = steps.answer(request)
            if not reply["ok"]:
                failures.append(reply["error"])
            journey.stdin.write(json.dumps(reply) + "\n")
            journey.stdin.flush()
        code = journey.wait(timeout=30)
    finally:
        if journey.poll() is None:
            journey.kill()
            journey.wait()
        _publish(shots)
    report = "\n".join(transcript)
    assert not failures, f"{failures}\n{report}\n--- server log ---\n{fresh_server.output()[-4000:]}"
    assert code == 0, f"{report}\n--- server log ---\n{fresh_server.output()[-4000:]}"
    assert "journey passed" in transcript
    screenshots = sorted(p.name for p in OUTPUT.glob("*.png")) or sorted(p.name for p in shots.glob("*.png"))
    for page in (
        "sign-in",
        "register",
        "dashboard",
        "proxy-running",
        "logs-live",
        "recordings-list",
        "recording-entry",
        "recordings-replay-mode",
        "logs-replay-miss",
        "recording-deleted",
        "recordings-namespace-cleared",
        "failure-simulation",
        "settings",
    ):
        assert any(page in name for name in screenshots), (page, screenshots)
