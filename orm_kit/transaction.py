"""``transaction()``: run a block atomically, with a SAVEPOINT when nested."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncSession

from orm_kit.context import _current_session, is_foreign
from orm_kit.database import Database, get_database
from orm_kit.unit_of_work import on_commit, outer_on_session, savepoint

__all__ = ["on_commit", "transaction"]


def transaction(
    target: Database | AsyncSession | None = None,
) -> AbstractAsyncContextManager[AsyncSession]:
    """Run the block atomically: commit on success, roll back on error, SAVEPOINT if nested.

    Args:
        target: ``None`` for the ambient session or else the default database; a
            ``Database``; or an ``AsyncSession`` you manage yourself.

    Returns:
        An async context manager yielding the ``AsyncSession`` in use.

    Example:
        ```python
        async with transaction():
            await Account.objects.filter(id=1).update(balance=F("balance") - 10)
            async with transaction():          # SAVEPOINT
                ...
        ```
    """
    if isinstance(target, AsyncSession):
        if target.in_transaction():
            return savepoint(target)
        return outer_on_session(target)
    if isinstance(target, Database):
        return target.transaction()
    ambient = _current_session.get()
    if ambient is not None and not is_foreign(ambient):
        return savepoint(ambient)
    return get_database().transaction()
