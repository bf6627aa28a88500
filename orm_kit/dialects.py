"""What orm_kit sets up on each backend's connections: SQLite's most, MariaDB / MySQL's
session settings (see ``mysql_connect_args``).

SQLite needs the most: the ``sqlite3`` module's own transaction handling is switched off so
``BEGIN``, ``SAVEPOINT`` and autocommit behave as on a server, foreign keys are switched on,
file databases use WAL journaling, ``lower()`` folds Unicode as PostgreSQL's does, and a
unit of work takes the write lock up front. An in-memory database is a named ``memdb``
database kept alive by a connection of its own (``keep_memory_database``), so that a
working connection closed or invalidated (a cancelled statement) loses nothing committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import weakref
from collections.abc import Awaitable
from typing import Any
from uuid import uuid4

from sqlalchemy import MetaData, Table, event
from sqlalchemy.engine import URL, Connection, Dialect, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import CompileError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

__all__ = [
    "CACHED_OPTION",
    "DIRECT_OPTION",
    "MYSQL_SQL_MODE",
    "RECEIVE_CHUNK",
    "UNIT_OF_WORK_OPTION",
    "MemoryConnection",
    "compile_ddl",
    "is_memory_sqlite",
    "keep_memory_database",
    "memory_database_url",
    "mysql_connect_args",
    "release_memory_database",
    "set_up_asyncpg",
    "set_up_mysql",
    "set_up_sqlite",
]

DIRECT_OPTION = "orm_kit_direct"
"""Execution option of the direct path's engine: single statements in autocommit."""
CACHED_OPTION = "orm_kit_cached"
"""Execution option of a statement built once and run many times with new parameters (the
cached statements of the direct path): ``orm_kit.raw_path`` may run it."""
UNIT_OF_WORK_OPTION = "orm_kit_unit_of_work"
"""Execution option of the units of work's engine (on SQLite: ``BEGIN IMMEDIATE``)."""


MYSQL_SQL_MODE = ",".join(
    (
        "ANSI_QUOTES",
        "STRICT_TRANS_TABLES",
        "STRICT_ALL_TABLES",
        "NO_ZERO_DATE",
        "NO_ZERO_IN_DATE",
        "ERROR_FOR_DIVISION_BY_ZERO",
        "NO_ENGINE_SUBSTITUTION",
        "NO_AUTO_VALUE_ON_ZERO",
    )
)
"""The ``sql_mode`` of orm_kit's MariaDB / MySQL sessions: a value that does not fit its
column (too long, out of range, not a date) is an error rather than a warning and a changed
value, as on PostgreSQL; a division by zero is an error; a missing storage engine is too;
an explicit key of 0 is stored as 0 (without NO_AUTO_VALUE_ON_ZERO it draws a new key).
``"name"`` is an identifier, as in standard SQL, PostgreSQL and SQLite, so raw SQL that
quotes a table name (``text('SELECT * FROM "user"')``) runs on every backend (SQLAlchemy
sees the mode when it connects and quotes with ``"`` too); strings take single quotes.
Backslash escapes stay on: the driver escapes bound values with them."""


def mysql_connect_args(connect_timeout: float) -> dict[str, Any]:
    """asyncmy's ``connect()`` arguments: utf8mb4, the session time zone UTC and
    ``MYSQL_SQL_MODE``, all in the one ``init_command`` the driver sends as it connects.

    NOTE(mysql): the session time zone is what ``NOW()``, ``CURRENT_TIMESTAMP`` and
    conversions of ``TIMESTAMP`` columns use; UTC makes server-side defaults and date parts
    agree with the UTC values orm_kit stores (``orm_kit.types.UTCDateTime``).
    """
    return {
        "charset": "utf8mb4",
        "autocommit": True,  # see set_up_mysql
        "connect_timeout": max(1, round(connect_timeout)),
        "init_command": f"SET time_zone = '+00:00', sql_mode = '{MYSQL_SQL_MODE}'",
    }


