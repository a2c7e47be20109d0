"""The pricing table, and each user's own overrides of it (applied to the cost of later requests)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from rubberduck.auth.users import Auth
from rubberduck.db.database import Database
from rubberduck.db.models import AppSetting, User
from rubberduck.db.settings_store import save_setting
from rubberduck.telemetry.pricing import Price, PricingTable

PREFIX = "pricing:"


class ModelPrice(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    input: float = Field(ge=0, description="USD per 1M input tokens")
    output: float = Field(ge=0, description="USD per 1M output tokens")
    cached: float | None = Field(default=None, ge=0, description="USD per 1M cached input tokens")


class Pricing(BaseModel):
    as_of: str
    unit: str = "USD per 1M tokens"
    models: dict[str, ModelPrice]
    overrides: dict[str, ModelPrice]


def _as_model(price: Price) -> ModelPrice:
    return ModelPrice(input=price.input, output=price.output, cached=price.cached)


async def load_overrides(database: Database, table: PricingTable) -> None:
    async with database.session() as session:
        rows = (await session.scalars(select(AppSetting).where(AppSetting.key.startswith(PREFIX)))).all()
    for row in rows:
        table.set_overrides(
            row.key.removeprefix(PREFIX),
            {name: Price.parse(value) for name, value in dict(row.value).items() if isinstance(value, dict)},
        )


def pricing_router(auth: Auth, database: Database, table: PricingTable) -> APIRouter:
    router = APIRouter(prefix="/api/pricing", tags=["pricing"])

    def view(user: User) -> Pricing:
        mine = table.overrides.get(str(user.id), {})
        return Pricing(
            as_of=table.as_of,
            models={name: _as_model(price) for name, price in sorted(table.prices.items())},
            overrides={name: _as_model(price) for name, price in sorted(mine.items())},
        )

    @router.get("", response_model=Pricing)
    async def get_pricing(user: User = Depends(auth.current_user)) -> Pricing:
        return view(user)

    @router.put("/overrides", response_model=Pricing)
    async def put_overrides(
        overrides: dict[str, ModelPrice], user: User = Depends(auth.current_user)
    ) -> Pricing:
        """Replace the caller's overrides: model name -> prices. An empty object removes them all."""
        stored: dict[str, Any] = {name: price.model_dump() for name, price in overrides.items()}
        await save_setting(database, PREFIX + str(user.id), stored)
        table.set_overrides(str(user.id), {name: Price.parse(value) for name, value in stored.items()})
        return view(user)

    return router
