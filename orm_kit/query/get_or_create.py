"""``get_or_create`` and ``update_or_create``: a read and a write of a QuerySet in one unit
of work, with a concurrent insert of the same unique values resolved by reading again.

They are built from the QuerySet's own operations (``get``, ``create``,
``select_for_update``), so every rule and check of those applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from orm_kit.exceptions import ConflictError, NotFoundError
from orm_kit.query.executor import flush, unit_of_work
from orm_kit.query.state import ForUpdate
from orm_kit.unit_of_work import outer_on_session, savepoint

if TYPE_CHECKING:
    from orm_kit.query.queryset import QuerySet

__all__ = ["get_or_create", "update_or_create"]


def _create_values(lookups: dict[str, Any], defaults: dict[str, Any] | None) -> dict[str, Any]:
    values = {k: v for k, v in lookups.items() if "__" not in k}
    for key, value in (defaults or {}).items():
        values[key] = value() if callable(value) else value
    return values


async def _create_in_savepoint(
    qs: QuerySet[Any, Any], session: AsyncSession, values: dict[str, Any]
) -> Any:
    # A SAVEPOINT, so a conflict leaves the surrounding session usable.
    block = savepoint(session) if session.in_transaction() else outer_on_session(session)
    async with block:
        return await qs.using(session).create(**values)


def _fresh(bound: QuerySet[Any, Any], session: AsyncSession) -> QuerySet[Any, Any]:
    """The QuerySet that reads a concurrent creator's row after a conflict.

    NOTE(mysql): InnoDB's REPEATABLE READ reads from the transaction's first snapshot, taken
    before the other row was committed; a locking read reads the latest committed rows. A
    shared one (``LOCK IN SHARE MODE``): the failed insert holds a shared lock on the row
    already, and concurrent callers waiting for an exclusive one would deadlock. PostgreSQL
    (READ COMMITTED) and SQLite see the row with a plain read.
    """
    if session.get_bind().dialect.name == "mysql":
        return bound._clone(for_update=ForUpdate(shared=True))
    return bound


async def get_or_create(
    qs: QuerySet[Any, Any], defaults: dict[str, Any] | None, lookups: dict[str, Any]
) -> tuple[Any, bool]:
    async with unit_of_work(qs.query_state.using) as session:
        bound = qs.using(session)
        try:
            return await bound.get(**lookups), False
        except NotFoundError:
            pass
        try:
            return await _create_in_savepoint(qs, session, _create_values(lookups, defaults)), True
        except ConflictError as conflict:
            # Someone else created it between our read and our insert: read theirs. If no
            # row matches even now, the insert hit a row the lookups do not match (a taken
            # primary key or unique value): the conflict is the answer, as in Django. The
            # savepoint was rolled back, so a surrounding session stays usable.
            try:
                return await _fresh(bound, session).get(**lookups), False
            except NotFoundError:
                raise conflict from conflict.__cause__
    raise AssertionError("unreachable")  # pragma: no cover


async def update_or_create(
    qs: QuerySet[Any, Any],
    defaults: dict[str, Any] | None,
    create_defaults: dict[str, Any] | None,
    lookups: dict[str, Any],
) -> tuple[Any, bool]:
    model = qs.model
    async with unit_of_work(qs.query_state.using) as session:
        bound = qs.using(session)
        try:
            obj = await bound.select_for_update().get(**lookups)
        except NotFoundError:
            values = _create_values(
                lookups, create_defaults if create_defaults is not None else defaults
            )
            try:
                return await _create_in_savepoint(qs, session, values), True
            except ConflictError as conflict:
                # As in get_or_create: a concurrent creator's row, else the conflict stands.
                try:
                    obj = await bound.select_for_update().get(**lookups)
                except NotFoundError:
                    raise conflict from conflict.__cause__
        updates = {k: (v() if callable(v) else v) for k, v in (defaults or {}).items()}
        obj.update(**updates)
        await flush(session, model, "update_or_create")
        return obj, False
    raise AssertionError("unreachable")  # pragma: no cover
