"""The raw path: a cached statement of the direct path run on the pooled driver connection.

Each statement shape (a cached statement object and the keys of its parameters) is
compiled once per database: the SQL string, the order of its positional parameters with
their bind processors, and, from the first run's cursor description, each result
column's processor. A call then checks out a connection from SQLAlchemy's pool (so pool
size, recycling, pre-ping and invalidation hold), runs the SQL in one call on the driver
(asyncpg's prepared-statement cache; one trip to aiosqlite's thread through
``orm_kit.sqlite_driver``, or none, on the event loop's thread where that cannot block
it, ``OneTripConnection.run_inline``; asyncmy's cursor on MariaDB), builds
the rows with the processors and returns the connection: no ``Connection``, execution
context or ``CursorResult``.

What SQLAlchemy's engine would do around the statement is done here explicitly: orm_kit's
statement listeners (``observability.statement_watcher``: counting, slow-query log,
spans), DBAPI errors wrapped as SQLAlchemy's ``DBAPIError`` (so ``exceptions`` translates
them alike), a disconnect invalidating the connection and the pool's older ones, a
cancellation invalidating the connection. Anything else falls back to the plain path
(``plan_for`` returns ``None``): an engine with listeners of its own (a user's, PgBouncer
mode), a statement whose compiled form needs per-call work SQLAlchemy's execution context
would do (a column default that reads the context, post-compile parameters), a driver
other than orm_kit's aiosqlite adapter, asyncpg and asyncmy on MariaDB.
(``Database.run_direct`` sends only the marked cached statements here, and never inside a
pin or with replicas.) Python-side defaults that are scalars or take no argument
(``TimestampMixin``'s, ``AuditMixin``'s) are made per call here, as the context makes
them.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable, Sequence
from typing import Any, cast

import sqlalchemy
from sqlalchemy import Integer, bindparam, literal_column, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Executable
from sqlalchemy.sql import schema as sa_schema
from sqlalchemy.util.concurrency import await_

from orm_kit.greenlets import spawn
from orm_kit.observability import statement_watcher
from orm_kit.sqlite_driver import BUSY, LONG, OneTripConnection, is_one_trip_dbapi

__all__ = ["ENABLED", "RawPath", "RawResult", "missing_internals"]

_log = logging.getLogger("orm_kit.raw_path")

ENABLED = True
"""Whether cached direct-path statements may take the raw path; tests set it ``False`` to
compare with the plain path."""

_STATUS = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")
_NO_PLAN: Any = object()
_SA_SCHEMA = sa_schema.__file__


class RawResult:
    """The rows (tuples, each column processed) and rowcount of one raw-path statement,
    answering what the direct path's consumers ask of a ``Result``."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Any:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise (
                sa_exc.NoResultFound("No row was found when one was required")
                if not self._rows
                else sa_exc.MultipleResultsFound(
                    "Multiple rows were found when exactly one was required"
                )
            )
        return self._rows[0]

    def scalar_one(self) -> Any:
        return self.one()[0]


class _Plan:
    """One compiled statement shape: SQL, positional parameters, processors."""

    __slots__ = (
        "compiled",
        "consts",
        "defaults",
        "inline",
        "names",
        "procs",
        "result_procs",
        "returns_rows",
        "sql",
        "writes",
    )

    def __init__(
        self,
        compiled: Any,
        sql: str,
        names: tuple[str | None, ...],
        consts: tuple[Any, ...],
        procs: tuple[Any, ...],
        returns_rows: bool,
        defaults: tuple[tuple[int, Callable[[], Any], Any], ...],
    ) -> None:
        self.compiled, self.sql, self.names, self.consts = compiled, sql, names, consts
        self.procs, self.returns_rows, self.defaults = procs, returns_rows, defaults
        self.result_procs: tuple[Any, ...] | None = None
        # SQLite may run it on the event loop's thread (orm_kit.sqlite_driver): a read,
        # or a write where its commit cannot wait for the disk.
        self.writes = bool(compiled.isinsert or compiled.isupdate or compiled.isdelete)
        self.inline = returns_rows or self.writes

    def args(self, params: dict[str, Any]) -> list[Any]:
        out = []
        for name, const, proc in zip(self.names, self.consts, self.procs, strict=True):
            if name is None:
                out.append(const)
            else:
                value = params[name]
                out.append(value if proc is None or value is None else proc(value))
        for i, make, proc in self.defaults:  # Python-side column defaults, made per call
            value = make()
            out[i] = value if proc is None or value is None else proc(value)
        return out


