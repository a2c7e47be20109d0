"""The request log under load and under a locked database, against real servers and their SQLite files.

- However fast requests come, each leaves exactly one row: none lost, none doubled.
- A locked database neither fails nor slows a proxied request; the rows are written once the lock goes.
- When the bounded buffer must drop rows, /healthz and /metrics say exactly how many.
- In process: a failed write is retried, and a flush from the API never races the background write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from rubberduck.db.database import Database
from rubberduck.db.migrate import upgrade_to_head
from rubberduck.db.models import RequestLog
from rubberduck.telemetry.logsink import BatchLogWriter
from rubberduck.telemetry.logstore import LogStore, row_time
from rubberduck.telemetry.sqlite_rows import LogRow
from tests.fakes.cassette import recordings
from tests.fakes.upstream import FakeUpstream
from tests.support import Api, RubberduckProcess, proxy_url

CHAT = "/v1/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "durable?"}]}
LOAD_REQUESTS = 10_000
LOAD_CONCURRENCY = 32
LOCK_SECONDS = 3.0
# Far below the lock time: a request that waited on the database would take the whole lock time.
FAST_ENOUGH = 0.5
# Several flush intervals (0.2 s): a row written late, or a second time, would show up within this.
SETTLE_SECONDS = 1.0
METRICS_TOKEN = "durability-metrics-token"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.add("POST", CHAT, recordings("openai", "chat_completions_nonstream_tools.yaml")[0])
    with upstream:
        yield upstream


def database_file(process: RubberduckProcess) -> Path:
    return process.data_dir / "rubberduck.db"


def row_count(database: Path, proxy_id: int) -> int:
    # A separate reader: with WAL it sees committed rows even while another connection holds the write lock.
    with contextlib.closing(sqlite3.connect(database, timeout=5)) as db:
        found = db.execute("SELECT count(*) FROM request_logs WHERE proxy_id = ?", (proxy_id,)).fetchone()
    return int(found[0])


def settled_count(database: Path, proxy_id: int, expected: int, timeout: float = 30.0) -> int:
    """The row count once it reached `expected` (or the time ran out) and then stayed put for a while."""
    deadline = time.monotonic() + timeout
    while row_count(database, proxy_id) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(SETTLE_SECONDS)
    return row_count(database, proxy_id)


@contextlib.contextmanager
def locked(database: Path) -> Iterator[None]:
    """Hold SQLite's write lock, as a backup, a migration or a second process writing would."""
    holder = sqlite3.connect(database, timeout=1, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


def health(process: RubberduckProcess) -> dict[str, Any]:
    response = httpx.get(process.url + "/healthz", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def timed_hits(url: str, count: int, spread_over: float) -> list[float]:
    """`count` cache hits spaced evenly over `spread_over` seconds; returns each one's duration."""
    durations: list[float] = []
    with httpx.Client(timeout=10) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = client.post(url, json=BODY)
            durations.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            assert response.headers["x-rubberduck-cache"] == "hit"
            time.sleep(spread_over / count)
    return durations


async def blast(port: int, count: int, concurrency: int) -> Counter[tuple[int, str]]:
    """Send `count` requests over `concurrency` keep-alive connections, each next one as soon as one returns.

    Bare HTTP/1.1 on asyncio streams: httpx spends ~20x more CPU per request and, on two cores shared
    with the server, would measure the client rather than push the proxy and its log writer.
    """
    payload = json.dumps(BODY).encode()
    request = (
        f"POST {CHAT} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    outcomes: Counter[tuple[int, str]] = Counter()
    tickets = iter(range(count))  # shared: workers take requests until none are left

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in tickets:
                writer.write(request)
                status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                headers = dict(line.lower().split(": ", 1) for line in lines if line)
                await reader.readexactly(int(headers["content-length"]))
                outcomes[(int(status_line.split()[1]), headers.get("x-rubberduck-cache", ""))] += 1
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def test_ten_thousand_requests_leave_exactly_ten_thousand_rows(tmp_path: Path, fake: FakeUpstream) -> None:
    process = RubberduckProcess(tmp_path / "data").start()
    try:
        api = Api.new_user(process.url, "load@example.com")
        proxy = api.running_proxy("openai", fake.url)
        url = proxy_url(proxy) + CHAT
        assert httpx.post(url, json=BODY, timeout=10).headers["x-rubberduck-cache"] == "miss"

        started = time.monotonic()
        outcomes = asyncio.run(blast(proxy["port"], LOAD_REQUESTS - 1, LOAD_CONCURRENCY))
        elapsed = time.monotonic() - started
        assert outcomes == {(200, "hit"): LOAD_REQUESTS - 1}, outcomes
        print(f"{LOAD_REQUESTS - 1} hits in {elapsed:.1f} s ({(LOAD_REQUESTS - 1) / elapsed:.0f} req/s)")

        assert settled_count(database_file(process), proxy["id"], LOAD_REQUESTS) == LOAD_REQUESTS
        exported = api.http.get("/api/logs/export", params={"format": "json", "proxy_id": proxy["id"]})
        rows = json.loads(exported.content)
        assert len(rows) == LOAD_REQUESTS
        assert len({row["id"] for row in rows}) == LOAD_REQUESTS
        assert Counter(row["cache_status"] for row in rows) == {"hit": LOAD_REQUESTS - 1, "miss": 1}
        assert (health(process)["log_rows_dropped"], health(process)["log_rows_queued"]) == (0, 0)
        assert fake.count("POST", CHAT) == 1
        writers = log_writer_processes(process)
        assert len(writers) == 1  # the rows above came through the server's one writer process
    finally:
        process.stop()
    assert all(not still_running(pid) for pid in writers)  # and it ends with the server


def log_writer_processes(process: RubberduckProcess) -> list[int]:
    """The server's child processes running the SQLite log writer (found through /proc)."""
    assert process.process is not None
    tasks = Path(f"/proc/{process.process.pid}/task").iterdir()  # the thread that started it is its parent
    children = [pid for task in tasks for pid in (task / "children").read_text().split()]
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def still_running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_a_locked_database_neither_fails_nor_slows_requests(
    server: RubberduckProcess, api: Api, fake: FakeUpstream
) -> None:
    proxy = api.running_proxy("openai", fake.url)
    url = proxy_url(proxy) + CHAT
    database = database_file(server)
    assert httpx.post(url, json=BODY, timeout=10).headers["x-rubberduck-cache"] == "miss"
    # The miss's row is appended after its cache entry was stored: from here on hits need no database.
    assert settled_count(database, proxy["id"], 1) == 1
    dropped_before = health(server)["log_rows_dropped"]

    with locked(database):
        locked_at = time.monotonic()
        durations = timed_hits(url, 50, spread_over=LOCK_SECONDS * 0.8)
        assert health(server)["status"] == "ok"  # readers are not blocked by a writer under WAL
        time.sleep(max(0.0, LOCK_SECONDS - (time.monotonic() - locked_at)))
        # The writer really was shut out: not one of the 50 rows could be written yet.
        assert row_count(database, proxy["id"]) == 1

    assert max(durations) < FAST_ENOUGH, f"slowest request took {max(durations):.3f} s"
    assert settled_count(database, proxy["id"], 51) == 51
    assert health(server)["log_rows_dropped"] == dropped_before


def prometheus_value(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} missing from /metrics"
    return float(found.group(1))


def test_a_full_buffer_drops_rows_and_counts_every_one(tmp_path: Path, fake: FakeUpstream) -> None:
    queue_size, sent = 20, 60
    env = {"RUBBERDUCK_LOG_QUEUE_SIZE": str(queue_size), "RUBBERDUCK_METRICS_TOKEN": METRICS_TOKEN}
    process = RubberduckProcess(tmp_path / "data", env=env).start()
    try:
        api = Api.new_user(process.url, "drops@example.com")
        proxy = api.running_proxy("openai", fake.url)
        url = proxy_url(proxy) + CHAT
        database = database_file(process)
        assert httpx.post(url, json=BODY, timeout=10).headers["x-rubberduck-cache"] == "miss"
        assert settled_count(database, proxy["id"], 1) == 1

        with locked(database):
            durations = timed_hits(url, sent, spread_over=LOCK_SECONDS)
            assert row_count(database, proxy["id"]) == 1
        assert max(durations) < FAST_ENOUGH, f"slowest request took {max(durations):.3f} s"

        dropped = health(process)["log_rows_dropped"]
        # The buffer held exactly its size while the database was locked; everything past it was counted.
        assert dropped == sent - queue_size
        assert settled_count(database, proxy["id"], 1 + queue_size) == 1 + queue_size

        scrape = httpx.get(
            process.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
        )
        assert scrape.status_code == 200, scrape.text
        assert prometheus_value(scrape.text, "rubberduck_log_rows_dropped_total") == dropped
        assert prometheus_value(scrape.text, "rubberduck_log_rows_written_total") == 1 + queue_size
        assert httpx.get(process.url + "/metrics", timeout=10).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert httpx.get(process.url + "/metrics", headers=wrong, timeout=10).status_code == 401
    finally:
        process.stop()


# ---- the writer in process, on a real SQLite file ---------------------------------------------------------


def log_row(number: int) -> LogRow:
    return {
        "created_at": time.time(),
        "proxy_id": 1,
        "user_id": None,
        "method": "POST",
        "path": f"/row/{number}",
        "stream": False,
        "status": 200,
        "latency_ms": 1.0,
        "cache_status": "hit",
    }


async def migrated(path: Path, busy_timeout_ms: int | None = None) -> Database:
    database = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade_to_head(database)
    if busy_timeout_ms is not None:
        # Give up on a lock at once instead of after 30 s, so the writer's failure path runs.
        await database.engine.dispose()

        def short_wait(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            cursor.close()

        event.listen(database.engine.sync_engine, "connect", short_wait)
    return database


def stored_paths(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("SELECT path FROM request_logs ORDER BY id")]


async def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_failed_write_is_retried_without_losing_or_doubling_rows(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    database = await migrated(path, busy_timeout_ms=20)
    writer = BatchLogWriter(LogStore(database), queue_size=1000, batch_size=7, flush_seconds=0.02)
    await writer.start()
    try:
        with locked(path):
            for number in range(25):
                writer.append(log_row(number))
            await wait_until(lambda: writer.failed_writes >= 3, timeout=10)
            assert writer.written == 0
        await wait_until(lambda: writer.written == 25, timeout=10)
        await asyncio.sleep(0.2)
        assert stored_paths(path) == [f"/row/{n}" for n in range(25)]
        assert writer.written == 25 and writer.dropped == 0
    finally:
        await writer.stop()
        await database.dispose()


async def test_a_flush_during_a_background_write_neither_fails_nor_doubles(tmp_path: Path) -> None:
    """GET /api/metrics and DELETE /api/logs flush the writer while its own loop may be mid-insert."""
    path = tmp_path / "logs.db"
    database = await migrated(path)
    writer = BatchLogWriter(LogStore(database), queue_size=1000, batch_size=100, flush_seconds=0.02)
    await writer.start()
    try:
        with locked(path):
            for number in range(10):
                writer.append(log_row(number))
            await asyncio.sleep(0.3)  # the loop has taken the 10 rows and waits on the lock
            for number in range(10, 15):
                writer.append(log_row(number))
            flushing = asyncio.create_task(writer.flush())
            await asyncio.sleep(0.3)  # the flush waits too
        await asyncio.wait_for(flushing, timeout=10)
        assert stored_paths(path) == [f"/row/{n}" for n in range(15)]
        await asyncio.sleep(0.2)
        assert writer.written == 15 and writer.failed_writes == 0
    finally:
        await writer.stop()
        await database.dispose()


async def test_a_row_stamped_on_a_whole_second_is_found_by_its_own_cursor(tmp_path: Path) -> None:
    """A page cursor matches `created_at == moment`: the stored text must equal SQLAlchemy's bound text."""
    path = tmp_path / "logs.db"
    database = await migrated(path)
    try:
        row = log_row(0) | {"created_at": 1_700_000_000.0}  # .000000: isoformat() would drop the fraction
        await LogStore(database).insert([row])
        async with database.session() as session:
            same = await session.scalar(select(func.count()).where(RequestLog.created_at == row_time(row)))
        assert same == 1
    finally:
        await database.dispose()


# ---- crashes: kill -9 loses at most the last flush interval; SIGTERM loses nothing ---------------------------

FLUSH_SECONDS = 0.2  # the server's default log_flush_seconds
# What the documented bound allows on top of the flush interval: the write of the batch in flight.
WRITE_MARGIN_SECONDS = 0.3
BURST_SECONDS = 2.0


async def timed_blast(port: int, concurrency: int, done: list[float], stop: asyncio.Event) -> None:
    """Requests over `concurrency` connections until `stop`; the monotonic time of every 200 goes to `done`."""
    payload = json.dumps(BODY).encode()
    request = (
        f"POST {CHAT} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    ).encode() + payload

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not stop.is_set():
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
                assert length is not None
                await reader.readexactly(int(length.group(1)))
                assert head.startswith(b"HTTP/1.1 200 ")
                done.append(time.monotonic())
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the server was killed
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def burst_then(port: int, seconds: float, end: Callable[[], None]) -> tuple[list[float], float]:
    """Blast the proxy from a thread for `seconds`, then call `end` (a kill or a stop) while it goes on."""
    done: list[float] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(timed_blast(port, 16, done, stop),))
    thread.start()
    try:
        time.sleep(seconds)
        assert thread.is_alive() and done, f"{len(done)} answered"
        ended_at = time.monotonic()
        end()
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
    return done, ended_at


def test_kill_9_during_a_burst_loses_at_most_the_last_flush_interval(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    process = RubberduckProcess(tmp_path / "data").start()
    try:
        api = Api.new_user(process.url, "crash@example.com")
        proxy = api.running_proxy("openai", fake.url)
        assert httpx.post(proxy_url(proxy) + CHAT, json=BODY, timeout=10).status_code == 200
        database = database_file(process)
        assert settled_count(database, proxy["id"], 1) == 1
        writers = log_writer_processes(process)
        assert process.process is not None
        server = process.process

        def kill() -> None:
            server.kill()  # SIGKILL: no shutdown code runs
            server.wait()

        done, killed_at = burst_then(proxy["port"], BURST_SECONDS, kill)
        process.process = None
        deadline = time.monotonic() + 10
        while any(still_running(pid) for pid in writers):  # the writer finishes the batch it was sent
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        process.stop()

    restarted = RubberduckProcess(tmp_path / "data").start()
    try:
        assert health(restarted)["status"] == "ok"
        stored = row_count(database, proxy["id"]) - 1
    finally:
        restarted.stop()
    bound = killed_at - FLUSH_SECONDS - WRITE_MARGIN_SECONDS
    old_enough = sum(1 for at in done if at < bound)
    recent = sum(1 for at in done if at >= killed_at - FLUSH_SECONDS)
    lag = killed_at - sorted(done)[stored - 1] if 0 < stored <= len(done) else float("nan")
    print(
        f"oldest unsaved answer came {lag:.3f} s before the kill; "
        f"answered {len(done)}, stored {stored}, lost {len(done) - stored}; {recent} answered in the last flush interval"
    )
    assert stored >= old_enough
    assert stored <= len(done) + 16  # rows of requests whose answer was cut off by the kill, at most one each


def test_sigterm_during_a_burst_loses_nothing(tmp_path: Path, fake: FakeUpstream) -> None:
    process = RubberduckProcess(tmp_path / "data").start()
    try:
        api = Api.new_user(process.url, "term@example.com")
        proxy = api.running_proxy("openai", fake.url)
        assert httpx.post(proxy_url(proxy) + CHAT, json=BODY, timeout=10).status_code == 200
        database = database_file(process)
        done, _ = burst_then(proxy["port"], BURST_SECONDS, process.stop)
    finally:
        process.stop()
    stored = row_count(database, proxy["id"]) - 1
    assert len(done) <= stored <= len(done) + 16
