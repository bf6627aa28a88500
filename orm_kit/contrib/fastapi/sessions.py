"""The database of a FastAPI application: lifespans, the request's ambient session, and the
acting user of a request."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from orm_kit.context import acting_as
from orm_kit.database import Database, get_database, init_database
from orm_kit.exceptions import DatabaseUnavailableError

__all__ = [
    "STATE_KEY",
    "SessionDep",
    "actor_dependency",
    "get_session",
    "lifespan",
    "make_lifespan",
    "request_database",
]

STATE_KEY = "orm_kit_database"
"""The key of the lifespan state (``request.state``) that holds the application's database."""

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Mapping[str, Any]]]


def make_lifespan(db: Database) -> Lifespan:
    """Return a lifespan that connects ``db`` at start-up and disconnects it at shutdown.

    Requests of the application then use ``db`` (``get_session``, ``health_router``),
    whether it is the default database or not. A ``db`` already connected when the
    application starts is left connected at shutdown: whoever connected it owns it.

    Example:
        ```python
        db = Database("postgresql+asyncpg://app@localhost/app")
        app = FastAPI(lifespan=make_lifespan(db))
        ```
    """

    @asynccontextmanager
    async def database_lifespan(app: FastAPI) -> AsyncIterator[Mapping[str, Any]]:
        owned = not db.is_connected
        if owned:
            await db.connect()
        try:
            yield {STATE_KEY: db}
        finally:
            if owned:
                await db.disconnect()

    return database_lifespan


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[Mapping[str, Any]]:
    """Connect the default database from the settings (``DATABASE_URL`` ...) for the
    application's lifetime: ``FastAPI(lifespan=lifespan)``.

    If a default database is already connected (a test connected one, or the
    application's own start-up code did), it is used and left connected at shutdown.
    """
    try:
        db = get_database()
    except DatabaseUnavailableError:
        db = await init_database()
        try:
            yield {STATE_KEY: db}
        finally:
            await db.disconnect()
        return
    yield {STATE_KEY: db}


def request_database(request: Request) -> Database:
    """The database of ``request``: the one of the application's lifespan, else the default.

    Raises:
        DatabaseUnavailableError: The application has no lifespan database and no default
            database is connected.
    """
    db = getattr(request.state, STATE_KEY, None)
    return db if isinstance(db, Database) else get_database()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Open the request's unit of work and make its session the ambient one.

    Manager calls in the endpoint (``await User.objects.create(...)``) run in this session
    whether or not the endpoint takes the session as a parameter. Use it through
    ``SessionDep`` (or ``Depends(get_session, scope="function")``): the function scope is
    what makes the commit run when the endpoint returns, before the response is sent, so
    a commit that fails (a unique value found only at commit) reaches the exception
    handlers and becomes the mapped error response instead of a 2xx. An exception from
    the endpoint rolls the session back. Background tasks run after the response, when the
    session is closed and no longer ambient: their manager calls use autocommit or a
    session of their own.

    Yields:
        The request's ``AsyncSession``.
    """
    db = request_database(request)
    async with db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
"""The request's ambient session: ``async def create(payload: ..., session: SessionDep)``.
Committed when the endpoint returns, before the response is sent."""

ActorFn = Callable[[Request], object | Awaitable[object]]


def actor_dependency(fn: ActorFn) -> Callable[[Request], AsyncIterator[str | None]]:
    """Return a dependency that runs the request as the actor ``fn(request)`` returns.

    Inside the request, ``acting_as(actor)`` is in force, so ``AuditMixin`` fills
    ``created_by`` / ``updated_by`` with ``str(actor)`` (``None`` leaves them empty). It
    stays in force until the response is sent — through the commit of ``SessionDep``,
    whichever order the endpoint declares them in, and in the request's background tasks.

    Args:
        fn: Takes the ``Request`` and returns the actor (a user id, a name ...); may be
            async. Raise ``HTTPException(401)`` in it to refuse anonymous requests.

    Returns:
        A dependency whose value is the actor as recorded (``str`` or ``None``).

    Example:
        ```python
        current_user = actor_dependency(lambda request: request.headers.get("x-user"))
        app = FastAPI(dependencies=[Depends(current_user)])
        ```
    """

    async def acting_user(request: Request) -> AsyncIterator[str | None]:
        actor = fn(request)
        if inspect.isawaitable(actor):
            actor = await actor
        with acting_as(actor) as recorded:
            yield recorded

    acting_user.__name__ = f"actor_{getattr(fn, '__name__', 'dependency')}"
    return acting_user