def _python_default(column: Any, update: bool) -> Callable[[], Any] | None:
    """What makes ``column``'s Python-side default (``onupdate`` for an UPDATE) for one
    call, as SQLAlchemy's execution context would: a scalar, or a callable that takes no
    context (SQLAlchemy wraps those in a lambda of its own). ``None`` for anything else (a
    callable that reads the execution context): the plain path."""
    default = column.onupdate if update else column.default
    if default is None:
        return None
    if default.is_scalar:
        value = default.arg
        return lambda: value
    if not default.is_callable:
        return None
    arg = default.arg
    code = getattr(arg, "__code__", None)
    if code is None or code.co_filename != _SA_SCHEMA or getattr(arg, "__wrapped__", None) is None:
        return None  # the user's own callable of the context
    return lambda: arg(None)  # SQLAlchemy's `lambda ctx: fn()`


def _compile(stmt: Executable, params: dict[str, Any], engine: Engine) -> _Plan | None:
    """The plan of ``stmt`` with ``params``' keys, or ``None`` when it needs per-call work
    only SQLAlchemy's execution context does."""
    dialect = engine.dialect
    compiled: Any = cast(Any, stmt).compile(dialect=dialect, column_keys=sorted(params))
    if (
        not compiled.positional
        or compiled.positiontup is None
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.escaped_bind_names
        or compiled.has_out_parameters
    ):
        return None
    names: list[str | None] = []
    consts: list[Any] = []
    procs: list[Any] = []
    defaults = []
    processors = compiled._bind_processors
    prefetch = {c.key: c for c in (*compiled.insert_prefetch, *compiled.update_prefetch)}
    for i, name in enumerate(compiled.positiontup):
        bind = compiled.binds[name]
        proc = processors.get(name)
        key = bind.key if bind.key in params else name if name in params else None
        if key is None and bind.key in prefetch:
            make = _python_default(prefetch.pop(bind.key), bool(compiled.isupdate))
            if make is None:
                return None
            defaults.append((i, make, proc))
            names.append(None)
            consts.append(None)
            procs.append(None)
        elif key is None:
            if bind.callable is not None or bind.required or bind.expanding:
                return None
            value = bind.value
            names.append(None)
            consts.append(value if proc is None or value is None else proc(value))
            procs.append(None)
        else:
            names.append(key)
            consts.append(None)
            procs.append(proc)
    if prefetch:  # a default whose parameter was not found: leave it to SQLAlchemy
        return None
    returns_rows = bool(compiled._result_columns)
    return _Plan(
        compiled,
        compiled.string,
        tuple(names),
        tuple(consts),
        tuple(procs),
        returns_rows,
        tuple(defaults),
    )


_COMPILED_NAMES = (
    *("positional", "positiontup", "literal_execute_params", "post_compile_params"),
    *("escaped_bind_names", "has_out_parameters", "_bind_processors", "insert_prefetch"),
    *("update_prefetch", "binds", "isupdate", "_result_columns", "string"),
)


def missing_internals(dialect: Any, pool: Any, kind: str) -> list[str]:
    """The SQLAlchemy internals the raw path reads that this SQLAlchemy lacks (it is
    pinned to a minor release, but a patch release may still rename them): checked on a
    small compiled statement of ``dialect``, and on ``pool`` and the driver adapter of
    ``kind``. Empty when all are there."""
    probe: Any = select(literal_column("1").label("one")).where(bindparam("p", 1) == 1)
    compiled = probe.compile(dialect=dialect)
    missing = [f"SQLCompiler.{n}" for n in _COMPILED_NAMES if not hasattr(compiled, n)]
    if not hasattr(Integer(), "_cached_result_processor"):
        missing.append("TypeEngine._cached_result_processor")
    if not hasattr(pool, "_invalidate"):
        missing.append("Pool._invalidate")
    if kind == "asyncpg":
        from sqlalchemy.dialects.postgresql import asyncpg as sa_asyncpg

        adapter = sa_asyncpg.AsyncAdapt_asyncpg_connection
        missing += [
            f"AsyncAdapt_asyncpg_connection.{n}"
            for n in ("_prepare", "_handle_exception")
            if not hasattr(adapter, n)
        ]
        if not hasattr(dialect, "_invalidate_schema_cache_asof"):
            missing.append("PGDialect_asyncpg._invalidate_schema_cache_asof")
    if kind == "asyncmy":
        from sqlalchemy.dialects.mysql import asyncmy as sa_asyncmy

        mysql_adapter = sa_asyncmy.AsyncAdapt_asyncmy_connection
        missing += [
            f"AsyncAdapt_asyncmy_connection.{n}"
            for n in ("_execute_mutex", "_connection", "_handle_exception")
            if not _has_attr_in_mro(mysql_adapter, n)
        ]
    return missing


