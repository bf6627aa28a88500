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

import asyncio
import atexit
import concurrent.futures
import contextvars
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from orm_kit.context import _current_session
from orm_kit.database import Database, get_session
from orm_kit.exceptions import SyncUsageError
from orm_kit.settings import DatabaseSettings
from orm_kit.transaction import transaction as _transaction

__all__ = ["SyncUsageError", "close", "connect", "run", "session", "transaction"]

ResultT = TypeVar("ResultT")
ValueT = TypeVar("ValueT")

_POLL_SECONDS = 0.2
"""How often a waiting caller wakes: lets Ctrl-C through on every platform (a plain wait is
not interruptible on Windows) and notices a loop thread that is gone."""

_CANCELLED = (
    "This sync.session() / sync.transaction() block was cancelled (a call in it timed out or "
    "was interrupted, or sync.close() ran) and rolled back: nothing in it was committed. "
    "Leave the block and start a new one."
)


class _Escaped(Exception):  # noqa: N818 - a carrier, never raised to users
    """Carries a KeyboardInterrupt / SystemExit out of a task: raised in a task, they would
    stop the facade's loop instead of reaching the caller."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(original)
        self.original = original


class _BlockFailedError(Exception):
    """Raised inside a block's task when the caller's block raised: rolls the block back."""


# --- the loop thread ---------------------------------------------------------------------


class _LoopThread:
    """The facade's event loop and the daemon thread that runs it, started on first use.

    One per process: every database the facade connects has its pool on this one loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._databases: list[Database] = []
        self._at_exit = False

    def is_current(self) -> bool:
        """Whether the calling thread is the facade's loop thread."""
        thread = self._thread
        return thread is not None and thread.ident == threading.get_ident()

    def get(self) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
        """The running loop and its thread, starting them if need be."""
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                self._loop, self._thread = self._start()
            return self._loop, self._thread

    def _start(self) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(
            target=_serve_forever, args=(loop, ready), name="orm_kit.sync", daemon=True
        )
        thread.start()
        ready.wait()
        if not self._at_exit:
            # A daemon thread is still alive when atexit handlers run: disconnect cleanly.
            atexit.register(self.close)
            self._at_exit = True
        return loop, thread

    def track(self, db: Database) -> None:
        with self._lock:
            self._databases.append(db)

    def close(self) -> None:
        """Cancel what still runs, disconnect the tracked databases, stop the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            databases, self._databases = self._databases, []
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        try:
            if thread.is_alive():
                job: _Job[None] = _Job(loop, _shutdown(databases), contextvars.Context())
                _wait(job.done, None, thread)
                _outcome(job.done)
        finally:
            if thread.is_alive():
                loop.call_soon_threadsafe(loop.stop)
                thread.join()
            loop.close()


def _serve_forever(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    loop.run_forever()


async def _shutdown(databases: list[Database]) -> None:
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()  # open blocks roll back and close their sessions
    await asyncio.gather(*pending, return_exceptions=True)
    for db in databases:
        await db.disconnect()
    loop = asyncio.get_running_loop()
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


_loop_thread = _LoopThread()

# --- waiting in the caller's thread -------------------------------------------------------


def _wait(
    done: concurrent.futures.Future[Any], timeout: float | None, thread: threading.Thread
) -> bool:
    """Block until ``done`` (True) or until ``timeout`` seconds have passed (False)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not done.done():
        if not thread.is_alive():
            raise SyncUsageError(
                "orm_kit.sync's event-loop thread stopped while a call was waiting for it "
                "(sync.close() ran in another thread?)."
            )
        step = _POLL_SECONDS
        if deadline is not None:
            step = min(step, deadline - time.monotonic())
            if step <= 0:
                return False
        concurrent.futures.wait([done], timeout=step)
    return True


def _await_outcome(
    done: concurrent.futures.Future[ResultT],
    timeout: float | None,
    abort: Callable[[], None],
    cleaned_up: concurrent.futures.Future[Any],
    thread: threading.Thread,
) -> ResultT:
    """Wait for ``done``; on Ctrl-C or timeout ``abort()`` the work and wait for its clean-up
    (``cleaned_up``) before raising, so no session stays open and no lock stays held."""
    try:
        if not _wait(done, timeout, thread):
            raise TimeoutError(
                f"The call did not finish within {timeout} s; it was cancelled and its "
                "session rolled back."
            )
    except BaseException:
        abort()
        _wait(cleaned_up, None, thread)
        raise
    return _outcome(done)


def _outcome(done: concurrent.futures.Future[ResultT]) -> ResultT:
    if done.cancelled():
        raise SyncUsageError(
            "The call was cancelled before it finished (sync.close() ran while it was "
            "waiting, or the awaitable was cancelled)."
        )
    error = done.exception()
    if isinstance(error, _Escaped):
        raise error.original
    return done.result()


