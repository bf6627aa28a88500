"""``transaction()``: run a block atomically, with a SAVEPOINT when nested; with
``retries=N``, re-run it on a serialization failure or deadlock (``orm_kit.retrying``)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import overload

from sqlalchemy.ext.asyncio import AsyncSession

from orm_kit.context import _current_session, is_foreign
from orm_kit.database import Database, get_database
from orm_kit.exceptions import ValidationError
from orm_kit.retrying import (
    DEFAULT_BACKOFF,
    Attempt,
    RetryingTransaction,
    is_retryable,
    isolated,
    opened,
)
from orm_kit.unit_of_work import on_commit, outer_on_session, run_unit_of_work, savepoint

__all__ = ["Attempt", "RetryingTransaction", "is_retryable", "on_commit", "transaction"]


def _opener(
    target: Database | AsyncSession | None,
) -> tuple[AbstractAsyncContextManager[AsyncSession], bool]:
    """The context manager of a transaction on ``target`` now, and whether it is nested."""
    if isinstance(target, AsyncSession):
        if target.in_transaction():
            return savepoint(target), True
        return outer_on_session(target), False
    if isinstance(target, Database):
        ambient = _current_session.get()
        if ambient is not None and target.owns(ambient) and not is_foreign(ambient):
            return savepoint(ambient), True
        return run_unit_of_work(target), False
    ambient = _current_session.get()
    if ambient is not None and not is_foreign(ambient):
        return savepoint(ambient), True
    return run_unit_of_work(get_database()), False


@overload
def transaction(
    target: Database | AsyncSession | None = None,
    *,
    retries: None = None,
    backoff: float = ...,
    isolation_level: str | None = None,
) -> AbstractAsyncContextManager[AsyncSession]: ...
@overload
def transaction(
    target: Database | AsyncSession | None = None,
    *,
    retries: int,
    backoff: float = ...,
    isolation_level: str | None = None,
) -> RetryingTransaction: ...
def transaction(
    target: Database | AsyncSession | None = None,
    *,
    retries: int | None = None,
    backoff: float = DEFAULT_BACKOFF,
    isolation_level: str | None = None,
) -> AbstractAsyncContextManager[AsyncSession] | RetryingTransaction:
    """Run the block atomically: commit on success, roll back on error, SAVEPOINT if nested.

    Args:
        target: ``None`` for the ambient session or else the default database; a
            ``Database``; or an ``AsyncSession`` you manage yourself.
        retries: Re-run the transaction up to this many more times when it fails with a
            serialization failure (SQLSTATE 40001) or a deadlock (40P01). The result is then
            a ``RetryingTransaction``: use it as a decorator of an async function or as
            ``async for attempt in transaction(retries=3): async with attempt: ...``;
            a plain ``async with`` is refused, as its body could not run again. Nested in
            an outer transaction it runs once (a SAVEPOINT) and raises the conflict on.
        backoff: With ``retries``, the base delay in seconds (default 0.05) before the
            first retry, doubled for each next one, times a random factor in [0.5, 1.5).
        isolation_level: The outermost transaction's isolation level:
            ``"SERIALIZABLE"``, ``"REPEATABLE READ"``, ``"READ COMMITTED"`` or
            ``"READ UNCOMMITTED"``; refused for a SAVEPOINT. SQLite's units of work are
            serializable whatever the level.

    Returns:
        An async context manager yielding the ``AsyncSession`` in use (also usable as a
        decorator: ``@transaction()``, with the parentheses), or with ``retries`` a
        ``RetryingTransaction``. The database is found when the block is entered (each
        time a decorated function is called), so a decorator can be applied at import
        time, before any database is connected.

    Raises:
        ValidationError: ``retries`` or ``backoff`` is negative or not a number, an
            ``isolation_level`` is unknown or was given for a nested transaction, a retrying
            transaction was used as a plain ``async with``, or ``transaction`` itself was
            used as a decorator without parentheses.

    Example:
        ```python
        async with transaction():
            await Account.objects.filter(id=1).update(balance=F("balance") - 10)
            async with transaction():          # SAVEPOINT
                ...

        @transaction(retries=3, isolation_level="SERIALIZABLE")
        async def book_seat(seat_id: int) -> None:
            ...
        ```
    """
    if callable(target) and not isinstance(target, Database | AsyncSession):
        raise ValidationError(
            f"transaction was given {target!r}: as a decorator write `@transaction()` (with "
            "the parentheses), or `@transaction(retries=3)`; transaction() takes a Database, "
            "an AsyncSession or nothing."
        )
    if retries is not None:
        return RetryingTransaction(
            lambda: _opener(target),
            retries=retries,
            backoff=backoff,
            isolation_level=isolation_level,
        )
    if isolation_level is not None:
        return isolated(lambda: _opener(target), isolation_level)
    # The database (and whether to open a SAVEPOINT) is found when the block is entered,
    # or each time a decorated function runs: `@transaction()` works before connect().
    return opened(lambda: _opener(target))
