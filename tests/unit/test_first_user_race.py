"""Two registrations racing for "first account" on an empty database: one superuser, never two.

In-process on purpose: every coroutine reaches the "is anyone registered?" check before any insert,
which is the interleaving that HTTP timing only produces now and then.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from fastapi import HTTPException
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from sqlalchemy import select, text
from starlette.requests import Request

from rubberduck.auth.email import ConsoleMailer, Outbox
from rubberduck.auth.policy import PolicyStore
from rubberduck.auth.schemas import UserCreate
from rubberduck.auth.users import AccountHooks, UserManager
from rubberduck.db.database import Database
from rubberduck.db.migrate import upgrade_to_head
from rubberduck.db.models import User
from rubberduck.faults.stages import GlobalIPFilter
from rubberduck.settings import Settings


async def test_racing_first_registrations_make_one_superuser(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'race.db'}")
    await upgrade_to_head(database)
    settings = Settings(data_dir=tmp_path, require_verification=False)
    hooks = AccountHooks(
        PolicyStore(settings, database, GlobalIPFilter()), Outbox(ConsoleMailer()), "http://x"
    )
    request = Request({"type": "http", "method": "POST", "path": "/api/auth/register", "headers": []})

    async def register(index: int) -> bool:
        async with database.session() as session:
            manager = UserManager(SQLAlchemyUserDatabase(session, User), "secret", hooks)
            try:
                await manager.create(
                    UserCreate(email=f"u{index}@example.com", password="long-enough-1"), True, request
                )
            except HTTPException as exc:
                assert exc.detail == "REGISTRATION_CLOSED"
                return False
            return True

    async def touch() -> None:
        async with database.session() as session:
            await session.execute(text("select 1"))
            await asyncio.sleep(0.05)

    try:
        # Open the pool's connections first, so that no registration is still connecting while
        # another one already inserts.
        await asyncio.gather(*(touch() for _ in range(5)))
        created = await asyncio.gather(*(register(index) for index in range(5)))
        assert sum(created) == 1
        async with database.session() as session:
            users = (await session.scalars(select(User))).all()
        assert [user.is_superuser for user in users] == [True]
        assert isinstance(users[0].id, uuid.UUID)
    finally:
        await database.dispose()