def set_up_mysql(engine: Engine) -> None:
    """Install orm_kit's MariaDB / MySQL transaction handling and UUID storage on ``engine``.

    NOTE(mysql): connections stay in autocommit from the moment they connect
    (``mysql_connect_args``), and a transaction is opened explicitly with ``START
    TRANSACTION`` (except on the direct path). SQLAlchemy's own way, a driver connection
    out of autocommit and ``execution_options(isolation_level="AUTOCOMMIT")`` for the
    direct path, costs a round trip at each switch: ``SET AUTOCOMMIT`` at checkout, ``SET
    AUTOCOMMIT``, ``SET SESSION TRANSACTION ISOLATION LEVEL`` and ``COMMIT`` at return and
    a ``ROLLBACK`` — six round trips for a single-row ``get()``. Here it takes one. A
    ``ROLLBACK`` or ``COMMIT`` is sent only when the server's last status says a transaction
    is open. An isolation level (``transaction(isolation_level=...)``) is set with ``SET
    TRANSACTION ISOLATION LEVEL`` before each ``START TRANSACTION`` of the connection that
    asked for it, which concerns that transaction alone: no connection goes back to the
    pool with a session level changed. A statement that ends its transaction (DDL commits it)
    is followed by a new ``START TRANSACTION``.

    NOTE(mysql): SQLAlchemy uses MariaDB's own UUID type from 10.7, which refuses values of
    a variant or version it does not know (any ``uuid.UUID`` is 128 bits a Python program
    may hold) and orders them by their time fields, not as PostgreSQL and SQLite do. The
    dialect learns the server when it first connects, so the choice is made after that.
    """
    dialect: Any = engine.dialect
    initialize = dialect.initialize

    def initialize_without_native_uuid(connection: Connection) -> None:
        initialize(connection)
        dialect.supports_native_uuid = False

    dialect.initialize = initialize_without_native_uuid
    dialect.supports_native_uuid = False

    rollback, commit = dialect.do_rollback, dialect.do_commit
    get_isolation_level = dialect.get_isolation_level
    # The isolation level asked of each connection (execution_options(isolation_level=)),
    # set on its transactions as they begin: "SET TRANSACTION ISOLATION LEVEL" applies to
    # the next transaction only, so there is no session state to put back.
    # (Keyed by the driver's connection: SQLAlchemy passes its adapter or the pool's proxy.)
    levels: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def set_isolation_level(dbapi_connection: Any, level: str) -> None:
        levels[dbapi_connection.driver_connection] = level

    def reset_isolation_level(dbapi_connection: Any) -> None:
        driver = dbapi_connection.driver_connection
        levels.pop(driver, None)
        if dialect._on_connect_isolation_level is not None:  # the engine's own level
            levels[driver] = dialect._on_connect_isolation_level

    def read_isolation_level(dbapi_connection: Any) -> str:
        level = levels.get(dbapi_connection.driver_connection)
        return level if level is not None else str(get_isolation_level(dbapi_connection))

    def do_begin(dbapi_connection: Any) -> None:
        if dbapi_connection.info.pop(_NO_BEGIN, False):
            return
        level = levels.get(dbapi_connection.driver_connection)
        if level == "AUTOCOMMIT":
            return
        cursor = dbapi_connection.cursor()
        if level is not None:
            cursor.execute(f"SET TRANSACTION ISOLATION LEVEL {level}")
        cursor.execute("START TRANSACTION")
        cursor.close()

    def do_rollback(dbapi_connection: Any) -> None:
        if _in_transaction(dbapi_connection):
            rollback(dbapi_connection)

    def do_commit(dbapi_connection: Any) -> None:
        if _in_transaction(dbapi_connection):
            commit(dbapi_connection)

    dialect.do_begin, dialect.do_rollback, dialect.do_commit = do_begin, do_rollback, do_commit
    dialect.set_isolation_level = set_isolation_level
    dialect.reset_isolation_level = reset_isolation_level
    dialect.get_isolation_level = read_isolation_level
    event.listen(engine, "begin", _mysql_begin)

    execute, execute_no_params = dialect.do_execute, dialect.do_execute_no_params

    def begin_again(context: Any) -> None:
        # DDL commits the transaction it runs in (implicitly): open the next one at once,
        # so that what follows is in a transaction as it would be out of autocommit. (In
        # the dialect rather than an engine event: orm_kit's raw path runs only where no
        # statement listener but its own is installed.)
        conn = getattr(context, "root_connection", None)
        if conn is None or not conn.in_transaction():
            return
        if context.execution_options.get(DIRECT_OPTION):
            return
        proxy: Any = conn.connection
        if levels.get(proxy.driver_connection) != "AUTOCOMMIT" and not _in_transaction(proxy):
            begin = proxy.cursor()
            begin.execute("START TRANSACTION")
            begin.close()

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        execute(cursor, statement, parameters, context)
        begin_again(context)

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        execute_no_params(cursor, statement, context)
        begin_again(context)

    dialect.do_execute, dialect.do_execute_no_params = do_execute, do_execute_no_params
    event.listen(engine.pool, "checkin", _drop_last_result)


