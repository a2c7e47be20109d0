from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from rubberduck.db.database import Database
from rubberduck.db.migrate import upgrade_to_head
from rubberduck.telemetry.logstore import LogStore
from rubberduck.telemetry.retention import RetentionTask

DAY = 86400.0


def row(age_days: float) -> dict[str, object]:
    return {
        "created_at": time.time() - age_days * DAY,
        "proxy_id": 1,
        "user_id": None,
        "method": "POST",
        "path": "/v1/chat/completions",
        "stream": False,
        "status": 200,
        "latency_ms": 1.0,
        "cache_status": "miss",
    }


def test_rows_older_than_the_retention_are_purged_and_the_setting_is_read_live(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    days: list[int | None] = [None]

    async def scenario() -> tuple[int, int, int]:
        database = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade_to_head(database)
        store = LogStore(database)
        await store.prepare()
        await store.insert([row(40), row(10), row(0.1)])
        task = RetentionTask(database, lambda: days[0])
        first = await task.purge_once()  # no retention configured: keep everything
        days[0] = 30
        second = await task.purge_once()
        days[0] = 1
        third = await task.purge_once()
        await database.dispose()
        return first, second, third

    assert asyncio.run(scenario()) == (0, 1, 1)
    with sqlite3.connect(path) as db:
        assert db.execute("select count(*) from request_logs").fetchone() == (1,)
