"""Resource exhaustion, against a real `rubberduck serve` process (issue 11, item 4).

- Open live log streams hold no database session: fifty of them leave /healthz, the API and proxy cache
  misses answering as usual; each user may hold only so many (429 past the cap), and a closed one frees
  its slot.
- Proxy ports refuse oversized heads (431), declared bodies past the limit (413, at once), malformed
  chunks (400, at once) and stalled or trickling bodies (408), in the provider's format, and nothing is
  left in flight.
- SIGTERM stops every proxy together, under one graceful deadline, however many hold a stuck request.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeResponse, FakeUpstream
from tests.support import Api, RubberduckProcess, proxy_url

CHAT = "/v1/chat/completions"
HANG = "/v1/hang"
STREAM_CAP = 10
USUAL = 2.0  # a generous bound on what normally takes milliseconds; a frozen pool takes 30 s
BODY_IDLE, BODY_TOTAL = 1.0, 2.0  # the trickle below sends every 0.1 s: only the total deadline ends it
GRACEFUL = 3.0
ENV = {
    "RUBBERDUCK_MAX_LIVE_STREAMS_PER_USER": str(STREAM_CAP),
    "RUBBERDUCK_MAX_REQUEST_HEADER_BYTES": "8192",
    "RUBBERDUCK_MAX_REQUEST_BYTES": str(1024 * 1024),
    "RUBBERDUCK_REQUEST_BODY_IDLE_SECONDS": str(BODY_IDLE),
    "RUBBERDUCK_REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_TOTAL),
    "RUBBERDUCK_GRACEFUL_STOP_SECONDS": str(GRACEFUL),
}
_emails = iter(range(10_000))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", CHAT, recordings("openai", "chat_completions_nonstream_tools.yaml")[0])
    upstream.add("POST", HANG, FakeResponse(hang=True))
    with upstream:
        yield upstream


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RubberduckProcess]:
    process = RubberduckProcess(tmp_path_factory.mktemp("limited"), env=ENV).start()
    yield process
    process.stop()


def new_api(server: RubberduckProcess) -> Api:
    return Api.new_user(server.url, f"limits{next(_emails)}@example.com")


def token(api: Api) -> str:
    return str(api.http.headers["authorization"]).removeprefix("Bearer ")


def raw_request(port: int, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head.encode())
    return sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        block = sock.recv(65536)
        if not block:
            break
        data += block
    return data


def read_all(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while block := sock.recv(65536):
            data += block
    return data


# ---- live log streams ----


def open_stream(server: RubberduckProcess, api: Api) -> tuple[socket.socket, int]:
    """A live stream on a raw socket: (socket, status). A 200 is read up to its first event."""
    stream, status, _ = open_stream_reading(server, api)
    return stream, status


def open_stream_reading(server: RubberduckProcess, api: Api) -> tuple[socket.socket, int, bytes]:
    """(socket, status, what was read): a 200 up to its first event, any other answer in full."""
    sock = raw_request(
        server.port,
        f"GET /api/logs/stream?access_token={token(api)} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    data = read_until(sock, b"\r\n\r\n")
    status = int(data.split(b" ", 2)[1])
    if status != 200:
        data += read_all(sock)
    elif b": connected" not in data:
        assert b": connected" in read_until(sock, b": connected")
    return sock, status, data


def cache_miss(proxy: dict[str, Any], n: int) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"miss {n} {time.time()}"}]}
    return httpx.post(proxy_url(proxy) + CHAT, json=body, timeout=30)


def test_fifty_open_live_streams_leave_the_api_and_the_proxies_answering(
    limited: RubberduckProcess, fake: FakeUpstream
) -> None:
    users = [new_api(limited) for _ in range(6)]
    proxy = users[0].running_proxy("openai", fake.url)
    streams: list[socket.socket] = []
    try:
        for index in range(50):  # 9 or 8 per user: each under the cap
            sock, status = open_stream(limited, users[index % len(users)])
            streams.append(sock)
            assert status == 200, f"stream {index} got {status}"
        for attempt in range(3):
            began = time.monotonic()
            assert httpx.get(limited.url + "/healthz", timeout=30).status_code == 200
            assert users[1].http.get("/api/proxies", timeout=30).status_code == 200
            assert cache_miss(proxy, attempt).status_code == 200
            assert time.monotonic() - began < USUAL
    finally:
        for sock in streams:
            sock.close()


def test_live_streams_past_the_cap_get_429_and_a_closed_stream_frees_its_slot(
    limited: RubberduckProcess,
) -> None:
    api, other = new_api(limited), new_api(limited)
    streams = [open_stream(limited, api) for _ in range(STREAM_CAP)]
    try:
        assert [status for _, status in streams] == [200] * STREAM_CAP
        refused, status, answer = open_stream_reading(limited, api)
        assert status == 429
        body = answer.split(b"\r\n\r\n", 1)[1]
        assert set(json.loads(body)) == {"detail"}  # FastAPI's error format
        refused.close()
        extra, status = open_stream(limited, other)  # the cap is per user
        assert status == 200
        extra.close()
        closed, _ = streams.pop()
        closed.close()
        deadline = time.monotonic() + 5
        while True:
            sock, status = open_stream(limited, api)
            if status == 200:
                streams.append((sock, status))
                break
            sock.close()
            assert time.monotonic() < deadline, "a closed stream never gave its slot back"
            time.sleep(0.05)
    finally:
        for sock, _ in streams:
            sock.close()


# ---- proxy ports ----


def in_flight(server: RubberduckProcess) -> int:
    return int(httpx.get(server.url + "/healthz", timeout=10).json()["in_flight_requests"])


def refusal(data: bytes) -> tuple[int, bytes, dict[str, Any]]:
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head.lower(), json.loads(body)


POST = "POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("huge-header", 431),
        ("declared-10-GiB", 413),
        ("bad-chunk", 400),
        ("silent-body", 408),
        ("trickle", 408),
    ],
)
def test_a_proxy_port_refuses_in_the_providers_format_and_leaves_nothing_in_flight(
    limited: RubberduckProcess, fake: FakeUpstream, case: str, status: int
) -> None:
    proxy = new_api(limited).running_proxy("openai", fake.url)
    port = int(proxy["port"])
    began = time.monotonic()
    if case == "huge-header":
        sock = raw_request(port, POST + "X-Big: " + "a" * 100_000 + "\r\nContent-Length: 2\r\n\r\n{}")
    elif case == "declared-10-GiB":
        sock = raw_request(port, POST + "Content-Length: 10737418240\r\n\r\n{")
    elif case == "bad-chunk":
        sock = raw_request(port, POST + "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\nnot-a-size\r\n")
    elif case == "silent-body":
        sock = raw_request(port, POST + "Content-Length: 100\r\n\r\n{")
    else:
        sock = raw_request(port, POST + "Transfer-Encoding: chunked\r\n\r\n")
        stop = threading.Event()

        def trickle() -> None:
            with contextlib.suppress(OSError):
                while not stop.wait(0.1):
                    sock.sendall(b"1\r\n \r\n")

        threading.Thread(target=trickle, daemon=True).start()
    try:
        answered, head, body = refusal(read_all(sock))
    finally:
        if case == "trickle":
            stop.set()
        sock.close()
    waited = time.monotonic() - began
    assert answered == status
    assert b"\r\nconnection: close" in head
    assert set(body) == {"error"} and body["error"]["message"]  # OpenAI's error format
    if status in (431, 413, 400):
        assert waited < BODY_IDLE  # at once, not on a timeout
    elif case == "silent-body":
        assert BODY_IDLE <= waited < BODY_TOTAL
    else:
        assert BODY_TOTAL <= waited < BODY_TOTAL + 3.0
    deadline = time.monotonic() + 5
    while in_flight(limited) != 0:
        assert time.monotonic() < deadline, "a refused request is still counted in flight"
        time.sleep(0.05)
    assert cache_miss(proxy, 0).status_code == 200  # the port still serves


# ---- shutdown ----


def test_sigterm_stops_proxies_with_stuck_requests_together_within_one_deadline(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    """Four proxies each hold a request the upstream never answers, and a live log stream is open (which
    uvicorn would wait on forever): the process still exits after one graceful deadline, not four."""
    process = RubberduckProcess(tmp_path / "data", env=ENV).start()
    sockets: list[socket.socket] = []
    try:
        api = new_api(process)
        proxies = [api.running_proxy("openai", fake.url, name=f"stuck {n}") for n in range(4)]
        for proxy in proxies:
            body = b'{"model": "gpt-4o-mini", "messages": []}'
            head = f"POST {HANG} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            sockets.append(raw_request(int(proxy["port"]), head + f"Content-Length: {len(body)}\r\n\r\n"))
            sockets[-1].sendall(body)
        stream, status = open_stream(process, api)
        sockets.append(stream)
        assert status == 200
        deadline = time.monotonic() + 10
        while in_flight(process) < len(proxies):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert process.process is not None
        began = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        process.process.wait(timeout=len(proxies) * GRACEFUL + 20)
        stopped_in = time.monotonic() - began
        # Serially, each stuck proxy would add the whole graceful wait: 4 x 3 s.
        assert GRACEFUL * 0.8 < stopped_in < GRACEFUL + 2.5, stopped_in
    finally:
        for sock in sockets:
            sock.close()
        process.stop()