def _drop_last_result(dbapi_connection: DBAPIConnection | None, _record: object) -> None:
    # NOTE(mysql): asyncmy's connection keeps its last result, every row of it, until the
    # next statement: an idle pooled connection held the whole of its last large read
    # (W5: 110 bytes an object of 5,000). Back in the pool nothing reads it any more (the
    # rows, the row count and the last insert id were taken by then; the transaction
    # status is the connection's own), so it is let go; an unbuffered (streaming) result
    # still being read is left alone.
    driver = getattr(dbapi_connection, "driver_connection", None)
    result = getattr(driver, "_result", None)
    if result is not None and not getattr(result, "unbuffered_active", False):
        driver._result = None  # type: ignore[union-attr]


_NO_BEGIN = "orm_kit_no_begin"


def _mysql_begin(conn: Connection) -> None:
    # The direct path's statements run in autocommit: its do_begin sends nothing. (Set on
    # every begin, so a begin that failed half-way leaves no stale mark for the next.)
    conn.connection.info[_NO_BEGIN] = bool(conn.get_execution_options().get(DIRECT_OPTION))


def _in_transaction(dbapi_connection: Any) -> bool:
    """Whether the server may have a transaction open on ``dbapi_connection``: it is out of
    autocommit, or its last status said a transaction is open (only ``START TRANSACTION``
    opens one in autocommit, and its reply sets that status)."""
    driver: Any = getattr(dbapi_connection, "driver_connection", None)
    try:
        return not driver.get_autocommit() or bool(driver.get_transaction_status())
    except Exception:  # not asyncmy's connection, or one gone: as SQLAlchemy would
        return True


def compile_ddl(metadata: MetaData, dialect: Dialect) -> None:
    """Compile the ``CREATE TABLE`` / ``CREATE INDEX`` of every table of ``metadata`` for
    ``dialect``, sending nothing: a ``CompileError`` (a ``String`` without the length
    MariaDB / MySQL's ``VARCHAR`` needs, a deferrable foreign key there) then comes before
    any table is made or dropped."""
    for table in metadata.sorted_tables:
        if dialect.name == "mysql":
            _refuse_deferrable(table)
        CreateTable(table).compile(dialect=dialect)
        for index in table.indexes:
            CreateIndex(index).compile(dialect=dialect)


def _refuse_deferrable(table: Table) -> None:
    # NOTE(mysql): SQLAlchemy writes DEFERRABLE / INITIALLY into MySQL's DDL, which the
    # server rejects as a syntax error only when that table's CREATE arrives (the tables
    # before it already made: MySQL commits each DDL statement).
    for fk in table.foreign_key_constraints:
        if fk.deferrable is not None or fk.initially is not None:
            columns = ", ".join(repr(c.name) for c in fk.columns)
            raise CompileError(
                f"(in table {table.name!r}, the foreign key on {columns}) MariaDB / MySQL "
                "checks foreign keys at once and has no DEFERRABLE or INITIALLY: leave "
                "deferrable= and initially= off the ForeignKey for this database"
            )


RECEIVE_CHUNK = 64 * 1024
"""PostgreSQL on asyncpg: the most one read takes from a connection's socket (bytes)."""


def set_up_asyncpg(engine: Engine) -> None:
    """Cap what each asyncpg connection of ``engine`` reads from its socket at a time."""
    event.listen(engine, "connect", _smaller_reads)


