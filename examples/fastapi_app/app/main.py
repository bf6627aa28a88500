"""The application: `uvicorn app.main:app` (the database is DATABASE_URL)."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from orm_kit import Database
from orm_kit.contrib.fastapi import (
    actor_dependency,
    health_router,
    install_exception_handlers,
    lifespan,
    make_lifespan,
)

from app.api import router


# --8<-- [start:app]
def acting_user(request: Request) -> str | None:
    """Who makes the request; AuditMixin writes it to created_by / updated_by."""
    return request.headers.get("x-user")  # behind a real gateway: the authenticated user


def create_app(db: Database | None = None) -> FastAPI:
    """The application, on DATABASE_URL (connected at start-up) or on ``db``."""
    app = FastAPI(
        title="orm_kit blog",
        lifespan=make_lifespan(db) if db else lifespan,
        dependencies=[Depends(actor_dependency(acting_user))],
    )
    install_exception_handlers(app)  # NotFoundError 404, ConflictError 409, ... as JSON
    app.include_router(health_router)  # GET /health/database
    app.include_router(router)
    return app


app = create_app()
# --8<-- [end:app]
