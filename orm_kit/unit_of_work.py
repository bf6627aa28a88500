"""The unit of work: orm_kit's session class, opening / committing / rolling back a
session, savepoints, and ``on_commit`` callbacks.

The lowest part of the session layer: it knows sessions, not databases, models or
queries. Rules that must hold in a session (``orm_kit.hooks``) listen for events on
``OrmKitSession`` from above.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from orm_kit.context import _current_session, bind_session, is_foreign
from orm_kit.exceptions import (
    DatabaseUnavailableError,
    ValidationError,
    note_failed_cleanup,
    raw_use,
    translate_error,
)

__all__ = [
    "DELETED_OPTION",
    "OrmKitAsyncSession",
    "OrmKitSession",
    "Pin",
    "SessionSource",
    "clean_up_after",
    "in_savepoint",
    "keeping_first_error",
    "on_commit",
    "outer_on_session",
    "run_unit_of_work",
    "savepoint",
]

DELETED_OPTION = "orm_kit_deleted"
"""Execution option: ``"hide"`` (default), ``"include"`` or ``"only"`` rows that model
rules hide (soft-deleted rows)."""


class OrmKitSession(Session):
    """The synchronous session class behind orm_kit's ``AsyncSession`` objects."""


class OrmKitAsyncSession(AsyncSession):
    """The ``AsyncSession`` of ``db.session()``, ``db.new_session()`` and
    ``db.sessionmaker``: SQLAlchemy's, except that its statement methods, used directly
    (``await session.execute(text(...))``), raise orm_kit errors where they fail — inside
    the block, so ``except DatabaseError:`` there catches them — with SQLAlchemy's
    exception on ``__cause__``."""


def _raising_orm_kit_errors(name: str, operation: str) -> None:
    method = getattr(AsyncSession, name)

    @functools.wraps(method)
    async def wrapper(self: AsyncSession, *args: Any, **kwargs: Any) -> Any:
        with raw_use(operation):
            return await method(self, *args, **kwargs)

    setattr(OrmKitAsyncSession, name, wrapper)


for _name in (
    "execute", "scalar", "scalars", "get", "get_one", "stream", "stream_scalars",
    "flush", "refresh", "merge", "delete", "run_sync",
):  # fmt: skip
    _raising_orm_kit_errors(_name, "a statement in the session")
_raising_orm_kit_errors("commit", "commit")


ResultT = TypeVar("ResultT")
EnteredT = TypeVar("EnteredT")


async def clean_up_after(failure: BaseException, cleanup: Awaitable[object]) -> None:
    """Await ``cleanup`` (a rollback, a close) while ``failure`` is on its way out.

    The cleanup runs to its end even when the task is cancelled (again) meanwhile — a
    timeout inside a timeout, a cancelled request whose handler was already unwinding: a
    rollback cut off half-way leaves the transaction open and its locks held ("idle in
    transaction" on PostgreSQL, the write lock on SQLite). The cancellation is re-raised
    once the cleanup is done.

    When the connection died under the work (the server ended it, the network went), the
    rollback fails too ("cannot call Transaction.rollback(): the underlying connection is
    closed"). That error says nothing about what happened, so it must not replace
    ``failure``: it is noted on ``failure`` instead (``note_failed_cleanup``), and the
    caller re-raises ``failure``. SQLAlchemy has invalidated the dead connection by then,
    which returns it to the pool.
    """
    task = asyncio.ensure_future(cleanup)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True  # finish the cleanup first
        except Exception:  # read from the task below
            pass
    if cancelled:
        raise asyncio.CancelledError
    if task.cancelled():
        raise asyncio.CancelledError
    exc = task.exception()
    if exc is not None and exc is not failure:  # (an exit re-raises the block's error)
        note_failed_cleanup(failure, exc)


@asynccontextmanager
async def keeping_first_error(
    manager: AbstractAsyncContextManager[EnteredT],
) -> AsyncIterator[EnteredT]:
    """``async with manager:`` whose exit cannot replace the block's error with its own
    (see ``clean_up_after``): a connection or transaction on a connection that may die."""
    entered = await manager.__aenter__()
    try:
        yield entered
    except BaseException as failure:
        await clean_up_after(
            failure, manager.__aexit__(type(failure), failure, failure.__traceback__)
        )
        raise
    await manager.__aexit__(None, None, None)


class _Pinnable(Protocol):
    _pin: Pin | None