def _settle(task: asyncio.Task[ResultT], done: concurrent.futures.Future[ResultT]) -> None:
    if task.cancelled():
        done.cancel()
    elif (error := task.exception()) is not None:
        done.set_exception(error)
    else:
        done.set_result(task.result())


async def _guarded(awaitable: Awaitable[ResultT]) -> ResultT:
    try:
        return await awaitable
    except (KeyboardInterrupt, SystemExit) as exc:
        raise _Escaped(exc) from None


class _Job(Generic[ResultT]):
    """One awaitable run as a task of its own on the facade's loop (outside any block)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        awaitable: Awaitable[ResultT],
        context: contextvars.Context,
    ) -> None:
        self._loop = loop
        self._task: asyncio.Task[ResultT] | None = None
        self.done: concurrent.futures.Future[ResultT] = concurrent.futures.Future()
        loop.call_soon_threadsafe(self._start, awaitable, context)

    def _start(self, awaitable: Awaitable[ResultT], context: contextvars.Context) -> None:
        task = self._loop.create_task(_guarded(awaitable), context=context)
        task.add_done_callback(lambda t: _settle(t, self.done))
        self._task = task

    def cancel(self) -> None:
        # Scheduled after _start (call_soon_threadsafe keeps order), so the task exists.
        self._loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


# --- blocks: one task holds the unit of work ---------------------------------------------


@dataclass(eq=False)
class _Call:
    awaitable: Awaitable[Any]
    context: contextvars.Context
    done: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)


@dataclass(eq=False)
class _Open:
    opener: Callable[[], AbstractAsyncContextManager[Any]]
    entered: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)
    exited: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)


@dataclass(frozen=True)
class _Close:
    failed: bool


_Message = _Call | _Open | _Close


class _Block:
    """The task that holds a ``session()`` / ``transaction()`` block, and every block nested
    in it, open, and awaits the block's calls inside itself, in the order they are sent."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        thread: threading.Thread,
        first: _Open,
        context: contextvars.Context,
    ) -> None:
        self._loop = loop
        self._thread = thread
        self._inbox: asyncio.Queue[_Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.cancelled = False
        self.finished: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop.call_soon_threadsafe(self._start, first, context)

    # -- on the loop --

    def _start(self, first: _Open, context: contextvars.Context) -> None:
        self._task = self._loop.create_task(self._hold(first), context=context)
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.cancelled = task.cancelled()
        if not self.cancelled:
            task.exception()  # its outcome already reached the caller through the futures
        self.finished.set_result(None)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _hold(self, block: _Open) -> None:
        """Hold ``block`` open, running what the caller sends, until its ``_Close``."""
        try:
            async with block.opener() as value:
                block.entered.set_result(value)
                while True:
                    message = await self._inbox.get()
                    if isinstance(message, _Call):
                        await self._run(message)
                    elif isinstance(message, _Open):
                        await self._hold(message)  # nested: the same task, the same inbox
                    elif message.failed:
                        raise _BlockFailedError
                    else:
                        break
        except _BlockFailedError:
            block.exited.set_result(None)  # rolled back; the caller raises its own error
        except asyncio.CancelledError:
            _fail(block, SyncUsageError(_CANCELLED))
            raise
        except BaseException as exc:
            _fail(block, _Escaped(exc) if isinstance(exc, KeyboardInterrupt | SystemExit) else exc)
        else:
            block.exited.set_result(None)  # committed

    async def _run(self, call: _Call) -> None:
        adopted = _adopt(call.context)
        try:
            result = await call.awaitable
        except asyncio.CancelledError:
            call.done.cancel()
            raise
        except (KeyboardInterrupt, SystemExit) as exc:
            call.done.set_exception(_Escaped(exc))
        except BaseException as exc:
            call.done.set_exception(exc)
        else:
            call.done.set_result(result)
        finally:
            for var, token in reversed(adopted):
                var.reset(token)

    # -- in the caller's thread --

    def _send(self, message: _Message) -> None:
        self._loop.call_soon_threadsafe(self._inbox.put_nowait, message)

    def _abort(self) -> None:
        self._loop.call_soon_threadsafe(self._cancel)

    def _wait(self, done: concurrent.futures.Future[ResultT], timeout: float | None) -> ResultT:
        return _await_outcome(done, timeout, self._abort, self.finished, self._thread)

    def check_alive(self, awaitable: object = None) -> None:
        if self.finished.done():
            _discard(awaitable)
            raise SyncUsageError(_CANCELLED)

    def call(self, awaitable: Awaitable[ResultT], timeout: float | None) -> ResultT:
        self.check_alive(awaitable)
        call = _Call(awaitable, contextvars.copy_context())
        self._send(call)
        result: ResultT = self._wait(call.done, timeout)
        return result

    def enter(self, block: _Open, *, nested: bool) -> Any:
        if nested:
            self.check_alive()
            self._send(block)
        return self._wait(block.entered, None)

    def exit(self, block: _Open, *, failed: bool) -> None:
        if failed and self.cancelled:
            return  # the caller's own error (the interrupt) says it all
        if not block.exited.done():
            self._send(_Close(failed))
        self._wait(block.exited, None)


_current_block: contextvars.ContextVar[_Block | None] = contextvars.ContextVar(
    "orm_kit_sync_block", default=None
)
"""The block the caller is in (per thread, per task): ``run()`` sends its work there."""

_NOT_ADOPTED: tuple[contextvars.ContextVar[Any], ...] = (_current_session, _current_block)


def _fail(block: _Open, error: BaseException) -> None:
    (block.exited if block.entered.done() else block.entered).set_exception(error)


def _adopt(
    context: contextvars.Context,
) -> list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]]:
    """Give the block's task the caller's ContextVars (the acting user ...) for one call;
    never the ambient session, which in the block's task is the block's own."""
    return [(var, var.set(value)) for var, value in context.items() if var not in _NOT_ADOPTED]


