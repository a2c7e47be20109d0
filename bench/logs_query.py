"""Log API pages with one million rows: each filter the UI offers, timed through a real server.

Builds a temp data dir (migrations; three users made with `rubberduck user create`; their proxies made
through the API), inserts 1,000,000 request_logs rows spread over 30 days in the formats the log writer
stores, restarts `rubberduck serve` on it and times GET /api/logs per filter as the heaviest user: the
first call, then p50 and max of several more, next to the 200 ms target. Then SQLite's plan for each
query. Numbers, not a test.

    .venv/bin/python bench/logs_query.py [--rows 1000000] [--runs 7] [--keep] [--smoke]

`--smoke` runs every step on a few thousand rows (the test suite does, so the bench cannot rot).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, and_, create_engine, event, func, or_, select

from rubberduck.api.logfilters import LogFilters
from rubberduck.api.logs import _decode_cursor
from rubberduck.db.database import Database
from rubberduck.db.migrate import upgrade_to_head
from rubberduck.db.models import RequestLog
from rubberduck.telemetry.sqlite_rows import LogRow, chunk_rows, insert_statements, sqlite_values

TARGET_MS = 200.0
DAYS = 30
PASSWORD = "bench-logs-password"
CHUNK = 50_000
# Each user's proxies, busiest first: provider and its models with weights.
PROXY_KINDS = [
    ("openai", {"gpt-4o-mini": 45, "gpt-4o": 20, "gpt-4.1": 15, "o3-mini": 5, "text-embedding-3-small": 15}),
    ("anthropic", {"claude-sonnet-4-20250514": 60, "claude-3-5-haiku-20241022": 40}),
    ("gemini", {"gemini-2.5-flash": 70, "gemini-2.5-pro": 30}),
    ("openai", {"gpt-4o-mini": 80, "gpt-4o": 20}),
]
PROXY_WEIGHTS = [50, 25, 15, 10]
USER_WEIGHTS = [60, 30, 10]
# Simulated faults per 1000 requests, with the status each answers (None: the usual upstream status).
FAULTS = [(None, None, 970), ("error_429", 429, 12), ("error_503", 503, 6), ("timeout_delay", None, 4),
          ("rate_limit", 429, 4), ("error_500", 500, 3), ("timeout_hang", 499, 1)]  # fmt: skip
UPSTREAM_STATUSES = {200: 960, 400: 10, 429: 10, 500: 6, 502: 4, 499: 4, 401: 6}


@dataclass
class BenchUser:
    email: str
    id: uuid.UUID
    proxies: list[tuple[int, str, dict[str, int]]] = field(default_factory=list)  # (id, provider, models)
    token: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(data_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "RUBBERDUCK_FIRST_PROXY_PORT": str(free_port())}
    command = [sys.executable, "-m", "rubberduck", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    with (data_dir / "server.log").open("ab") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rubberduck did not start; see {data_dir / 'server.log'}")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def login(url: str, user: BenchUser) -> None:
    response = httpx.post(url + "/api/auth/jwt/login", data={"username": user.email, "password": PASSWORD})
    response.raise_for_status()
    user.token = response.json()["access_token"]


async def migrate(url: str) -> None:
    database = Database(url)
    await upgrade_to_head(database)
    await database.dispose()


def set_up_accounts(data_dir: Path) -> list[BenchUser]:
    asyncio.run(migrate(f"sqlite+aiosqlite:///{(data_dir / 'rubberduck.db').resolve()}"))
    users = []
    for name in ("alice", "bob", "carol"):
        created = subprocess.run(
            [sys.executable, "-m", "rubberduck", "user", "create", "--email", f"{name}@example.com",
             "--password", PASSWORD, "--data-dir", str(data_dir)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        found = re.search(r"\(([0-9a-f-]{36})\)", created)
        assert found, created
        users.append(BenchUser(f"{name}@example.com", uuid.UUID(found.group(1))))
    with serve(data_dir) as url:
        for user in users:
            login(url, user)
            for number, (provider, models) in enumerate(PROXY_KINDS):
                made = httpx.post(
                    url + "/api/proxies",
                    json={"name": f"{provider} {number}", "provider": provider},
                    headers={"Authorization": f"Bearer {user.token}"},
                )
                made.raise_for_status()
                user.proxies.append((made.json()["id"], provider, models))
    return users


def generate(users: list[BenchUser], count: int, seed: int = 7) -> Iterator[list[LogRow]]:
    """Rows in time order with ascending ids, as the writer assigns them, in chunks of log rows."""
    rng = random.Random(seed)
    now = time.time()
    moments = sorted(rng.uniform(now - DAYS * 86400, now) for _ in range(count))
    faults = rng.choices(FAULTS, weights=[weight for *_, weight in FAULTS], k=count)
    statuses = rng.choices(list(UPSTREAM_STATUSES), weights=list(UPSTREAM_STATUSES.values()), k=count)
    owners = rng.choices(users, weights=USER_WEIGHTS, k=count)
    ranks = rng.choices(range(len(PROXY_KINDS)), weights=PROXY_WEIGHTS, k=count)
    keys = [rng.randbytes(32).hex() for _ in range(20_000)]  # hits repeat the keys of earlier misses
    chunk: list[LogRow] = []
    for index in range(count):
        proxy_id, provider, models = owners[index].proxies[ranks[index]]
        model = rng.choices(list(models), weights=list(models.values()))[0]
        embedding = "embedding" in model
        fault, fault_status, _ = faults[index]
        status = fault_status or statuses[index]
        early = fault_status is not None  # simulated errors answer before the cache is consulted
        cache = "bypass" if early else rng.choices(("hit", "miss", "bypass"), (55, 43, 2))[0]
        ok = 200 <= status < 300
        upstream_ms = None if cache == "hit" or early else rng.lognormvariate(6.5, 0.8)
        latency = (upstream_ms or rng.uniform(0.4, 3.0)) + rng.uniform(0.2, 1.5)
        tokens_in = rng.randint(20, 4000) if ok else None
        tokens_out = (0 if embedding else rng.randint(1, 900)) if ok else None
        cost = (tokens_in or 0) * 2.5e-6 + (tokens_out or 0) * 1e-5 if ok else None
        if provider == "anthropic":
            path = "/v1/messages"
        elif provider == "gemini":
            path = f"/v1beta/models/{model}:generateContent"
        else:
            path = "/v1/embeddings" if embedding else "/v1/chat/completions"
        row = {
            "id": index + 1, "created_at": moments[index],  # epoch seconds, as requests hand them over
            "proxy_id": proxy_id, "user_id": owners[index].id, "client_ip": f"10.0.0.{index % 7 + 1}",
            "method": "POST", "path": path, "operation": "embeddings" if embedding else "chat",
            "model": model, "stream": not embedding and rng.random() < 0.4, "status": status,
            "latency_ms": latency, "upstream_ms": upstream_ms, "ttfb_ms": latency * 0.6 if ok else None,
            "cache_status": cache, "cache_key": None if early else keys[rng.randrange(len(keys))],
            "fault": fault, "input_tokens": tokens_in, "output_tokens": tokens_out,
            "cached_tokens": 0 if ok else None,
            "cost_usd": (0.0 if cache == "hit" else cost) if ok else None,
            "saved_usd": (cost if cache == "hit" else 0.0) if ok else None,
            "error": None if ok else f"upstream answered {status}",
        }  # fmt: skip
        chunk.append(row)
        if len(chunk) == CHUNK or index == count - 1:
            yield chunk
            chunk = []


def insert(database: Path, users: list[BenchUser], count: int) -> float:
    started = time.monotonic()
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA cache_size=-262144")  # this connection only: keep the index pages in memory
        db.execute("BEGIN")
        rows_per_statement = chunk_rows()
        for chunk in generate(users, count):
            # The log writer's own statements and conversion: the same stored formats.
            for sql, parameters in insert_statements(sqlite_values(chunk), rows_per_statement):
                db.execute(sql, parameters)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.monotonic() - started


def cases(user: BenchUser, client: httpx.Client) -> list[tuple[str, dict[str, Any]]]:
    now = datetime.now(UTC)
    busiest, quietest = user.proxies[0][0], user.proxies[-1][0]
    day = now - timedelta(days=10)
    week = (now - timedelta(days=7)).isoformat()
    # A cursor as the UI gets it after paging back 20 days (asked here with `until` to get there at once).
    deep = client.get("/api/logs", params={"until": (now - timedelta(days=20)).isoformat()}).json()
    return [
        ("no filter", {}),
        ("no filter, limit=500", {"limit": 500}),
        ("proxy_id (busiest)", {"proxy_id": busiest}),
        ("proxy_id (quietest)", {"proxy_id": quietest}),
        ("status=5xx", {"status": "5xx"}),
        ("status=429", {"status": "429"}),
        ("cache_status=hit", {"cache_status": "hit"}),
        ("cache_status=bypass", {"cache_status": "bypass"}),
        ("model=gpt-4o", {"model": "gpt-4o"}),
        ("model=gemini-2.5-pro", {"model": "gemini-2.5-pro"}),
        ("fault=error_429", {"fault": "error_429"}),
        ("fault=error_500 (rare)", {"fault": "error_500"}),
        ("fault=none", {"fault": "none"}),
        ("since 24h", {"since": (now - timedelta(days=1)).isoformat()}),
        ("one day, 10 days ago", {"since": day.isoformat(), "until": (day + timedelta(days=1)).isoformat()}),
        ("one hour, 10 days ago", {"since": day.isoformat(), "until": (day + timedelta(hours=1)).isoformat()}),
        ("proxy_id + status=5xx", {"proxy_id": busiest, "status": "5xx"}),
        ("model + miss + 7 days", {"model": "gpt-4o", "cache_status": "miss", "since": week}),
        ("cursor 20 days deep", {"cursor": deep["next_cursor"]}),
        ("cursor 20 days deep, 5xx", {"cursor": deep["next_cursor"], "status": "5xx"}),
        ("model matching nothing", {"model": "no-such-model"}),
        ("status matching nothing", {"status": "404"}),
    ]  # fmt: skip


def timed(client: httpx.Client, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = client.get("/api/logs", params=params)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, dict(response.json())


def follow_cursor(client: httpx.Client, pages: int) -> list[float]:
    """Pages 2..pages+1 with no filter, each asked with the cursor the page before handed out."""
    cursor = client.get("/api/logs").json()["next_cursor"]
    times = []
    for _ in range(pages):
        elapsed, body = timed(client, {"cursor": cursor})
        times.append(elapsed)
        cursor = body["next_cursor"]
    return times


def statement(user: BenchUser, params: dict[str, Any]) -> Any:
    """The list route's query, built as api/logs.py builds it."""
    when = {k: datetime.fromisoformat(params[k]) for k in ("since", "until") if k in params}
    names = ("proxy_id", "status", "cache_status", "fault", "model")
    filters = LogFilters(**{k: params[k] for k in names if k in params}, **when)
    query = select(RequestLog).where(*filters.clauses(user.id))
    if "cursor" in params:
        moment, ident = _decode_cursor(params["cursor"])
        query = query.where(
            RequestLog.created_at <= moment,  # as the route adds it: lets SQLite seek to the cursor
            or_(RequestLog.created_at < moment, and_(RequestLog.created_at == moment, RequestLog.id < ident)),
        )
    order = (RequestLog.created_at.desc(), RequestLog.id.desc())
    return query.order_by(*order).limit(int(params.get("limit", 50)) + 1)


