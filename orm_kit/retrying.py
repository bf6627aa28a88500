"""Transactions that re-run on a serialization failure or a deadlock: the machinery behind
``transaction(retries=N)`` and ``db.transaction(retries=N)``.

An ``async with`` body runs once and cannot be re-run, so a retrying transaction is used
either as a decorator of an async function (the function is called again) or as a loop of
attempts::

    @transaction(retries=3)
    async def transfer(...): ...

    async for attempt in transaction(retries=3):
        async with attempt:
            ...

This module knows no database: the layer above hands it an ``Opener`` that, at the start of
each attempt, returns the context manager of a new unit of work (or of a SAVEPOINT when an
outer transaction is open, which is never retried here: see ``RetryingTransaction``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import Token
from types import TracebackType
from typing import ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from orm_kit.exceptions import ValidationError, logger, retry_pending, sqlstate_of

__all__ = [
    "DEFAULT_BACKOFF",
    "ISOLATION_LEVELS",
    "RETRYABLE_SQLSTATES",
    "Attempt",
    "Opener",
    "RetryingTransaction",
    "is_retryable",
    "isolated",
    "opened",
    "with_isolation_level",
]

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
"""serialization_failure and deadlock_detected: the transaction did nothing wrong and a
new run of it may succeed."""

DEFAULT_BACKOFF = 0.05
"""The base delay in seconds before the first retry; each further retry doubles it."""

Opener = Callable[[], tuple[AbstractAsyncContextManager[AsyncSession], bool]]
"""Returns a new transaction's context manager and whether it is nested (a SAVEPOINT)."""