def _smaller_reads(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # NOTE(postgresql): asyncpg's read buffer keeps the last two chunks it was handed
    # until more data arrives, and asyncio's socket transport reads up to 256 KiB at a
    # time: after a large read an idle pooled connection held up to 512 KiB (W5: 90 bytes
    # an object of 5,000). With 64 KiB reads it holds at most 128 KiB; the rows cost the
    # same to decode. A transport without the setting (uvloop's) is left as it is.
    driver = getattr(dbapi_connection, "driver_connection", None)
    transport = getattr(driver, "_transport", None)
    size = getattr(transport, "max_size", None)
    if type(size) is int and size > RECEIVE_CHUNK:
        transport.max_size = RECEIVE_CHUNK  # type: ignore[union-attr]


def is_memory_sqlite(url: URL) -> bool:
    """Whether ``url`` is an in-memory SQLite database (``:memory:``, no file name, or a URI
    filename with ``mode=memory`` / the ``memdb`` VFS)."""
    if url.get_backend_name() != "sqlite":
        return False
    query = url.query
    return (
        (url.database or "") in ("", ":memory:")
        or query.get("mode") == "memory"
        or query.get("vfs") == "memdb"
        or "mode=memory" in (url.database or "")
    )


def memory_database_url(url: URL) -> URL:
    """The URL the engine of the in-memory database ``url`` connects to.

    ``:memory:`` is private to one connection, so a pool of connections (or a connection
    replaced after a cancellation invalidated it) would see an empty database. So
    ``:memory:`` (and a URI filename whose memory database is private anyway, one without
    ``cache=shared``) becomes a database of SQLite's ``memdb`` VFS, named uniquely for this
    engine (two ``Database(":memory:")`` objects stay two databases): every connection to
    the name sees the same database, and it lives while one connection is open
    (``keep_memory_database``). Unlike a shared-cache database, connections to it take
    ordinary locks, which the busy timeout waits on. A URL with ``cache=shared`` or
    ``vfs=memdb`` of its own is kept as it is.
    """
    query = url.query
    if query.get("cache") == "shared" or query.get("vfs") == "memdb":
        return url
    kept = {k: v for k, v in query.items() if k not in ("mode", "cache", "vfs", "uri")}
    return url.set(
        database=f"file:/orm_kit_{uuid4().hex}",
        query={**kept, "vfs": "memdb", "uri": "true"},
    )


_keepers: weakref.WeakKeyDictionary[Engine, sqlite3.Connection] = weakref.WeakKeyDictionary()


def keep_memory_database(engine: Engine) -> None:
    """Open the connection that keeps ``engine``'s in-memory database alive until
    ``release_memory_database``: closing (or invalidating) a working connection then loses
    nothing but that connection's uncommitted transaction. It never runs a statement, so
    it holds no lock, and a plain ``sqlite3`` connection, so it belongs to no event loop."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    _keepers[engine] = sqlite3.connect(
        args[0], uri=bool(kwargs.get("uri", False)), check_same_thread=False
    )
    event.listen(engine.pool, "close", _roll_back_before_close)
    event.listen(engine.pool, "close_detached", _roll_back_before_close)


def _roll_back_before_close(dbapi_connection: DBAPIConnection, *_: object) -> None:
    # NOTE(sqlite): closing a sqlite3 connection whose statement a cursor still holds (a
    # statement cancelled mid-way, its cursor kept alive by the CancelledError's traceback)
    # leaves a "zombie" connection that keeps its open transaction, and its lock, until
    # the cursor is garbage collected: the in-memory database stays locked for everyone
    # else. So a ROLLBACK is queued on aiosqlite's worker thread ahead of the close (after
    # the statement still running there, if any). aiosqlite has no public hook for this.
    # A cursor's unfinished SELECT keeps a read lock the same way: the cursors are closed
    # first (MemoryConnection tracks them).
    aio = getattr(dbapi_connection, "driver_connection", None)
    raw = getattr(aio, "_connection", None)
    queue = getattr(aio, "_tx", None)
    if isinstance(raw, sqlite3.Connection) and queue is not None:
        if isinstance(raw, MemoryConnection):
            queue.put_nowait((None, raw.close_cursors))
        queue.put_nowait((None, raw.rollback))


class MemoryConnection(sqlite3.Connection):
    """The ``sqlite3`` connection class of in-memory databases (``factory=``): it knows
    the cursors opened with ``cursor()`` (as SQLAlchemy's aiosqlite adapter opens them), so
    that they can be closed before the connection is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cursors: weakref.WeakSet[sqlite3.Cursor] = weakref.WeakSet()

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        cursor = super().cursor(*args, **kwargs)
        self._cursors.add(cursor)
        return cursor

    def close_cursors(self) -> None:
        """Close every cursor still open (their statements end, releasing their locks)."""
        for cursor in list(self._cursors):
            cursor.close()


def release_memory_database(engine: Engine) -> None:
    """Close ``engine``'s keeper (after ``engine.dispose()``): the in-memory database is
    freed once its last connection closes. Nothing happens for any other engine."""
    keeper = _keepers.pop(engine, None)
    if keeper is not None:
        keeper.close()


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
    sql = "BEGIN IMMEDIATE" if options.get(UNIT_OF_WORK_OPTION) else "BEGIN"
    # orm_kit's aiosqlite adapter (sqlite_driver.OneTripConnection) sends it with the
    # transaction's first statement, in the same trip to the driver's thread.
    defer = getattr(conn.connection.dbapi_connection, "defer_begin", None)
    if defer is not None:
        defer(sql)
    else:
        conn.exec_driver_sql(sql)


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
