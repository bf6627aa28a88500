"""What orm_kit sets up on each backend's connections (SQLite's, for now).

SQLite needs the most: the ``sqlite3`` module's own transaction handling is switched off so
``BEGIN``, ``SAVEPOINT`` and autocommit behave as on a server, foreign keys are switched on,
file databases use WAL journaling, ``lower()`` folds Unicode as PostgreSQL's does, and a
unit of work takes the write lock up front.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

__all__ = ["DIRECT_OPTION", "UNIT_OF_WORK_OPTION", "set_up_sqlite"]

DIRECT_OPTION = "orm_kit_direct"
"""Execution option of the direct path's engine: single statements in autocommit."""
UNIT_OF_WORK_OPTION = "orm_kit_unit_of_work"
"""Execution option of the units of work's engine (on SQLite: ``BEGIN IMMEDIATE``)."""


def set_up_sqlite(engine: Engine, *, wal: bool) -> None:
    """Install orm_kit's SQLite connection set-up on ``engine`` (``wal``: file databases)."""
    event.listen(engine, "connect", _on_connect)
    if wal:
        event.listen(engine, "connect", _wal)
    event.listen(engine, "begin", _begin)
    event.listen(engine, "invalidate", _roll_back_and_close)


def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # NOTE(sqlite): take transaction control away from the sqlite3 module so that BEGIN,
    # SAVEPOINT and autocommit statements behave as on a server database.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # NOTE(sqlite): the built-in lower() folds ASCII letters only, so iexact / icontains
    # would match 'Émile' for 'émile' on PostgreSQL but not here; Python's folds Unicode.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _wal(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _begin(conn: Connection) -> None:
    # NOTE(sqlite): the direct path runs single statements without BEGIN (autocommit).
    # Units of work take the write lock up front (BEGIN IMMEDIATE): a deferred transaction
    # that reads and then writes fails at once with "database is locked" when another
    # connection writes meanwhile, instead of waiting for the busy timeout.
    options = conn.get_execution_options()
    if options.get(DIRECT_OPTION):
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(UNIT_OF_WORK_OPTION) else "BEGIN")


def _roll_back_and_close(
    dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry, _exc: BaseException | None
) -> None:
    # NOTE(sqlite): a task cancelled while a statement runs makes SQLAlchemy invalidate the
    # connection and close it with no ROLLBACK. sqlite3 closes with sqlite3_close_v2, which
    # keeps a connection whose cursor is still alive (the cancelled task's traceback holds
    # it, in a reference cycle) as a "zombie" that keeps its transaction, and so the write
    # lock, until the garbage collector frees that cursor: meanwhile every other writer
    # gets "database is locked". So the transaction is rolled back first, and the close is
    # waited for to its end even through a second cancellation (the last connection of a
    # WAL database checkpoints as it closes, holding the lock meanwhile); SQLAlchemy's own
    # close that follows finds the connection closed.
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is None or not in_greenlet():
        # Outside the event loop (the garbage collector closing it) there is no way to
        # wait; the close that follows ends the transaction then.
        return
    with contextlib.suppress(Exception):  # the connection is going whatever happens
        await_only(_to_the_end(_end(driver)))


async def _end(driver: Any) -> None:
    try:
        await driver.rollback()
    finally:
        await driver.close()


async def _to_the_end(work: Awaitable[object]) -> None:
    """Await ``work`` to its end even if the task is cancelled (again) meanwhile, then
    leave the task cancelled."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = not task.done() or cancelled
        except Exception:
            break
    if cancelled and (current := asyncio.current_task()) is not None:
        # The cancellation goes on once the connection is closed: re-requested with the
        # task's count of requests unchanged, so an asyncio.timeout() still recognises its
        # own and raises TimeoutError.
        current.uncancel()
        current.cancel()
    task.result()