def _discard(awaitable: object) -> None:
    if inspect.iscoroutine(awaitable):
        awaitable.close()  # refused before it ran: no "never awaited" warning


def _refuse_in_loop_thread(what: str, awaitable: object = None) -> None:
    if _loop_thread.is_current():
        _discard(awaitable)
        raise SyncUsageError(
            f"{what} was called from orm_kit.sync's own event-loop thread, by code already "
            "running under the facade (a coroutine given to sync.run(), an on_commit "
            "callback, a signal receiver); it would wait for itself forever. In async code, "
            "await the coroutine instead."
        )


@contextmanager
def _block(
    opener: Callable[[], AbstractAsyncContextManager[ValueT]], what: str
) -> Iterator[ValueT]:
    _refuse_in_loop_thread(what)
    opening = _Open(opener)
    outer = _current_block.get()
    if outer is None:
        loop, thread = _loop_thread.get()
        host = _Block(loop, thread, opening, contextvars.copy_context())
    else:
        host = outer
    value: ValueT = host.enter(opening, nested=outer is not None)
    token = _current_block.set(host)
    failed = False
    try:
        yield value
    except BaseException:
        failed = True
        raise
    finally:
        _current_block.reset(token)
        host.exit(opening, failed=failed)


# --- the public surface -------------------------------------------------------------------


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
    _refuse_in_loop_thread("sync.run()", awaitable)
    block = _current_block.get()
    if block is not None:
        return block.call(awaitable, timeout)
    loop, thread = _loop_thread.get()
    job = _Job(loop, awaitable, contextvars.copy_context())
    return _await_outcome(job.done, timeout, job.cancel, job.done, thread)


def connect(
    url: str | URL | None = None,
    *,
    name: str | None = None,
    settings: DatabaseSettings | None = None,
    **engine_kwargs: Any,
) -> Database:
    """Connect a ``Database`` on the facade's loop and return it.

    The arguments are ``Database``'s: no ``url`` reads ``DATABASE_URL`` (then the SQLite
    default). As with ``await db.connect()``, the first database connected is the default
    one. ``close()`` disconnects it; so does ``run(db.disconnect())``.

    Raises:
        DatabaseUnavailableError: The server cannot be reached.
    """
    db = Database(url, name=name, settings=settings, **engine_kwargs)
    run(db.connect())
    _loop_thread.track(db)
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
        return _block(get_session, "sync.session()")
    return _block(db.session, "sync.session()")


def transaction(db: Database | None = None) -> AbstractContextManager[AsyncSession]:
    """Run the block atomically, as ``transaction()`` does: a SAVEPOINT inside a block,
    else a new unit of work on ``db`` (or the default database)."""
    return _block(lambda: _transaction(db), "sync.transaction()")


def close() -> None:
    """Stop the facade: cancel what still runs (open blocks roll back), disconnect the
    databases ``connect()`` connected, and stop the loop thread.

    The next call starts a new loop. Registered to run at interpreter exit too.

    Raises:
        SyncUsageError: Called inside a block or from the facade's own loop thread.
    """
    _refuse_in_loop_thread("sync.close()")
    if _current_block.get() is not None:
        raise SyncUsageError(
            "sync.close() was called inside a sync.session() / sync.transaction() block; "
            "leave the block first."
        )
    _loop_thread.close()