class Pin:
    """The one connection a ``Database`` runs everything on while pinned (``with
    db._pinned(connection):``, the hook of ``orm_kit.testing``): its sessions join the
    connection's transaction with SAVEPOINTs (a commit releases one) and each direct
    statement runs in a SAVEPOINT, so rolling the connection back undoes all of it. One
    event loop, one task at a time.
    """

    def __init__(self, owner: _Pinnable, connection: AsyncConnection) -> None:
        self._owner, self._connection = owner, connection
        self._loop = asyncio.get_running_loop()

    def __enter__(self) -> Pin:
        if self._owner._pin is not None:
            raise ValidationError(f"{self._owner!r} is already pinned to a connection.")
        self._owner._pin = self
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._owner._pin = None

    def connection(self) -> AsyncConnection:
        """The pinned connection, refused from another event loop than the pinning one."""
        if asyncio.get_running_loop() is not self._loop:
            raise DatabaseUnavailableError(
                f"{self._owner!r} is pinned to a connection of another event loop: orm_kit's "
                "orm_session fixture runs in the event loop of the test that uses it, so run "
                "the fixtures that use the database in that loop too (give them the test's "
                "loop_scope, or set asyncio_default_fixture_loop_scope and "
                "asyncio_default_test_loop_scope to the same scope)."
            )
        return self._connection


def in_savepoint(conn: Connection, fn: Callable[[Connection], ResultT]) -> ResultT:
    """Run ``fn(conn)`` inside a SAVEPOINT, rolled back if it raises."""
    with conn.begin_nested():
        return fn(conn)


class SessionSource(Protocol):
    """Anything that opens new sessions (a ``Database``)."""

    def new_session(self) -> AsyncSession: ...


OnCommitCallback = Callable[[], Awaitable[Any] | Any]
_CALLBACKS = "orm_kit_on_commit"


def _callback_stack(session: AsyncSession) -> list[list[OnCommitCallback]]:
    stack: list[list[OnCommitCallback]] = session.info.setdefault(_CALLBACKS, [[]])
    return stack


async def _run_callbacks(callbacks: list[OnCommitCallback]) -> None:
    for callback in callbacks:
        outcome = callback()
        if inspect.isawaitable(outcome):
            await outcome


@asynccontextmanager
async def run_unit_of_work(db: SessionSource) -> AsyncIterator[AsyncSession]:
    """Open a session on ``db``, make it ambient, commit on success, roll back on error.

    ``on_commit`` callbacks registered inside run after the commit, never after a rollback.
    Driver errors leave the block translated into orm_kit errors.
    """
    session = db.new_session()
    callbacks: list[OnCommitCallback] = []
    try:
        with bind_session(session):
            try:
                yield session
            except SQLAlchemyError as exc:  # raw SQLAlchemy use inside the block
                await clean_up_after(exc, session.rollback())
                raise translate_error(exc, operation="a statement in the session") from exc
            except BaseException as exc:
                await clean_up_after(exc, session.rollback())
                raise
            try:
                await session.commit()
            except SQLAlchemyError as exc:
                await clean_up_after(exc, session.rollback())
                raise translate_error(exc, operation="commit") from exc
            except BaseException as exc:
                await clean_up_after(exc, session.rollback())
                raise
            callbacks = _callback_stack(session)[0]
    except BaseException as exc:
        session.info.pop(_CALLBACKS, None)
        await clean_up_after(exc, session.close())
        raise
    session.info.pop(_CALLBACKS, None)
    try:
        await session.close()
    except SQLAlchemyError as exc:
        raise translate_error(exc, operation="closing the session") from exc
    await _run_callbacks(callbacks)


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    stack = _callback_stack(session)
    stack.append([])
    try:
        async with keeping_first_error(session.begin_nested()):
            yield session
    except SQLAlchemyError as exc:
        stack.pop()
        raise translate_error(exc, operation="savepoint") from exc
    except BaseException:
        stack.pop()
        raise
    inner = stack.pop()
    stack[-1].extend(inner)


@asynccontextmanager
async def outer_on_session(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    callbacks: list[OnCommitCallback] = []
    with bind_session(session):
        try:
            async with keeping_first_error(session.begin()):
                yield session
        except SQLAlchemyError as exc:
            session.info.pop(_CALLBACKS, None)
            raise translate_error(exc, operation="commit") from exc
        except BaseException:
            session.info.pop(_CALLBACKS, None)
            raise
        callbacks = session.info.pop(_CALLBACKS, [[]])[0]
    await _run_callbacks(callbacks)


def on_commit(callback: OnCommitCallback) -> None:
    """Run ``callback`` after the outermost transaction commits.

    Callbacks registered inside a savepoint that rolls back are dropped; outside any
    transaction the callback runs at once (as Django does in autocommit). Async callbacks
    are awaited; call ``on_commit`` from sync code only with a sync callback outside a
    transaction.
    """
    session = _current_session.get()
    if session is not None and is_foreign(session):
        session = None
    if session is None:
        outcome = callback()
        if inspect.isawaitable(outcome):
            raise TypeError(
                "on_commit() got an async callback outside a transaction; await it directly "
                "or register it inside `async with transaction():`."
            )
        return
    _callback_stack(session)[-1].append(callback)