P = ParamSpec("P")
R = TypeVar("R")


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` (an orm_kit error or a driver one) comes from a serialization failure
    (SQLSTATE 40001) or a deadlock (40P01), found on it or along its ``__cause__`` chain.

    SQLite reports neither: orm_kit's units of work take its write lock up front
    (``BEGIN IMMEDIATE``), so they wait for each other instead of conflicting.
    """
    seen: set[int] = set()
    chain: BaseException | None = exc
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        # (MariaDB / MySQL's deadlock and lock wait timeout count as 40001: sqlstate_of)
        if sqlstate_of(chain) in RETRYABLE_SQLSTATES:
            return True
        orig = getattr(chain, "orig", None)
        chain = orig if isinstance(orig, BaseException) else chain.__cause__
    return False


def backoff_delay(retry: int, backoff: float) -> float:
    """The jittered delay before retry number ``retry`` (1 for the first): ``backoff * 2 **
    (retry - 1)`` scaled by a random factor in [0.5, 1.5), so that two transactions that
    conflicted do not meet again at the same moment."""
    return float(backoff * 2 ** (retry - 1) * (0.5 + random.random()))


ISOLATION_LEVELS = ("SERIALIZABLE", "REPEATABLE READ", "READ COMMITTED", "READ UNCOMMITTED")
"""The levels ``transaction(isolation_level=...)`` takes."""

_RUNS_AS = {("postgresql", "READ UNCOMMITTED"): "READ COMMITTED"}
"""Levels a backend runs as another one: PostgreSQL runs READ UNCOMMITTED as READ
COMMITTED (SQLAlchemy's asyncpg dialect refuses the name), so orm_kit asks for that."""


@asynccontextmanager
async def with_isolation_level(
    cm: AbstractAsyncContextManager[AsyncSession], isolation_level: str | None
) -> AsyncIterator[AsyncSession]:
    """Enter ``cm`` (a new unit of work) and give its connection ``isolation_level`` before
    the first statement.

    A session joined to a connection already in a transaction (the one ``orm_kit.testing``
    pins) keeps that transaction's level. So does SQLite, whose units of work are always
    serializable (``BEGIN IMMEDIATE``): SQLAlchemy's SQLite isolation levels would hand
    transaction control back to the sqlite3 module, and the connection would keep that
    after it returned to the pool. PostgreSQL gets ``READ COMMITTED`` for ``READ
    UNCOMMITTED``, which is what it runs that level as.
    """
    async with cm as session:
        if isolation_level is not None and not _keeps_its_level(session):
            dialect = getattr(getattr(session.bind, "dialect", None), "name", None)
            level = _RUNS_AS.get((str(dialect), isolation_level), isolation_level)
            await session.connection(execution_options={"isolation_level": level})
        yield session


def _keeps_its_level(session: AsyncSession) -> bool:
    bind = session.bind
    if isinstance(bind, AsyncConnection) and bind.in_transaction():
        return True
    return getattr(getattr(bind, "dialect", None), "name", None) == "sqlite"


def check_isolation_level_name(isolation_level: str | None) -> None:
    """Refuse a level that is not one of ``ISOLATION_LEVELS``."""
    if isolation_level is not None and isolation_level not in ISOLATION_LEVELS:
        raise ValidationError(
            f"transaction(isolation_level={isolation_level!r}) is not an isolation level; "
            f"pass one of {', '.join(repr(level) for level in ISOLATION_LEVELS)}."
        )


def check_isolation_level(isolation_level: str | None, nested: bool) -> None:
    """Refuse an isolation level for a SAVEPOINT: it only applies to a whole transaction."""
    if isolation_level is not None and nested:
        raise ValidationError(
            f"transaction(isolation_level={isolation_level!r}) was opened inside another "
            "transaction: a SAVEPOINT runs at the outer transaction's isolation level. Set "
            "isolation_level on the outermost transaction."
        )


def _check(retries: int, backoff: float) -> None:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValidationError(
            f"transaction(retries={retries!r}): retries is how many times to re-run the "
            "block after a serialization failure or deadlock; pass an int >= 0."
        )
    if isinstance(backoff, bool) or not isinstance(backoff, int | float) or backoff < 0:
        raise ValidationError(
            f"transaction(backoff={backoff!r}): backoff is the base delay in seconds before "
            "the first retry; pass a number >= 0."
        )


class RetryingTransaction:
    """``transaction(retries=N)``: a transaction re-run, up to ``N`` more times, when it
    fails with a serialization failure (SQLSTATE 40001) or a deadlock (40P01).

    Use it as a decorator of an async function or as ``async for attempt in ...: async with
    attempt:``; ``async with transaction(retries=N):`` alone is refused with a
    ``ValidationError`` (its body could not be run again). Before retry ``k`` it sleeps
    ``backoff * 2 ** (k - 1)`` seconds times a random factor in [0.5, 1.5). Each attempt is
    a new unit of work: ``on_commit`` callbacks registered in a failed attempt are dropped
    with its rollback, so they run once, for the attempt that committed. After the last
    retry the error is raised as orm_kit raised it (a ``DatabaseError`` whose ``__cause__``
    is the driver's error); any other error is raised at once, never retried.

    Inside an outer transaction the block runs once, as a SAVEPOINT, and a conflict is
    raised on: it has aborted the outer transaction too, whose own start only the outermost
    block can re-run (give that one ``retries=``).
    """

    def __init__(
        self,
        opener: Opener,
        *,
        retries: int,
        backoff: float = DEFAULT_BACKOFF,
        isolation_level: str | None = None,
    ) -> None:
        _check(retries, backoff)
        check_isolation_level_name(isolation_level)
        self._opener = opener
        self.retries = retries
        self.backoff = float(backoff)
        self.isolation_level = isolation_level

    def __repr__(self) -> str:
        return f"<transaction retries={self.retries} backoff={self.backoff}>"

    # --- as a decorator -----------------------------------------------------------------

    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        """Wrap ``fn`` so that each call runs it in a transaction, re-run on a conflict."""
        if not inspect.iscoroutinefunction(fn):
            raise ValidationError(
                f"transaction(retries=...) decorates an async function (async def); got "
                f"{fn!r}. For a block of code, loop over the attempts: `async for attempt "
                "in transaction(retries=...): async with attempt: ...`."
            )

        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            async for attempt in self:
                async with attempt:
                    return await fn(*args, **kwargs)
            raise AssertionError("unreachable: the last attempt returns or raises")

        return run

    # --- as a loop of attempts ----------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Attempt]:
        return _Attempts(self)

    # --- refused as a plain `async with` ------------------------------------------------

    async def __aenter__(self) -> AsyncSession:
        raise ValidationError(
            f"`async with transaction(retries={self.retries}):` cannot retry: Python runs an "
            "`async with` body once. Decorate an async function with "
            "`@transaction(retries=...)`, or loop over attempts: `async for attempt in "
            "transaction(retries=...): async with attempt: ...`."
        )

    async def __aexit__(self, *exc_info: object) -> None:
        return None  # pragma: no cover - __aenter__ always raises

    def _open(self) -> tuple[AbstractAsyncContextManager[AsyncSession], bool]:
        cm, nested = self._opener()
        check_isolation_level(self.isolation_level, nested)
        if nested:
            return cm, True
        return with_isolation_level(cm, self.isolation_level), False


