"""``spawn()``: SQLAlchemy's ``greenlet_spawn`` on reused greenlets.

SQLAlchemy runs its synchronous core (pool checkout, cursor calls) from asyncio in a
greenlet: ``greenlet_spawn(fn)`` runs ``fn`` in a new greenlet, and each ``await_()`` in
it switches back to the event loop's side with an awaitable to wait for. A greenlet is
costly to create (several microseconds here, as much as the rest of a pool checkout) and
``greenlet_spawn`` creates one per call, so orm_kit's own per-statement work (the raw path,
orm_kit/raw_path.py) runs on idle greenlets kept per thread instead: the same protocol
(``await_()`` works inside, as SQLAlchemy checks only the greenlet's marker), the same
context variables (the worker runs in the caller's ``Context``), the same error handling
(an exception while waiting, a cancellation included, is thrown into the worker so its
``finally`` blocks run, then re-raised to the caller).

A worker goes back to the idle list only once its function has returned or raised; one
abandoned mid-way (its task destroyed without being closed) is simply not reused. When the
caller is not the greenlet a worker belongs to (``spawn()`` called from inside another
greenlet), ``spawn()`` is SQLAlchemy's ``greenlet_spawn``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from greenlet import GreenletExit, getcurrent, greenlet  # type: ignore[import-untyped]
from sqlalchemy.util.concurrency import greenlet_spawn

__all__ = ["spawn"]

_T = TypeVar("_T")

_IDLE_MAX = 32
"""Idle workers kept per thread: more than the tasks that wait on the database at once in
most processes; beyond it a finished worker is dropped (as ``greenlet_spawn``'s always is)."""


class _Outcome:
    """What a worker's function did: returned ``value`` (``ok``) or raised it."""

    __slots__ = ("ok", "value")

    def __init__(self, ok: bool, value: Any) -> None:
        self.ok = ok
        self.value = value


class _Worker(greenlet):  # type: ignore[misc]  # (greenlet has no type information)
    """A greenlet that runs one function after another, each switched in by ``spawn()``."""

    # What SQLAlchemy's await_() checks before switching to the parent with an awaitable.
    __sqlalchemy_greenlet_provider__ = True


def _serve(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """The body of every worker: run each job it is given and hand back its outcome."""
    while True:
        try:
            outcome = _Outcome(True, fn(*args))
        except GreenletExit:
            raise  # an abandoned worker collected mid-job: let it end (never sent by spawn)
        except BaseException as error:  # given back to spawn(), which raises it
            outcome = _Outcome(False, error)
        del fn, args  # the worker keeps nothing of a finished job while idle
        fn, args = getcurrent().parent.switch(outcome)


class _Idle(threading.local):
    """The idle workers of this thread (greenlets switch only within their thread)."""

    def __init__(self) -> None:
        self.workers: list[_Worker] = []


_idle = _Idle()


async def spawn(fn: Callable[..., _T], *args: Any) -> _T:
    """Run ``fn(*args)`` in a greenlet in which ``await_()`` waits on the event loop, as
    ``greenlet_spawn(fn, *args)`` does, on a reused greenlet; return what it returns or
    raise what it raises."""
    current = getcurrent()
    workers = _idle.workers
    worker = workers.pop() if workers else _Worker(_serve, current)
    if worker.parent is not current:  # called from inside another greenlet
        workers.append(worker)
        return await greenlet_spawn(fn, *args)
    worker.gr_context = current.gr_context
    result: Any = worker.switch(fn, args)
    while type(result) is not _Outcome:
        try:
            value = await result
        except BaseException:
            # As greenlet_spawn: into the worker, so the function's own handling runs.
            result = worker.throw(*sys.exc_info())
        else:
            result = worker.switch(value)
    worker.gr_context = None
    if len(workers) < _IDLE_MAX:
        workers.append(worker)
    ok, value = result.ok, result.value
    result.value = None  # (the worker's frame still holds the outcome until its next job)
    if ok:
        return value  # type: ignore[no-any-return]
    try:
        raise value
    finally:
        del value
