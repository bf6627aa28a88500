"""``orm_kit.sync``: a thin blocking face over the one async implementation, for scripts and
notebooks. Every call runs on one event loop in a background thread that the facade owns;
a ``with sync.session():`` block runs all of its statements in one task on that loop.

```python
from orm_kit import sync

db = sync.connect("sqlite+aiosqlite:///./app.db")
sync.run(db.create_all())
with sync.session(db):                                  # commit at the end, rollback on error
    sync.run(User.objects.create(email="a@x.io"))
users = sync.run(User.objects.filter(is_active=True))   # list[User]
sync.close()                                            # also runs at interpreter exit
```

How it works:

* **One loop, one thread.** asyncpg connections and the engine's pool belong to the event
  loop that made them, so every call, for every database the facade connects, runs on the
  same loop: a daemon thread started on first use and stopped by ``close()`` (or at exit).
  The caller's thread blocks until the result, or the same exception, comes back. It works
  the same from a plain script and from inside a running event loop (a Jupyter cell).
* **A block is one task.** The ambient session is a ContextVar of the task that opened it,
  and orm_kit refuses a session used by another task. So ``session()`` / ``transaction()``
  start one task that opens the unit of work and then awaits each call the block makes
  (``run()`` inside the block sends it there), in order; nested blocks run in the same
  task (``transaction()`` becomes a SAVEPOINT). The block commits at its end and rolls back
  if an exception leaves it.
* **Context.** Each call sees the caller's ContextVars as they are when it is made, so
  ``with acting_as(user):`` around a call reaches the audit fields.
* **Interrupts and timeouts.** Ctrl-C or ``run(..., timeout=)`` while waiting cancels the
  work, waits until its clean-up is done (session rolled back and closed, connection back
  in the pool), and then raises in the caller. Inside a block that cancels the whole unit
  of work: nothing of the block is committed.

Not for async code that can ``await``: inside an async web handler it blocks the event
loop of the server until the database answers.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from orm_kit.database import Database, get_session
from orm_kit.exceptions import SyncUsageError, ValidationError
from orm_kit.settings import DatabaseSettings
from orm_kit.sync.block import current_block, open_block
from orm_kit.sync.loop import Job, await_outcome, loop_thread, refuse_in_loop_thread
from orm_kit.transaction import transaction as _transaction

__all__ = ["SyncUsageError", "close", "connect", "run", "session", "transaction"]

ResultT = TypeVar("ResultT")


def run(awaitable: Awaitable[ResultT], *, timeout: float | None = None) -> ResultT:
    """Run ``awaitable`` on the facade's event loop and return its result.

    Any orm_kit coroutine or QuerySet (``run(User.objects.filter(a=1))`` is a
    ``list[User]``), or a coroutine of your own. Inside a ``session()`` / ``transaction()``
    block it runs in the block's unit of work; outside one, each call commits on its own.

    Args:
        awaitable: What to await. It must not belong to another event loop (a plain
            coroutine never does; an ``asyncio.Future`` of your loop does).
        timeout: Seconds to wait. When they pass, the work is cancelled (inside a block:
            the whole block, which then commits nothing) and, once its clean-up is done,
            ``TimeoutError`` is raised.

    Returns:
        What awaiting ``awaitable`` returns.

    Raises:
        SyncUsageError: Called from the facade's own loop thread, or inside a block that
            was cancelled.
        TimeoutError: ``timeout`` passed.

    Any exception of the awaitable (an orm_kit error, ``Model.DoesNotExist`` ...) is raised
    in the caller as it is.
    """
    refuse_in_loop_thread("sync.run()", awaitable)
    block = current_block.get()
    if block is not None:
        return block.call(awaitable, timeout)
    loop, thread = loop_thread.get()
    job = Job(loop, awaitable, contextvars.copy_context())
    return await_outcome(job.done, timeout, job.cancel, job.done, thread)


def connect(
    url: str | URL | Database | None = None,
    *,
    name: str | None = None,
    settings: DatabaseSettings | None = None,
    **engine_kwargs: Any,
) -> Database:
    """Connect a ``Database`` on the facade's loop and return it.

    The arguments are ``Database``'s: no ``url`` reads ``DATABASE_URL`` (then the SQLite
    default). A ``Database`` made beforehand may be passed instead, alone. As with
    ``await db.connect()``, the first database connected is the default one. ``close()``
    disconnects it; so does ``run(db.disconnect())``.

    Raises:
        DatabaseUnavailableError: The server cannot be reached.
        ValidationError: A ``Database`` was passed together with other arguments.
    """
    if isinstance(url, Database):
        if name is not None or settings is not None or engine_kwargs:
            raise ValidationError(
                f"sync.connect() got {url!r}, which is already a Database, and other "
                "arguments: give them to Database(...) instead."
            )
        db = url
    else:
        db = Database(url, name=name, settings=settings, **engine_kwargs)
    run(db.connect())
    loop_thread.track(db)
    return db


def session(db: Database | None = None) -> AbstractContextManager[AsyncSession]:
    """Open one unit of work for the block (``db`` or the default database).

    Every ``run()`` inside uses the block's session; the block commits at its end and rolls
    back if an exception leaves it. Nested inside another block of the same database, the
    outer session is reused (as ``db.session()`` does).

    Example:
        ```python
        with sync.session(db) as s:           # s is the AsyncSession
            user = sync.run(User.objects.get(id=1))
            user.name = "Ann"
            sync.run(user.save())
        ```
    """
    if db is None:
        return open_block(get_session, "sync.session()")
    return open_block(db.session, "sync.session()")


def transaction(db: Database | None = None) -> AbstractContextManager[AsyncSession]:
    """Run the block atomically, as ``transaction()`` does: a SAVEPOINT inside a block,
    else a new unit of work on ``db`` (or the default database)."""
    return open_block(lambda: _transaction(db), "sync.transaction()")


def close() -> None:
    """Stop the facade: cancel what still runs (open blocks roll back), disconnect the
    databases ``connect()`` connected, and stop the loop thread.

    The next call starts a new loop. Registered to run at interpreter exit too.

    Raises:
        SyncUsageError: Called inside a block or from the facade's own loop thread.
    """
    refuse_in_loop_thread("sync.close()")
    if current_block.get() is not None:
        raise SyncUsageError(
            "sync.close() was called inside a sync.session() / sync.transaction() block; "
            "leave the block first."
        )
    loop_thread.close()