class Attempt:
    """One run of a retrying transaction: ``async with attempt as session:``.

    ``number`` counts from 1. Leaving the block with a serialization failure or deadlock
    while retries are left rolls the attempt back and swallows the error: the loop then
    sleeps and yields the next attempt. Any other exit is what ``transaction()`` does.
    """

    def __init__(self, owner: RetryingTransaction, number: int) -> None:
        self._owner = owner
        self.number = number
        self.entered = False
        self.retry = False
        self._cm: AbstractAsyncContextManager[AsyncSession] | None = None
        self._nested = False
        self._pending: Token[bool] | None = None

    def __repr__(self) -> str:
        return f"<transaction attempt {self.number} of {self._owner.retries + 1}>"

    async def __aenter__(self) -> AsyncSession:
        if self.entered:
            raise ValidationError(f"{self!r} was entered twice; each attempt runs once.")
        self.entered = True
        self._cm, self._nested = self._owner._open()
        if not self._nested:
            # A conflict this attempt will retry is logged as "will retry", not a failure.
            self._pending = retry_pending.set(self.number <= self._owner.retries)
        return await self._cm.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._cm is not None
        try:
            suppressed = await self._cm.__aexit__(exc_type, exc, tb)
        except Exception as raised:  # the block's error, translated, or the commit's
            if self._may_retry(raised):
                self.retry = True
                return True
            raise
        finally:
            if self._pending is not None:
                retry_pending.reset(self._pending)
                self._pending = None
        if suppressed or exc is None:
            return bool(suppressed)
        # The transaction re-raised the block's own error as it was (already an orm_kit one).
        if isinstance(exc, Exception) and self._may_retry(exc):
            self.retry = True
            return True
        return False

    def _may_retry(self, exc: BaseException) -> bool:
        return not self._nested and self.number <= self._owner.retries and is_retryable(exc)


class _Attempts:
    """The iterator of ``async for attempt in transaction(retries=N)``."""

    def __init__(self, owner: RetryingTransaction) -> None:
        self._owner = owner
        self._last: Attempt | None = None

    def __aiter__(self) -> _Attempts:
        return self

    async def __anext__(self) -> Attempt:
        last = self._last
        if last is not None:
            if not last.entered:
                raise ValidationError(
                    f"{last!r} was never entered: write `async with attempt:` around the "
                    "transaction's work inside `async for attempt in transaction(...)`."
                )
            if not last.retry:
                raise StopAsyncIteration
            delay = backoff_delay(last.number, self._owner.backoff)
            logger.info(
                "orm_kit transaction attempt %d hit a serialization failure or deadlock; "
                "retrying in %.3f s",
                last.number,
                delay,
                extra={"orm_kit_operation": "transaction", "orm_kit_attempt": last.number},
            )
            await asyncio.sleep(delay)
        self._last = Attempt(self._owner, 1 if last is None else last.number + 1)
        return self._last


@asynccontextmanager
async def opened(opener: Opener) -> AsyncIterator[AsyncSession]:
    """``transaction()``: the transaction ``opener`` gives when the block is entered (as a
    decorator, each time the function is called), not when ``transaction()`` was called."""
    cm, _nested = opener()
    async with cm as session:
        yield session


@asynccontextmanager
async def isolated(opener: Opener, isolation_level: str) -> AsyncIterator[AsyncSession]:
    """``transaction(isolation_level=...)`` without retries: one transaction at that level."""
    check_isolation_level_name(isolation_level)
    cm, nested = opener()
    check_isolation_level(isolation_level, nested)
    async with with_isolation_level(cm, isolation_level) as session:
        yield session
