"""Where a statement runs, and the one place on the execution path where driver errors
become orm_kit errors.

This is the single place that chooses between the two execution paths of the design:

* a session (ambient ``db.session()`` / ``transaction()``, or ``using(session)``): the
  statement runs on the session's connection and transaction;
* otherwise the direct path: one statement in autocommit on a pooled connection.

Multi-statement work outside a session gets a short unit of work (``unit_of_work``).
Every way a query, a write or a repository call reaches the database — ``run``,
``stream``, ``on_connection``, ``flush``, ``execute_statement``, and the ``commit`` /
``rollback`` / ``refresh`` of a repository's own sessions — goes
through ``_guard``, so no raw SQLAlchemy or driver exception leaves this module. (The
session layer translates the errors of its own boundaries: connect, commit, savepoint.)
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Executable

from orm_kit import rules
from orm_kit.context import _current_session, is_foreign
from orm_kit.exceptions import ValidationError, translated
from orm_kit.signals import post_delete, post_save, pre_delete, pre_save
from orm_kit.unit_of_work import clean_up_after, keeping_first_error

if TYPE_CHECKING:
    from orm_kit.database import Database

__all__ = [
    "Target",
    "commit",
    "delete_instance",
    "execute_statement",
    "flush",
    "on_connection",
    "readable",
    "refresh",
    "resolve_target",
    "rollback",
    "run",
    "save_instance",
    "stream",
    "unit_of_work",
]

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


def _guard(
    model: type[Any] | None, operation: str, filters: tuple[str, ...] = ()
) -> AbstractContextManager[None]:
    """The choke point: anything but an orm_kit error raised inside becomes one (logged
    once, the original on ``__cause__``); cancellation passes through untouched."""
    return translated(model=model, operation=operation, filters=filters)


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
    with _guard(model, operation, filters):
        if target.session is None:
            assert target.database is not None
            return await target.database.run_direct(stmt, consume, params)
        return consume(await target.session.execute(stmt, params))


async def stream(
    target: Target, stmt: Executable, chunk_size: int, *, model: type[Any] | None
) -> AsyncIterator[tuple[Sequence[Any], Any]]:
    """Yield ``(rows, result)`` partitions of ``chunk_size`` rows of ``stmt``: on the
    session, or outside one on one connection (a server-side cursor where the driver has
    one)."""
    stmt = stmt.execution_options(yield_per=chunk_size)
    with _guard(model, "iterate"):
        if target.session is not None:
            result = await target.session.stream(stmt)
            async for partition in result.partitions(chunk_size):
                yield partition, result
            return
        assert target.database is not None
        # (a connection that dies mid-stream must report why, not its failed rollback)
        async with keeping_first_error(target.database.connection(read=True)) as conn:
            result = await conn.stream(stmt)
            async for partition in result.partitions(chunk_size):
                yield partition, result


async def on_connection(
    target: Target,
    work: Callable[[AsyncConnection, str], Awaitable[ResultT]],
    *,
    model: type[Any],
    operation: str,
    join: list[Any] | None = None,
) -> ResultT:
    """Run ``work(conn, dialect_name)`` in the session, or in one transaction outside one.

    Inside a session it runs under a savepoint, so a failure undoes all of it while the
    session goes on (on SQLite a failed statement only undoes itself); the instances in
    ``join`` (bulk-created ones with a related object set) are added to the session once
    written, as persistent rows.
    """
    with _guard(model, operation):
        if target.session is not None:
            session = target.session
            with warnings.catch_warnings():
                if join:
                    # Item(owner=owner) put the new items into owner.items (a backref),
                    # so the savepoint's flush says it will not insert them; this call
                    # inserts them, and adds them to the session afterwards.
                    warnings.filterwarnings(
                        "ignore", message=f"Object of type <{model.__name__}> not in session"
                    )
                nested = await session.begin_nested().start()
            try:
                conn = await session.connection()
                result = await work(conn, conn.dialect.name)
            except BaseException as exc:
                await clean_up_after(exc, nested.rollback())
                raise
            await nested.commit()
            if join:
                session.add_all(join)
            return result
        assert target.database is not None
        async with keeping_first_error(target.database.connection(transaction=True)) as conn:
            return await work(conn, conn.dialect.name)


async def execute_statement(using: Any, stmt: Executable, *, model: type[Any]) -> Result[Any]:
    """Run a SQLAlchemy statement of the caller's (``Repository.execute``): on the session,
    or in a short unit of work, committed, whose Result stays readable afterwards."""
    target = resolve_target(using)
    with _guard(model, "execute"):
        if target.session is not None:
            return await target.session.execute(stmt)
        async with unit_of_work(using) as session:
            return readable(await session.execute(stmt))
    raise AssertionError("unreachable")  # pragma: no cover


def readable(result: Result[Any]) -> Result[Any]:
    """``result`` in a form that stays readable once its session is closed."""
    if isinstance(result, CursorResult):
        # A Core-level result (update(), delete(), text(), inserts): the asyncio layer has
        # buffered its rows and read its rowcount already, so it stays readable once the
        # session is closed. (freeze() would refuse one that returns no rows, and drop the
        # rowcount.)
        return result
    # ORM rows are built by the session's loading machinery: build them now.
    return result.freeze()()


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
    with _guard(model, operation):
        await session.flush()


async def commit(session: AsyncSession, model: type[Any]) -> None:
    """Commit ``session`` (one the caller opened for a repository call), translating
    driver errors: a constraint checked at commit is a ``ConflictError``."""
    with _guard(model, "commit"):
        await session.commit()


async def rollback(session: AsyncSession, model: type[Any]) -> None:
    """Roll ``session`` back, translating driver errors."""
    with _guard(model, "rollback"):
        await session.rollback()


async def refresh(session: AsyncSession, obj: Any, names: list[str]) -> None:
    """Load the attributes ``names`` of ``obj`` from the database, translating errors."""
    with _guard(type(obj), "refresh"):
        await session.refresh(obj, attribute_names=names)


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
                await run(
                    Target(session, None), follow_up, _ignore, rows, model=model, operation="delete"
                )
        await post_delete.send(model, instance=obj, soft=soft)
    return count


def _ignore(result: Result[Any]) -> None:
    return None
