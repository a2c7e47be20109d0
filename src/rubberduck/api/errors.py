"""Error answers common to the whole API.

FastAPI's 422 answer, made safe for any input (Python's JSON parser accepts NaN and Infinity); and a 503 when
the database cannot be reached, so a client learns at once what is wrong instead of waiting or getting a 500.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from rubberduck.db.database import POOL_TIMEOUT_SECONDS, DatabaseUnavailable


def _finite(value: Any) -> Any:
    """The value with every non-finite float spelled as JSON's parser read it ("NaN", "Infinity")."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """The default handler's shape; the default one fails with a 500 when it echoes a NaN input."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(status_code=422, content={"detail": _finite(jsonable_encoder(errors))})


async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DatabaseUnavailable):
        reason = exc.reason
    else:  # the pool had no free connection in time: the server is too slow or connections are stuck
        reason = f"no connection became free within {POOL_TIMEOUT_SECONDS:g} s"
    return JSONResponse(
        status_code=503,
        content={"detail": f"The database is unavailable: {reason}"},
        headers={"Retry-After": "1"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(DatabaseUnavailable, database_unavailable)
    app.add_exception_handler(PoolTimeoutError, database_unavailable)
