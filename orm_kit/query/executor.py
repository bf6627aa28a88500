"""Where a statement runs: the ambient or given session, or the direct autocommit path.

This is the single place that chooses between the two execution paths of the design:

* a session (ambient ``db.session()`` / ``transaction()``, or ``using(session)``): the
  statement runs on the session's connection and transaction;
* otherwise the direct path: one statement in autocommit on a pooled connection.

Multi-statement work outside a session gets a short unit of work (:func:`unit_of_work`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from orm_kit import rules
from orm_kit.context import _current_session, is_foreign
from orm_kit.exceptions import ValidationError, translated
from orm_kit.signals import post_delete, post_save, pre_delete, pre_save

if TYPE_CHECKING:
    from orm_kit.database import Database

__all__ = ["Target", "resolve_target", "run", "save_instance", "unit_of_work"]

ResultT = TypeVar("ResultT")


@dataclass(frozen=True, slots=True)
class Target:
    """The resolved place to run: a session, or a database's direct path."""

    session: AsyncSession | None
    database: Database | None


def _database_of(using: Any) -> Database:
    from orm_kit.database import Database, get_database

    if isinstance(using, Database):
        if not using.is_connected:
            using.engine  # noqa: B018 - raises the not-connected error
        return using
    if using is None or isinstance(using, str):
        return get_database(using)
    raise ValidationError(
        f"using() takes an AsyncSession, a Database or a database name, not {type(using).__name__}."
    )


def resolve_target(using: Any) -> Target:
    """Choose the session or database a query runs on (see the module docstring)."""
    if isinstance(using, AsyncSession):
        return Target(using, None)
    ambient = _current_session.get()
    foreign = ambient is not None and is_foreign(ambient)
    if using is None:
        if ambient is not None:
            if foreign:
                raise ValidationError(
                    "This task inherited the ambient session of another task (it was created "
                    "inside `db.session()` / `transaction()`), and one session cannot serve "
                    "two tasks at once. Open `async with db.session():` inside the task, or "
                    "call `.using(db)` to run in autocommit."
                )
            return Target(ambient, None)
        return Target(None, _database_of(None))
    db = _database_of(using)
    if ambient is not None and not foreign and db.owns(ambient):
        return Target(ambient, db)
    return Target(None, db)


async def run(
    target: Target,
    stmt: Executable,
    consume: Callable[[Result[Any]], ResultT],
    params: Any = None,
    *,
    model: type[Any] | None = None,
    operation: str = "query",
    filters: tuple[str, ...] = (),
) -> ResultT:
    """Run one statement (with ``params``, a dict or a list of dicts) on ``target`` and
    hand its result to ``consume``."""
    if target.session is None:
        assert target.database is not None
        return await target.database.run_direct(
            stmt, consume, params, model=model, operation=operation, filters=filters
        )
    with translated(model=model, operation=operation, filters=filters):
        return consume(await target.session.execute(stmt, params))


@asynccontextmanager
async def unit_of_work(using: Any) -> AsyncIterator[AsyncSession]:
    """Yield the session to use for multi-statement work.

    Inside a session that session is yielded as is; outside one a short unit of work is
    opened on the target database and committed at the end of the block.
    """
    target = resolve_target(using)
    if target.session is not None:
        yield target.session
        return
    assert target.database is not None
    async with target.database.session() as session:
        yield session


async def flush(session: AsyncSession, model: type[Any], operation: str) -> None:
    """Flush ``session``, translating driver errors."""
    with translated(model=model, operation=operation):
        await session.flush()


async def save_instance(obj: Any, using: Any) -> None:
    """Insert or update ``obj`` through the unit of work (changed columns only), sending
    ``pre_save`` / ``post_save`` inside it."""
    model = type(obj)
    created = sa_inspect(obj).key is None
    async with unit_of_work(using) as session:
        if pre_save.has_receivers(model):
            await pre_save.send(model, instance=obj, created=created)
        session.add(obj)
        await flush(session, model, "save")
        if post_save.has_receivers(model):
            await post_save.send(model, instance=obj, created=created)


async def delete_instance(obj: Any, using: Any, operation: Any, *, soft: bool) -> int:
    """Run ``operation(using)`` (the row's delete), with ``pre_delete`` / ``post_delete``
    sent in the same unit of work when receivers are connected."""
    model = type(obj)
    recorded = rules.records(model)
    if not (recorded or pre_delete.has_receivers(model) or post_delete.has_receivers(model)):
        count: int = await operation(using)
        return count
    async with unit_of_work(using) as session:
        await pre_delete.send(model, instance=obj, soft=soft)
        with rules.instance_write():  # the statement inside is reported as this delete
            count = await operation(session)
        if recorded and count:
            event = rules.WriteEvent(model, "soft_delete" if soft else "delete", objects=(obj,))
            for follow_up, rows in rules.after_write(event):
                with translated(model=model, operation="delete"):
                    await session.execute(follow_up, rows)
        await post_delete.send(model, instance=obj, soft=soft)
    return count
