"""``health_router``: ``GET /health/database`` from ``Database.health()``."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from orm_kit.contrib.fastapi.sessions import request_database
from orm_kit.exceptions import DatabaseUnavailableError

__all__ = ["DatabaseHealth", "health_router"]


class DatabaseHealth(BaseModel):
    """The body of ``GET /health/database`` (the fields of ``HealthStatus``)."""

    healthy: bool
    latency_ms: float | None
    timestamp: datetime
    error: str | None = None


health_router = APIRouter(tags=["health"])
"""Include it with ``app.include_router(health_router)`` (add ``prefix=`` to move it)."""


@health_router.get(
    "/health/database",
    response_model=DatabaseHealth,
    responses={503: {"model": DatabaseHealth, "description": "The database is not healthy"}},
)
async def database_health(request: Request) -> JSONResponse:
    """Run ``SELECT 1`` on the application's database: 200 when it answers, else 503
    (also when no database is connected)."""
    try:
        db = request_database(request)
    except DatabaseUnavailableError:
        db = None
    if db is None or not db.is_connected:
        # Not from the error's message: that names the database's URL.
        health = DatabaseHealth(
            healthy=False,
            latency_ms=None,
            timestamp=datetime.now(UTC),
            error="The database is not connected.",
        )
    else:
        status = await db.health()
        health = DatabaseHealth(
            healthy=status.healthy,
            latency_ms=status.latency_ms,
            timestamp=status.timestamp,
            error=status.error,
        )
    return JSONResponse(health.model_dump(mode="json"), status_code=200 if health.healthy else 503)