def plan_and_matches(engine: Engine, user: BenchUser, params: dict[str, Any]) -> tuple[str, int]:
    """SQLite's plan for exactly the SQL and parameters SQLAlchemy sends: inlined literals plan differently."""
    query = statement(user, params)
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((sql, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.connect() as connection:
            connection.execute(query).all()
            counted = select(func.count()).select_from(query.order_by(None).limit(None).subquery())
            matches = int(connection.execute(counted).scalar_one())
            sql, parameters = sent[0]
            steps = [row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters)]
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return "; ".join(steps), matches


def verdict(times: list[float]) -> str:
    p50, worst = statistics.median(times), max(times)
    under = "yes" if worst < TARGET_MS else ("p50 only" if p50 < TARGET_MS else "NO")
    return f"{p50:>8.1f} {worst:>8.1f}  {under}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir")
    parser.add_argument("--smoke", action="store_true", help="every step on 3,000 rows, one run each")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.runs = 3_000, 1
    workdir = Path(tempfile.mkdtemp(prefix="rubberduck-logs-bench-"))
    data_dir, database = workdir / "data", workdir / "data" / "rubberduck.db"
    data_dir.mkdir()
    try:
        users = set_up_accounts(data_dir)
        seconds = insert(database, users, args.rows)
        size = database.stat().st_size / 2**20
        print(f"inserted {args.rows:,} rows in {seconds:.1f} s; database {size:.0f} MiB")
        user = users[0]
        results = []
        with serve(data_dir) as url:
            login(url, user)
            headers = {"Authorization": f"Bearer {user.token}"}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                for label, params in cases(user, client):
                    first, body = timed(client, params)
                    runs = [timed(client, params)[0] for _ in range(args.runs)]
                    results.append((label, params, first, runs, len(body["items"])))
                pages = [t for _ in range(args.runs) for t in follow_cursor(client, 10)]
        engine = create_engine(f"sqlite:///file:{database}?mode=ro&uri=true")
        print(
            f"GET /api/logs as {user.email}; first call, then p50/max of {args.runs}; target {TARGET_MS:.0f} ms"
        )
        print(
            f"{'filter':28} {'matches':>8} {'items':>5} {'first ms':>9} {'p50 ms':>8} {'max ms':>8}  <200 ms?"
        )
        plans = []
        for label, params, first, runs, items in results:
            plan, matches = plan_and_matches(engine, user, params)
            plans.append((label, plan))
            print(f"{label:28} {matches:>8,} {items:>5} {first:>9.1f} {verdict(runs)}")
        print(f"{f'next pages 2-11 (x{args.runs})':28} {'':>8} {50:>5} {'':>9} {verdict(pages)}")
        engine.dispose()
        print("\nSQLite's plan per filter (EXPLAIN QUERY PLAN of the SQL and parameters SQLAlchemy sends):")
        for label, plan in plans:
            print(f"  {label:28} {plan}")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
