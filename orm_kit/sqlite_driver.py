"""SQLite through aiosqlite with one trip to the driver's thread per statement.

aiosqlite runs each sqlite3 call on a thread of its own, and every call is a round trip
to that thread and back through the event loop. SQLAlchemy's aiosqlite adapter makes four
of them for a statement (create the cursor, execute, fetch the rows, close the cursor) and
one for each COMMIT or ROLLBACK: five for a single INSERT ... RETURNING outside a
transaction, where the work itself takes a few microseconds. The adapter here is
SQLAlchemy's with three changes:

- a statement runs in one trip: the cursor is created, executed, read to the end and
  closed on the driver's thread, and the description, rows, rowcount and lastrowid come
  back together (``execute`` and ``executemany``);
- a transaction's BEGIN (orm_kit's ``begin`` listener, orm_kit/dialects.py, hands it to
  ``defer_begin``) is sent in the same trip as the transaction's first statement, just
  before it, rather than in a trip of its own;
- COMMIT and ROLLBACK are skipped when the connection has no transaction open and no
  call of ours is still queued or running on its thread. orm_kit hands transaction
  control to SQL (``isolation_level = None``: BEGIN is sent explicitly), so outside a
  transaction sqlite3's commit() and rollback() do nothing; reading ``in_transaction``
  (sqlite3_get_autocommit, which sqlite3 allows from any thread, whatever
  ``check_same_thread``) on the event loop's thread answers the same question without
  the trip.

A read of the raw path (``orm_kit.raw_path``: a cached SELECT outside any transaction)
may skip the trip altogether and run on the event loop's thread (``run_inline``), where
the statement takes microseconds and the trip tens of them, but only when that cannot
block the loop or disturb the driver's thread: nothing of ours is queued or running on
that thread, no transaction is open, the connection was opened without sqlite3's
same-thread check (orm_kit opens it so unless the user says otherwise), and the
statement neither waits for a lock (the busy timeout is 0 for it) nor takes more than
``INLINE_BUDGET`` seconds of CPU time (a progress handler interrupts it). A read that would wait or
that was interrupted runs again on the driver's thread, as any other statement: it has
changed nothing. A statement shape interrupted once always takes the thread.

A write of the raw path (a single INSERT, UPDATE or DELETE outside a transaction) may run
inline too, on the same conditions, and only where its commit cannot wait for the disk
(``commits_cannot_wait``: an in-memory database, ``PRAGMA synchronous=OFF``, or a file
on tmpfs; elsewhere the commit's fsync takes milliseconds, far more than the trip, and
must not block the loop). It runs as ``BEGIN IMMEDIATE``, the statement, ``COMMIT``: an
interrupt while SQLite hands back an autocommit statement's RETURNING rows lets its change
stand (measured: the change is made before the first row comes back), so the statement
runs in an explicit transaction that is rolled back, changing nothing, whenever it did
not run to its end; the progress handler is off for the COMMIT.

Everything else (server-side cursors for ``iterator()``, which get the deferred BEGIN in a
trip of its own first; errors, closing, terminating) is
SQLAlchemy's. The engine gets it as its DBAPI module (``create_async_engine(module=)``),
so URLs, ``engine.dialect`` and everything users see stay ``sqlite+aiosqlite``.
"""

from __future__ import annotations

import collections
import os
import re
import sqlite3
from collections.abc import Sequence
from threading import Thread
from time import thread_time
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import immutabledict
from sqlalchemy.util.concurrency import await_

__all__ = [
    "BUSY",
    "INLINE",
    "INLINE_BUDGET",
    "INLINE_WRITES",
    "LONG",
    "OneTripConnection",
    "OneTripCursor",
    "commits_cannot_wait",
    "is_one_trip_dbapi",
    "one_trip_dbapi",
    "run_statement",
]

_Outcome = tuple[Any, Sequence[Any], int, int | None]

INLINE = True
"""Whether raw-path statements may run on the event loop's thread (``run_inline``);
tests set it ``False`` to compare with the driver's thread."""
INLINE_WRITES = True
"""Whether raw-path writes may run there too, where their commits cannot wait for the
disk (``commits_cannot_wait``); tests set it ``False`` to compare."""
INLINE_BUDGET = 0.001
"""Seconds of the event loop thread's CPU time a statement may take there before it is
interrupted and sent to the driver's thread instead."""
_INLINE_STEPS = 1000  # virtual-machine instructions between two looks at the clock
_WAITS = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_RESETS = frozenset({"ATTACH", "DETACH", "PRAGMA"})
BUSY: Any = object()
"""``run_inline``'s answer when the statement would have had to wait for a lock."""
LONG: Any = object()
"""``run_inline``'s answer when the statement ran past ``INLINE_BUDGET`` and was
interrupted."""


_MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
_MOUNTS = "/proc/self/mounts"  # (tests point it at a table of their own)


def commits_cannot_wait(conn: sqlite3.Connection) -> bool:
    """Whether no commit on ``conn`` can wait for the disk: every database it has open
    (``main`` and any attached; ``temp`` is never synced) is in memory, on tmpfs or ramfs,
    or has ``PRAGMA synchronous=OFF``."""
    for _seq, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "temp" or not file:
            continue
        quoted = '"' + name.replace('"', '""') + '"'
        (synchronous,) = conn.execute(f"PRAGMA {quoted}.synchronous").fetchone()
        if synchronous == 0:
            continue
        if not os.path.exists(file):
            # A memdb database (orm_kit's in-memory URLs) names a file that is not on disk.
            (journal,) = conn.execute(f"PRAGMA {quoted}.journal_mode").fetchone()
            if journal == "memory":
                continue
            return False
        if _filesystem_of(file) not in _MEMORY_FILESYSTEMS:
            return False
    return True


def _filesystem_of(file: str) -> str | None:
    """The type of the filesystem ``file`` is on, from the mount table (Linux), or
    ``None`` where that cannot be told."""
    path = os.path.realpath(file)
    best, kind = "", None
    try:
        with open(_MOUNTS, encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                # The mount table escapes spaces and the like as octal (\040).
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, fields[2]
    except OSError:
        return None
    return kind


def run_statement(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool, begin: str | None = None
) -> _Outcome:
    """On the driver's thread: the whole life of one cursor (after ``begin``, a deferred
    BEGIN: if it fails, the statement is not run)."""
    if begin is not None:
        conn.execute(begin).close()
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else ()
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement runs in one trip to the driver's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: OneTripConnection) -> None:
        # No driver cursor is made here (that was a trip of its own): one is made, used
        # and closed on the driver's thread for each statement.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = immutabledict()
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # the driver cursor was closed with its statement

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        return self._run(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        return self._run(operation, seq_of_parameters, many=True)

    def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        try:
            await_(self._run_async(operation, parameters, many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run_async(self, operation: Any, parameters: Any, many: bool) -> None:
        adapt = self._adapt_connection
        assert isinstance(adapt, OneTripConnection)
        outcome = await adapt.run(operation, parameters, many)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    def nextset(self) -> None:
        return None  # sqlite3 runs one statement per execute: there is no next set

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None  # as sqlite3's: ignored


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection, with one-trip cursors and no trip for a COMMIT
    or ROLLBACK that has nothing to end."""

    __slots__ = ("_begin", "_done", "_no_waits", "_sent", "inline_ok")
    _cursor_cls = OneTripCursor  # type: ignore[assignment]  # (a subclass of it)

    def __init__(
        self, dbapi: Any, connection: aiosqlite.Connection, *, inline_ok: bool = False
    ) -> None:
        super().__init__(dbapi, connection)  # type: ignore[arg-type]  # (as SQLAlchemy's)
        # Calls of ours sent to the driver's thread and calls finished there: each count
        # is written by one thread only (sent: the event loop's; done: the driver's).
        self._sent = 0
        self._done = 0
        self._begin: str | None = None  # a BEGIN to send with the next statement
        # Opened without sqlite3's same-thread check: statements may run inline.
        self.inline_ok = inline_ok
        # commits_cannot_wait() of the connection, once asked; None again after an
        # ATTACH, DETACH or PRAGMA, which may change it.
        self._no_waits: bool | None = None

    def run_inline(self, operation: str, parameters: Any, write: bool = False) -> Any:
        """Run the read (or with ``write``, the single write) ``operation`` on the calling
        (event loop's) thread and return its outcome, or ``None`` when it may not run there
        now, ``BUSY`` when it would have had to wait for a lock, ``LONG`` when it was
        interrupted for running past ``INLINE_BUDGET``: then it changed nothing, and the
        caller sends it to the driver's thread (see the module docstring)."""
        if not (INLINE and self.inline_ok) or self._begin is not None or self._done != self._sent:
            return None
        if self._execute_mutex.locked():
            return None
        conn = self._connection._connection
        if conn is None or conn.in_transaction:
            return None
        if write:
            if not INLINE_WRITES:
                return None
            if self._no_waits is None:
                self._no_waits = commits_cannot_wait(conn)
            if not self._no_waits:
                return None
        # CPU time of this thread: a read preempted by other processes is not long.
        deadline = thread_time() + INLINE_BUDGET
        waits = conn.execute("PRAGMA busy_timeout")
        (timeout,) = waits.fetchone()
        waits.close()
        conn.execute("PRAGMA busy_timeout = 0").close()
        try:
            if write:
                conn.execute("BEGIN IMMEDIATE").close()
            conn.set_progress_handler(lambda: thread_time() > deadline, _INLINE_STEPS)
            outcome = run_statement(conn, operation, parameters, False)
            conn.set_progress_handler(None, 0)
            if write:
                conn.execute("COMMIT").close()
            return outcome
        except sqlite3.OperationalError as error:
            code = getattr(error, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in _WAITS:
                return BUSY
            if code is not None and code & 0xFF == sqlite3.SQLITE_INTERRUPT:
                return LONG
            raise
        finally:
            conn.set_progress_handler(None, 0)
            if conn.in_transaction:  # the write did not run to its end: nothing of it stays
                conn.execute("ROLLBACK").close()
            conn.execute(f"PRAGMA busy_timeout = {int(timeout)}").close()

    def defer_begin(self, sql: str) -> None:
        """Send ``sql`` (``BEGIN`` / ``BEGIN IMMEDIATE``) just before the next statement,
        in the same trip to the driver's thread; a COMMIT or ROLLBACK before any statement
        drops it (the transaction never started, so it has nothing to end)."""
        self._begin = sql

    async def run(self, operation: str, parameters: Any, many: bool) -> _Outcome:
        """Run one statement in one trip (after the deferred BEGIN, if there is one)."""
        if self._no_waits is not None and operation.lstrip()[:6].upper() in _RESETS:
            self._no_waits = None  # (an attached database, another synchronous setting)
        async with self._execute_mutex:
            begin, self._begin = self._begin, None
            return await self.on_driver_thread(  # type: ignore[no-any-return]
                run_statement, self._connection._conn, operation, parameters, many, begin
            )

    def cursor(self, server_side: bool = False) -> Any:
        if server_side and self._begin is not None:
            # SQLAlchemy's server-side cursor runs its statement through aiosqlite's own
            # cursor, past run(): the BEGIN goes first, in a trip of its own.
            begin, self._begin = self._begin, None
            try:
                await_(self.run(begin, None, False))
            except Exception as error:
                self._handle_exception(error)
        return super().cursor(server_side)

    async def on_driver_thread(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the driver's thread, counted (see ``_nothing_to_end``).

        The call and its outcome travel in lists that are emptied once used: aiosqlite's
        thread keeps its last job and result referenced until the next one arrives, which
        held a read's raw rows (or an ``executemany``'s parameters) alive for as long as
        the connection stayed idle in the pool.
        """
        self._sent += 1
        job: list[Any] = [fn, args]
        box: list[Any] = await self._connection._execute(self._counted, job)
        return box.pop()

    def _counted(self, job: list[Any]) -> list[Any]:
        try:
            fn, args = job
            job.clear()
            return [fn(*args)]
        finally:
            self._done += 1

    def _nothing_to_end(self) -> bool:
        """True when no transaction is open and none of our calls is queued or running
        (a call still on its way could open one: a cancelled caller's BEGIN)."""
        driver = self._connection
        if driver._connection is None:
            return True  # closed: SQLAlchemy's adapter skips the call too
        return self._done == self._sent and not driver._connection.in_transaction

    def commit(self) -> None:
        self._end("commit")

    def rollback(self) -> None:
        self._end("rollback")

    def _end(self, how: str) -> None:
        """sqlite3's ``commit()`` or ``rollback()``, on the driver's thread if there is a
        transaction to end."""
        self._begin = None  # a BEGIN still deferred: the transaction never started
        if self._nothing_to_end():
            return
        try:
            await_(self.on_driver_thread(getattr(self._connection._conn, how)))
        except Exception as error:
            self._handle_exception(error)


class _OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI shim, connecting with ``OneTripConnection``."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        creator_fn = kw.pop("async_creator_fn", None)
        inline_ok = False
        if creator_fn:
            connection = creator_fn(*arg, **kw)
        else:
            # Statements may run on the event loop's thread (run_inline), never at the same
            # time as the driver's: unless the user asked for the check, it is left off.
            inline_ok = kw.setdefault("check_same_thread", False) is False
            connection = self.aiosqlite.connect(*arg, **kw)
            # As SQLAlchemy's: the driver's thread must not keep the process alive.
            thread = connection if isinstance(connection, Thread) else connection._thread
            thread.daemon = True
        return OneTripConnection(self, await_(connection), inline_ok=inline_ok)


def is_one_trip_dbapi(dbapi: object) -> bool:
    """Whether ``dbapi`` (an engine's DBAPI module) is ``one_trip_dbapi()``'s."""
    return isinstance(dbapi, _OneTripDbapi)


def one_trip_dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to give ``create_async_engine(module=)`` for sqlite+aiosqlite."""
    return _OneTripDbapi(aiosqlite, sqlite3)
