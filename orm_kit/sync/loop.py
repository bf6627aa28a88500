"""The facade's event loop in its daemon thread, and how a caller's thread waits for work
on it: results and errors handed back, Ctrl-C and timeouts cancel the work and wait for its
clean-up. Internal to ``orm_kit.sync``."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from orm_kit.database import Database
from orm_kit.exceptions import SyncUsageError

__all__ = [
    "Escaped",
    "Job",
    "LoopThread",
    "await_outcome",
    "discard",
    "loop_thread",
    "refuse_in_loop_thread",
]

ResultT = TypeVar("ResultT")

_POLL_SECONDS = 0.2
"""How often a waiting caller wakes: lets Ctrl-C through on every platform (a plain wait is
not interruptible on Windows) and notices a loop thread that is gone."""


class Escaped(Exception):  # noqa: N818 - a carrier, never raised to users
    """Carries a KeyboardInterrupt / SystemExit out of a task: raised in a task, they would
    stop the facade's loop instead of reaching the caller."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(original)
        self.original = original


class LoopThread:
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
                job: Job[None] = Job(loop, _shutdown(databases), contextvars.Context())
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


loop_thread = LoopThread()

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


def await_outcome(
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
        if thread.is_alive():  # else there is nothing left to cancel or wait for
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
    if isinstance(error, Escaped):
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
        raise Escaped(exc) from None


class Job(Generic[ResultT]):
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


def discard(awaitable: object) -> None:
    if inspect.iscoroutine(awaitable):
        awaitable.close()  # refused before it ran: no "never awaited" warning


def refuse_in_loop_thread(what: str, awaitable: object = None) -> None:
    if loop_thread.is_current():
        discard(awaitable)
        raise SyncUsageError(
            f"{what} was called from orm_kit.sync's own event-loop thread, by code already "
            "running under the facade (a coroutine given to sync.run(), an on_commit "
            "callback, a signal receiver); it would wait for itself forever. In async code, "
            "await the coroutine instead."
        )
