"""Building a SQLAlchemy ``AsyncEngine`` from a URL, ``DatabaseSettings`` and keyword
arguments: pool, driver and backend connection set-up (timeouts, the PgBouncer preset), the
error of a failed connect, and the pool and connection figures of ``info()``."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, Engine, ExceptionContext
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool
from sqlalchemy.util import await_only

from orm_kit.dialects import (
    MemoryConnection,
    is_memory_sqlite,
    keep_memory_database,
    memory_database_url,
    mysql_connect_args,
    release_memory_database,
    set_up_asyncpg,
    set_up_mysql,
    set_up_sqlite,
)
from orm_kit.exceptions import (
    DatabaseUnavailableError,
    ORMKitError,
    ValidationError,
    logger,
)
from orm_kit.observability import instrument_engine
from orm_kit.settings import DatabaseSettings
from orm_kit.sqlite_driver import one_trip_dbapi
from orm_kit.types import store_aware_datetimes_in_utc
from orm_kit.urls import missing_driver_error

__all__ = [
    "CONNECTIONS_QUERY",
    "SETTING_NAMES",
    "build_engine",
    "connect_error",
    "connection_counts",
    "mysql_pool_recycle",
    "open_engine",
    "pool_figures",
    "prepared_statement_name",
    "set_up_pgbouncer",
]

SETTING_NAMES = frozenset(DatabaseSettings.model_fields) - {"url"}
"""The ``Database(...)`` keyword arguments that are settings (the rest go to SQLAlchemy)."""

_KEYWORDS = SETTING_NAMES | {
    "url",
    "name",
    "settings",
    "replicas",
    "replica_lag_window",
    "replica_cooldown",
}
"""Every keyword ``Database(...)`` takes itself: the names a misspelt one is compared to."""


def prepared_statement_name() -> str:
    """A prepared-statement name no other client of a PgBouncer server connection uses."""
    return f"__orm_kit_{uuid4().hex}__"


def build_engine(
    url: URL, settings: DatabaseSettings, engine_kwargs: dict[str, Any]
) -> AsyncEngine:
    """Create the engine for ``url``: ``settings`` first, ``engine_kwargs`` winning.

    Raises:
        DatabaseUnavailableError: The URL's driver is not installed (naming the extra).
    """
    s = settings
    dialect = url.get_backend_name()
    kwargs: dict[str, Any] = {"echo": s.echo, "echo_pool": s.echo_pool}
    connect_args: dict[str, Any] = {}
    poolclass = engine_kwargs.get("poolclass")
    # Only a queue pool has a size: Database(url, poolclass=NullPool) must work.
    sized = poolclass is None or issubclass(poolclass, QueuePool)
    memory = is_memory_sqlite(url)
    if memory:
        # NOTE(sqlite): a named in-memory database kept alive from connect to disconnect,
        # with ONE working connection: a second session waits for the first to end (as a
        # file database's writer waits for the lock), up to pool_timeout.
        url = memory_database_url(url)
        connect_args["factory"] = MemoryConnection
        if sized:
            kwargs.update(
                poolclass=AsyncAdaptedQueuePool,
                pool_size=1,
                max_overflow=0,
                pool_timeout=s.pool_timeout,
            )
            sized = False
    if dialect == "sqlite":
        # NOTE(sqlite): a file database's pool takes the pool settings given explicitly
        # (recycling and pings only matter for a server's connections).
        kwargs.update(
            {k: getattr(s, k) for k in ("pool_recycle", "pool_pre_ping") if k in s.model_fields_set}
        )
    else:
        kwargs.update(pool_recycle=s.pool_recycle, pool_pre_ping=s.pool_pre_ping)
    if sized:
        kwargs.update(
            pool_size=s.pool_size, max_overflow=s.max_overflow, pool_timeout=s.pool_timeout
        )
    if dialect == "postgresql" and url.get_driver_name() == "asyncpg":
        connect_args.update(_asyncpg_args(url, s))
    if dialect == "mysql" and url.get_driver_name() == "asyncmy":
        connect_args.update(mysql_connect_args(s.connect_timeout))
    if s.pgbouncer and url.get_driver_name() != "asyncpg":
        raise ValidationError(
            f"pgbouncer=True (DATABASE_PGBOUNCER) configures the asyncpg driver, and "
            f"{url.render_as_string(hide_password=True)} uses {url.get_driver_name()}: use "
            "a postgresql+asyncpg:// URL, or leave pgbouncer off and set the driver up "
            "yourself through connect_args."
        )
    if dialect == "sqlite" and url.get_driver_name() == "aiosqlite":
        # NOTE(sqlite): one trip to aiosqlite's thread per statement (orm_kit.sqlite_driver).
        kwargs["module"] = one_trip_dbapi()
    user_args = engine_kwargs.get("connect_args") or {}
    kwargs.update(engine_kwargs)
    if connect_args or user_args:
        # connect_args given to Database(...) win, key by key, over orm_kit's; both
        # server_settings are kept (the user's keys winning), so statement_timeout stays.
        merged = {**connect_args, **user_args}
        if isinstance(user_args.get("server_settings"), dict) and connect_args.get(
            "server_settings"
        ):
            merged["server_settings"] = {
                **connect_args["server_settings"],
                **user_args["server_settings"],
            }
        kwargs["connect_args"] = merged
    try:
        engine = create_async_engine(url, **kwargs)
    except ImportError as exc:
        raise missing_driver_error(url, exc) from exc
    except ArgumentError as exc:
        raise _refused_argument(exc) from exc
    except TypeError as exc:
        # SQLAlchemy's "Invalid argument(s) 'x' sent to create_engine() ..."
        taken = ", ".join(sorted(SETTING_NAMES))
        close = [
            f" Did you mean {match[0]}=?"
            for key in engine_kwargs
            if (match := difflib.get_close_matches(key, _KEYWORDS, n=1, cutoff=0.8))
        ]
        raise ValidationError(
            f"Database() got a keyword argument that create_async_engine() does not take: "
            f"{str(exc).splitlines()[0]}{''.join(close)} Settings keywords are {taken}; "
            "anything else goes to create_async_engine()."
        ) from exc
    if dialect == "sqlite":
        set_up_sqlite(engine.sync_engine, wal=not memory)
    if dialect == "mysql":
        set_up_mysql(engine.sync_engine)
    if dialect == "postgresql" and url.get_driver_name() == "asyncpg":
        set_up_asyncpg(engine.sync_engine)
    # NOTE(sqlite), NOTE(mysql): DateTime(timezone=True) in UTC, read back aware.
    store_aware_datetimes_in_utc(engine.sync_engine.dialect)
    if memory:
        keep_memory_database(engine.sync_engine)
    if s.pgbouncer:
        set_up_pgbouncer(engine.sync_engine)
    instrument_engine(engine, s.slow_query_ms)
    return engine


def _refused_argument(exc: ArgumentError) -> ValidationError:
    return ValidationError(
        f"SQLAlchemy refused an engine argument: {str(exc).splitlines()[0]} Check the "
        "Database() keyword arguments that go on to create_async_engine() and connect_args=."
    )


_BEGUN = "orm_kit_pgbouncer_begun"


def set_up_pgbouncer(engine: Engine) -> None:
    """Make autocommit statements safe behind PgBouncer's transaction pooling.

    SQLAlchemy's asyncpg adapter prepares a statement and then executes it: two protocol
    exchanges, each ending in a Sync. Outside a transaction PgBouncer may hand the second
    one to another server connection, where the prepared statement does not exist. So on
    an autocommit connection (orm_kit's direct path) each statement runs between a
    ``BEGIN`` and a ``COMMIT`` sent as simple queries: still one statement per
    transaction, on one server connection. Units of work already run in a transaction.
    """
    event.listen(engine, "before_cursor_execute", _bounce_begin)
    event.listen(engine, "after_cursor_execute", _bounce_commit)
    event.listen(engine, "handle_error", _bounce_rollback)


def _autocommit_driver(conn: Connection, cursor: Any) -> Any:
    if getattr(cursor, "server_side", False):
        return None  # a server-side cursor only lives in a transaction already
    if not getattr(conn.connection.dbapi_connection, "autocommit", False):
        return None
    return conn.connection.driver_connection


def _bounce_begin(conn: Connection, cursor: Any, *_: Any) -> None:
    raw = _autocommit_driver(conn, cursor)
    if raw is not None and not raw.is_in_transaction():
        _bounce_query(conn, "BEGIN")
        conn.connection.info[_BEGUN] = True


def _bounce_commit(conn: Connection, *_: Any) -> None:
    if conn.connection.info.pop(_BEGUN, False):
        _bounce_query(conn, "COMMIT")


def _bounce_query(conn: Connection, sql: str) -> None:
    """Send ``sql`` as a simple query on ``conn``'s asyncpg connection.

    A driver error leaves as the DBAPI error SQLAlchemy's asyncpg adapter makes of it (as
    for any statement), so SQLAlchemy's error handling sees it: a dead connection is a
    disconnect, which invalidates the connection and the pool's other connections (all
    as dead after a PgBouncer restart) instead of failing once on each of them.
    """
    try:
        await_only(conn.connection.driver_connection.execute(sql))  # type: ignore[union-attr]
    except Exception as error:
        adapter: Any = conn.connection.dbapi_connection
        adapter._handle_exception(error)  # raises the translated error


def _bounce_rollback(context: ExceptionContext) -> None:
    conn = context.connection
    if conn is None or conn.invalidated or not conn.connection.info.pop(_BEGUN, False):
        return
    try:
        await_only(conn.connection.driver_connection.execute("ROLLBACK"))  # type: ignore[union-attr]
    except Exception:
        context.is_disconnect = True  # cannot end the transaction: drop the connection


def _asyncpg_args(url: URL, s: DatabaseSettings) -> dict[str, Any]:
    # NOTE(postgresql): asyncpg's connect() arguments; SQLAlchemy passes them through.
    args: dict[str, Any] = {"timeout": s.connect_timeout}
    if s.pgbouncer:
        if s.statement_cache_size:
            raise ValidationError(
                f"pgbouncer=True needs statement_cache_size=0, not {s.statement_cache_size}: "
                "behind PgBouncer in transaction mode a cached prepared statement is found "
                "missing on the next server connection. Leave DATABASE_STATEMENT_CACHE_SIZE "
                "unset (or 0)."
            )
        if s.statement_timeout is not None:
            raise ValidationError(
                "statement_timeout (DATABASE_STATEMENT_TIMEOUT) is sent as a startup "
                "parameter, which PgBouncer refuses; with pgbouncer=True set it on the "
                "server instead: ALTER ROLE app SET statement_timeout = '30s' (or ALTER "
                "DATABASE), or use PgBouncer's query_timeout."
            )
        # Transaction pooling hands each transaction (and each autocommit statement) to
        # whichever server connection is free: asyncpg's statement cache and SQLAlchemy's
        # must be off, and the statements asyncpg still prepares need names no other
        # client of that server connection uses.
        args.update(
            statement_cache_size=0,
            prepared_statement_cache_size=0,
            prepared_statement_name_func=prepared_statement_name,
        )
    elif s.statement_cache_size is not None:
        args["statement_cache_size"] = s.statement_cache_size
    if s.statement_timeout is not None:
        milliseconds = max(1, round(s.statement_timeout * 1000))
        args["server_settings"] = {"statement_timeout": str(milliseconds)}
    return args


async def open_engine(
    url: URL, settings: DatabaseSettings, engine_kwargs: dict[str, Any], name: str | None
) -> AsyncEngine:
    """``build_engine``, then check the server answers ``SELECT 1`` and log the database
    in use (dialect, name, masked URL) at INFO on the ``orm_kit`` logger.

    Raises:
        ValidationError: A keyword or connection argument the engine or driver refuses.
        SQLAlchemyError | OSError: The server cannot be reached; raw, the caller
            translates it (the session layer's choke point) and passes it to
            ``connect_error``.
    """
    engine = build_engine(url, settings, engine_kwargs)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            recycle = settings.pool_recycle
            if url.get_backend_name() == "mysql" and "pool_recycle" not in engine_kwargs:
                wait = (await conn.execute(text("SELECT @@session.wait_timeout"))).scalar()
                recycle = mysql_pool_recycle(settings.pool_recycle, int(wait or 0))
        if recycle != settings.pool_recycle:
            # NOTE(mysql): the server closes connections idle for wait_timeout seconds.
            logger.warning(
                "orm_kit: pool_recycle=%s (DATABASE_POOL_RECYCLE) is not below the server's "
                "wait_timeout, after which it closes idle connections; connections are "
                "recycled after %s s instead",
                settings.pool_recycle,
                recycle,
            )
            await engine.dispose()
            engine = build_engine(
                url, settings.model_copy(update={"pool_recycle": recycle}), engine_kwargs
            )
    except (SQLAlchemyError, OSError, TypeError) as exc:
        await engine.dispose()
        release_memory_database(engine.sync_engine)
        if isinstance(exc, ArgumentError):  # isolation_level="BOGUS" and the like
            raise _refused_argument(exc) from exc
        if isinstance(exc, TypeError):  # connect_args the driver's connect() refuses
            raise ValidationError(
                f"The {url.get_driver_name()} driver refused a connection argument: {exc}. "
                "Check connect_args= and the Database() keyword arguments."
            ) from exc
        raise  # Database.connect translates it (see connect_error)
    dialect = url.get_backend_name()
    logger.info(
        "orm_kit connected to the %s database%s at %s",
        dialect,
        f" {name!r}" if name is not None else "",
        url.render_as_string(hide_password=True),
        extra={"orm_kit_database": name, "orm_kit_dialect": dialect},
    )
    return engine


def mysql_pool_recycle(pool_recycle: int, wait_timeout: int) -> int:
    """The pool recycle time for a MariaDB / MySQL server that closes connections idle for
    ``wait_timeout`` seconds: ``pool_recycle`` when it is below that, else a little under it
    (a pooled connection the server closed would fail its next statement)."""
    if wait_timeout <= 1 or (0 <= pool_recycle < wait_timeout):
        return pool_recycle
    return max(1, wait_timeout - max(1, min(60, wait_timeout // 10)))


def connect_error(
    url: URL, settings: DatabaseSettings, exc: BaseException, error: ORMKitError
) -> ORMKitError:
    """The error of a failed ``connect()``: ``error`` (what ``translate_error`` made of
    ``exc``) with the masked URL, the driver's own words and, on a timeout, the
    ``connect_timeout`` that ran out; a SQLite file whose folder is missing or not
    writable, and a PgBouncer refusing a startup parameter, say so and what to do."""
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and "unable to open database file" in str(exc):
        return _unopenable_file(url, shown)
    if not isinstance(error, DatabaseUnavailableError):
        return error
    cause: BaseException = exc
    while getattr(cause, "orig", None) is not None or (
        type(cause).__module__.startswith("sqlalchemy") and cause.__cause__ is not None
    ):
        cause = getattr(cause, "orig", None) or cause.__cause__  # type: ignore[assignment]
    detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    if url.password:
        detail = detail.replace(str(url.password), "***")
    if isinstance(cause, TimeoutError):
        what = (
            f"the server did not answer within connect_timeout={settings.connect_timeout:g} s "
            "(DATABASE_CONNECT_TIMEOUT)"
        )
    else:
        what = f"{type(cause).__name__}: {detail}".rstrip(": ")
    host = f"{url.host}:{url.port}" if url.port else (url.host or url.query.get("host") or "")
    advice = "Check that the server is running and reachable, and that DATABASE_URL is right."
    if "unsupported startup parameter" in detail:
        # NOTE(postgresql): PgBouncer refuses startup parameters it does not track.
        advice = (
            "This is PgBouncer refusing a setting sent when connecting: statement_timeout "
            "(DATABASE_STATEMENT_TIMEOUT) is one. Unset it and set it on the server instead "
            "(ALTER ROLE app SET statement_timeout = '30s'), or add it to PgBouncer's "
            "ignore_startup_parameters; and set DATABASE_PGBOUNCER=true for transaction mode."
        )
    return DatabaseUnavailableError(
        f"The database {shown}{f' (host {host})' if host else ''} could not be reached "
        f"during connect: {what}. {advice}"
    )


def _unopenable_file(url: URL, shown: str) -> DatabaseUnavailableError:
    path = Path(url.database or "").expanduser().absolute()
    folder = path.parent
    if not folder.is_dir():
        why = f"its folder {folder} does not exist: create it first"
    elif not os.access(folder, os.W_OK | os.X_OK):
        why = f"its folder {folder} is not writable by this process: fix its permissions"
    else:
        why = "the file cannot be opened: check its permissions, and that it is a file"
    return DatabaseUnavailableError(
        f"The SQLite database file {path} ({shown}) could not be opened: {why}, or point "
        "DATABASE_URL at another path."
    )


CONNECTIONS_QUERY = text(
    "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_type = 'client backend' GROUP BY 1"
)
"""PostgreSQL: the server's client connections to the current database, per state."""

MYSQL_CONNECTIONS_QUERY = text(
    "SELECT CASE WHEN p.command <> 'Sleep' THEN 'active' "
    "WHEN t.trx_id IS NOT NULL THEN 'idle in transaction' ELSE 'idle' END, count(*) "
    "FROM information_schema.processlist p "
    "LEFT JOIN information_schema.innodb_trx t ON t.trx_mysql_thread_id = p.id "
    "WHERE p.db = database() GROUP BY 1"
)
"""MariaDB / MySQL: the same counts from the process list and InnoDB's open transactions.
A connection counts as idle in a transaction once its transaction has read or written a
row (InnoDB starts it then; one that has run only ``SELECT 1`` counts as idle), and the
server refreshes that list at most every 0.1 s."""


def connection_counts(rows: Iterable[Any]) -> dict[str, int]:
    """Fold ``CONNECTIONS_QUERY``'s rows into ``{"active": n, "idle": m, ..., "total": t}``
    (``idle in transaction`` becomes ``idle_in_transaction``; these three always appear)."""
    counts = {"active": 0, "idle": 0, "idle_in_transaction": 0}
    for state, n in rows:
        key = re.sub(r"[^a-z]+", "_", str(state).lower()).strip("_")
        counts[key] = counts.get(key, 0) + int(n)
    counts["total"] = sum(counts.values())
    return counts


def pool_figures(engine: AsyncEngine) -> dict[str, Any]:
    """The pool's ``pool_size``, ``checked_out`` and ``overflow`` (``None`` where the pool
    class has no such figure)."""
    pool = engine.pool
    figures: dict[str, Any] = {"pool_size": None, "checked_out": None, "overflow": None}
    for key, attr in (
        ("pool_size", "size"),
        ("checked_out", "checkedout"),
        ("overflow", "overflow"),
    ):
        fn = getattr(pool, attr, None)
        if callable(fn):
            figures[key] = fn()
    return figures