def _has_attr_in_mro(cls: type[Any], name: str) -> bool:
    return any(name in vars(k) or name in getattr(k, "__slots__", ()) for k in cls.__mro__)


class RawPath:
    """The raw path of one engine (``Database`` holds one)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Which driver's call runs a statement: orm_kit's aiosqlite adapter, or asyncpg
        # under SQLAlchemy's adapter; any other driver takes the plain path.
        dialect = engine.dialect
        self.kind: str | None = (
            "sqlite"
            if is_one_trip_dbapi(dialect.loaded_dbapi)
            else "asyncpg"
            if dialect.name == "postgresql" and dialect.driver == "asyncpg"
            # NOTE(mysql): MariaDB's connections are in autocommit (orm_kit.dialects) and
            # its INSERT has RETURNING; MySQL's keys come from the cursor's lastrowid,
            # which only SQLAlchemy's result reads: MySQL takes the plain path.
            else "asyncmy"
            if dialect.name == "mysql"
            and dialect.driver == "asyncmy"
            and getattr(dialect, "is_mariadb", False)
            else None
        )
        if self.kind is not None and (
            missing := missing_internals(dialect, engine.pool, self.kind)
        ):
            _log.warning(
                "orm_kit's raw path is off: SQLAlchemy %s lacks %s, which it reads. Every "
                "statement takes SQLAlchemy's engine instead (same results, slower); "
                "install a SQLAlchemy release orm_kit supports or report the version.",
                sqlalchemy.__version__,
                ", ".join(missing),
            )
            self.kind = None
        self._plans: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], Any]] = (
            weakref.WeakKeyDictionary()
        )

    def plan_for(self, stmt: Executable, params: Any) -> _Plan | None:
        """The cached plan of ``stmt`` with ``params`` (a dict), or ``None``: plain path."""
        if self.kind is None or not isinstance(params, dict) or not _only_ours(self.engine):
            return None
        by_keys = self._plans.get(stmt)
        if by_keys is None:
            by_keys = self._plans[stmt] = {}
        keys = tuple(params)
        plan = by_keys.get(keys, _NO_PLAN)
        if plan is _NO_PLAN:
            plan = by_keys[keys] = _compile(stmt, params, self.engine)
        return plan  # type: ignore[no-any-return]

    def run(self, plan: _Plan, params: dict[str, Any], consume: Callable[[Any], Any]) -> Any:
        """Run ``plan`` with ``params`` and hand a ``RawResult`` to ``consume`` (awaitable)."""
        return spawn(self._work, plan, params, consume)

    def _work(self, plan: _Plan, params: dict[str, Any], consume: Callable[[Any], Any]) -> Any:
        engine = self.engine
        try:
            args = plan.args(params)
        except Exception as error:  # a bind processor refused a value: as the plain path
            raise _wrapped(engine, error, plan.sql, params) from error
        fairy: Any = engine.raw_connection()
        try:
            adapted = fairy.dbapi_connection
            watcher = statement_watcher(engine)
            token = watcher.started(plan.sql, plan.compiled) if watcher is not None else None
            try:
                if self.kind == "sqlite":
                    rows, rowcount, description = _inline(adapted, plan, args)
                    if rows is None:
                        rows, rowcount, description = await_(_on_sqlite(adapted, plan.sql, args))
                elif self.kind == "asyncmy":
                    rows, rowcount, description = await_(_on_asyncmy(adapted, plan.sql, args))
                else:
                    rows, rowcount, description = await_(
                        _on_asyncpg(
                            adapted,
                            plan.sql,
                            args,
                            cast(Any, engine.dialect)._invalidate_schema_cache_asof,
                        )
                    )
            except BaseException as error:
                raised = _failed(engine, fairy, error, plan.sql, args)
                if watcher is not None:
                    watcher.failed(token, raised)
                if raised is error:
                    raise
                raise raised from error
            if watcher is not None:
                watcher.finished(token, plan.sql)
        finally:
            fairy.close()
        if plan.returns_rows:
            procs = plan.result_procs
            if procs is None:
                procs = plan.result_procs = _result_processors(plan, description, engine)
            if procs:
                rows = [
                    tuple(
                        v if p is None or v is None else p(v)
                        for p, v in zip(procs, row, strict=True)
                    )
                    for row in rows
                ]
            # (else the driver's rows as they are: sqlite3's tuples, asyncpg's Records)
        return consume(RawResult(rows if type(rows) is list else list(rows), rowcount))


def _only_ours(engine: Engine) -> bool:
    """Whether the only statement listeners on ``engine`` are orm_kit's own watcher (which
    the raw path calls itself): anyone else's need SQLAlchemy's ``Connection``."""
    events = engine.dispatch
    ours = 1 if statement_watcher(engine) is not None else 0
    return (
        not engine.echo  # SQLAlchemy's statement log is the Connection's
        and not engine._execution_options.get("schema_translate_map")
        and not (events.before_execute or events.after_execute or events.engine_connect)
        and len(events.before_cursor_execute) == ours
        and len(events.after_cursor_execute) == ours
        and len(engine.dialect.dispatch.handle_error) == ours
    )


def _result_processors(plan: _Plan, description: Sequence[Any], engine: Engine) -> tuple[Any, ...]:
    columns = plan.compiled._result_columns
    dialect = engine.dialect
    assert len(columns) == len(description), "the statement's columns and its cursor's differ"
    procs = tuple(
        column[3]._cached_result_processor(dialect, desc[1])
        for column, desc in zip(columns, description, strict=True)
    )
    return procs if any(p is not None for p in procs) else ()  # (): rows as they come


def _inline(adapted: OneTripConnection, plan: _Plan, args: list[Any]) -> tuple[Any, int, Any]:
    """A statement run on the event loop's thread (``OneTripConnection.run_inline``), or
    ``(None, -1, None)`` when it goes to the driver's thread."""
    if not plan.inline:
        return None, -1, None
    try:
        outcome = adapted.run_inline(plan.sql, args, plan.writes)
    except Exception as error:
        adapted._handle_exception(error)
    if outcome is LONG:
        plan.inline = False  # a statement of this shape may well run long again
        return None, -1, None
    if outcome is None or outcome is BUSY:
        return None, -1, None
    description, rows, rowcount, _lastrowid = outcome
    return rows, rowcount, description


async def _on_sqlite(adapted: OneTripConnection, sql: str, args: list[Any]) -> tuple[Any, int, Any]:
    try:
        description, rows, rowcount, _lastrowid = await adapted.run(sql, args, False)
    except Exception as error:
        adapted._handle_exception(error)
    return rows, rowcount, description


async def _on_asyncpg(
    adapted: Any, sql: str, args: list[Any], schema_changed: float
) -> tuple[Any, int, Any]:
    # NOTE(postgresql): on the asyncpg connection itself, outside any transaction (the
    # adapter's _transaction stays None, so the pool's reset has nothing to roll back):
    # asyncpg runs a statement outside a transaction in autocommit.
    try:
        prepared, attributes = await adapted._prepare(sql, schema_changed)
        rows = await prepared.fetch(*args)
        match = _STATUS.match(prepared.get_statusmsg() or "")
    except Exception as error:
        adapted._handle_exception(error)
    description = [(a.name, a.type.oid) for a in attributes] if attributes else None
    return rows, int(match.group(1)) if match else -1, description


async def _on_asyncmy(adapted: Any, sql: str, args: list[Any]) -> tuple[Any, int, Any]:
    # As SQLAlchemy's adapter runs a statement (its mutex, asyncmy's cursor, the rows read
    # at once), on a connection in autocommit: nothing to commit or roll back.
    try:
        async with adapted._execute_mutex:
            cursor = adapted._connection.cursor()
            try:
                await cursor.execute(sql, args)
                description = cursor.description
                rows = await cursor.fetchall() if description else []
                rowcount = cursor.rowcount
            finally:
                await cursor.close()
    except Exception as error:
        adapted._handle_exception(error)
    return rows, rowcount, description


def _failed(
    engine: Engine, fairy: Any, error: BaseException, sql: str, args: list[Any]
) -> BaseException:
    """What SQLAlchemy's ``Connection`` makes of ``error`` raised while running ``sql``:
    a DBAPI error wrapped (a disconnect invalidates the connection and the pool's older
    ones), a cancellation or a raw driver error invalidating the connection."""
    if isinstance(error, engine.dialect.loaded_dbapi.Error):
        disconnect = engine.dialect.is_disconnect(error, fairy.dbapi_connection, None)
        wrapped = _wrapped(engine, error, sql, args, disconnect=disconnect)
        if disconnect:
            engine.pool._invalidate(fairy, error)
        return wrapped
    fairy.invalidate(error)  # a cancelled or broken exchange: never reuse the connection
    return error


def _wrapped(
    engine: Engine, error: Exception, sql: str, params: Any, *, disconnect: bool = False
) -> BaseException:
    """``error`` as SQLAlchemy's ``Connection`` raises it (a ``DBAPIError``, or a
    ``StatementError`` for a non-DBAPI one), so ``orm_kit.exceptions`` translates it alike."""
    dialect = engine.dialect
    return sa_exc.DBAPIError.instance(
        sql, params, error, dialect.loaded_dbapi.Error, hide_parameters=engine.hide_parameters,
        connection_invalidated=disconnect, dialect=dialect, ismulti=False,
    )  # fmt: skip
