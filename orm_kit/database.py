"""``Database``: the engine and session-factory lifecycle, named databases, health and info.

A ``Database`` owns one SQLAlchemy ``AsyncEngine`` and two ways of running statements:

* the *direct path* — a single statement on a pooled connection in autocommit (one round
  trip, no unit of work), used by manager calls outside a session;
* the *session path* — an ``AsyncSession`` with ``expire_on_commit=False``, used inside
  ``db.session()`` / ``transaction()`` and for multi-statement work.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from sqlalchemy import MetaData, text
from sqlalchemy.engine import URL, Connection, Result
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)
from sqlalchemy.sql import Executable

from orm_kit import raw_path
from orm_kit.connections import get_database
from orm_kit.connections import registry as _registry
from orm_kit.context import _current_session, is_foreign
from orm_kit.dialects import (
    CACHED_OPTION,
    DIRECT_OPTION,
    UNIT_OF_WORK_OPTION,
    compile_ddl,
    release_memory_database,
)
from orm_kit.engine import (
    CONNECTIONS_QUERY,
    MYSQL_CONNECTIONS_QUERY,
    SETTING_NAMES,
    connect_error,
    connection_counts,
    open_engine,
    pool_figures,
)
from orm_kit.exceptions import (
    DatabaseUnavailableError,
    ORMKitError,
    ValidationError,
    logger,
    raw_use,
    translate_error,
    translated,
)
from orm_kit.greenlets import spawn
from orm_kit.replicas import ReplicaRouter, check_replica_options, is_plain_read
from orm_kit.retrying import DEFAULT_BACKOFF, RetryingTransaction, isolated, opened
from orm_kit.settings import DatabaseSettings, env_prefix
from orm_kit.unit_of_work import (
    OrmKitAsyncSession,
    OrmKitSession,
    Pin,
    in_savepoint,
    run_unit_of_work,
    savepoint,
)
from orm_kit.urls import normalize_url

__all__ = [
    "Database",
    "HealthStatus",
    "close_database",
    "get_database",
    "get_session",
    "init_database",
]

ResultT = TypeVar("ResultT")

SESSION_DB_KEY = "orm_kit_database"


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """The outcome of ``Database.health``."""

    healthy: bool
    latency_ms: float | None
    timestamp: datetime
    error: str | None = None


_default_metadata: list[MetaData] = []


def set_default_metadata(metadata: MetaData) -> None:
    """Make ``metadata`` what ``create_all()`` / ``drop_all()`` use when given none (the
    model layer registers ``Model.metadata``: this layer knows no models)."""
    _default_metadata[:] = [metadata]


def _metadata(metadata: MetaData | None) -> MetaData:
    if metadata is not None:
        return metadata
    if not _default_metadata:
        raise ValidationError(
            "create_all() / drop_all() got no metadata and no models are defined; pass "
            "the MetaData whose tables to create, e.g. `await db.create_all(Model.metadata)`."
        )
    return _default_metadata[0]


class Database:
    """A database orm_kit can run models against.

    Args:
        url: A SQLAlchemy async URL. ``None`` reads ``DATABASE_URL`` (then the SQLite default).
        name: The name to find it by with ``Model.objects.using(name)`` /
            ``get_database(name)``; two connected databases cannot share one. Optional:
            an unnamed database is reached by passing the ``Database`` itself to
            ``using()``. Whichever database connects first (while there is no default)
            is the default one, also called ``"default"``.
        settings: Explicit settings; by default read from the environment / ``.env``
            (``<NAME>_DATABASE_*`` first for a named database, then ``DATABASE_*``).
        **engine_kwargs: A ``DatabaseSettings`` field (``pool_size=20``,
            ``statement_timeout=30``, ``pgbouncer=True`` ...) overrides that setting;
            anything else is passed on to ``create_async_engine`` and wins over the
            settings. One it does not take raises ``ValidationError`` at ``connect()``.
        replicas: URLs of read replicas, for the reads outside a unit of work;
            ``replica_lag_window`` and ``replica_cooldown`` tune them (``ReplicaRouter``).

    Example:
        ```python
        db = Database("sqlite+aiosqlite:///./app.db")
        async with db:                       # connect() ... disconnect()
            await db.create_all()
            async with db.session():
                await User.objects.create(email="a@x.io")
        ```
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        name: str | None = None,
        settings: DatabaseSettings | None = None,
        replicas: Sequence[str | URL] = (),
        replica_lag_window: float | None = None,
        replica_cooldown: float = 30.0,
        **engine_kwargs: Any,
    ) -> None:
        overrides = {k: engine_kwargs.pop(k) for k in list(engine_kwargs) if k in SETTING_NAMES}
        base = settings if settings is not None else DatabaseSettings.for_name(name)
        self.settings = base.updated(**overrides) if overrides else base
        self.url: URL = normalize_url(url if url is not None else self.settings.url)
        if url is None and "url" not in self.settings.model_fields_set:
            prefix = env_prefix(name)
            variables = f"{prefix}URL or DATABASE_URL" if prefix != "DATABASE_" else "DATABASE_URL"
            logger.warning(
                "No database URL is set (%s, a .env file or Database(url)); "
                "using the embedded SQLite default %s.",
                variables,
                self.url.render_as_string(hide_password=True),
            )
        self.name = name
        self._engine_kwargs = engine_kwargs
        self._engine: AsyncEngine | None = None
        self._direct_engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._read_sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._pin: Pin | None = None
        self._raw: raw_path.RawPath | None = None
        self.router: ReplicaRouter | None = None  # where reads go, with replicas
        check_replica_options(replicas, replica_lag_window, replica_cooldown)
        if replicas:
            self.router = ReplicaRouter(
                replicas, self.dialect, self.settings, engine_kwargs,
                lag_window=replica_lag_window, cooldown=replica_cooldown,
            )  # fmt: skip

    def __repr__(self) -> str:
        state = "connected" if self._engine is not None else "disconnected"
        named = f" {self.name!r}" if self.name is not None else ""
        return f"<Database{named} {self.url.render_as_string(hide_password=True)} {state}>"

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def dialect(self) -> str:
        """The dialect name: ``"sqlite"``, ``"postgresql"``, ``"mysql"`` ..."""
        return self.url.get_backend_name()

    @property
    def is_connected(self) -> bool:
        """Whether ``connect`` has run (and ``disconnect`` has not)."""
        return self._engine is not None

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy ``AsyncEngine``.

        Raises:
            DatabaseUnavailableError: The database is not connected.
        """
        if self._engine is None:
            raise DatabaseUnavailableError(
                f"{self!r} is not connected. Call `await db.connect()` "
                "(or use `async with db:`) before running queries."
            )
        return self._engine

    async def connect(self) -> Database:
        """Create the engine, check that the server answers, and register this database.

        Logs the database in use (dialect, name, URL with the password masked) at INFO on
        the ``orm_kit`` logger.

        Returns:
            The database itself, so ``db = await Database(url).connect()`` works.

        Raises:
            DatabaseUnavailableError: The server cannot be reached (or did not answer
                within ``connect_timeout``); the message names the masked URL and host and
                keeps the driver's words.
            ValidationError: A keyword argument or connection argument the engine or the
                driver does not take, or settings that contradict each other.
        """
        if self._engine is not None:
            return self
        _registry.check_free(self)
        try:
            engine = await open_engine(self.url, self.settings, self._engine_kwargs, self.name)
        except (SQLAlchemyError, OSError) as exc:
            error = translate_error(exc, operation="connect")
            raise connect_error(self.url, self.settings, exc, error) from exc
        self._engine = engine
        self._raw = raw_path.RawPath(engine.sync_engine)
        if self.dialect in ("sqlite", "mysql"):  # autocommit already (orm_kit.dialects)
            self._direct_engine = engine.execution_options(**{DIRECT_OPTION: True})
        else:
            self._direct_engine = engine.execution_options(
                isolation_level="AUTOCOMMIT", **{DIRECT_OPTION: True}
            )
        self._sessionmaker = async_sessionmaker(
            engine.execution_options(**{UNIT_OF_WORK_OPTION: True}),
            class_=OrmKitAsyncSession,  # raw SQLAlchemy use raises orm_kit errors too
            expire_on_commit=False,
            sync_session_class=OrmKitSession,
            info={SESSION_DB_KEY: self},  # db.owns() knows every session it makes
        )
        self._read_sessionmaker = async_sessionmaker(
            self._direct_engine, expire_on_commit=False, sync_session_class=OrmKitSession
        )
        if self.router is not None:
            await self.router.connect(engine, self._direct_engine, self._on_engine)
        _registry.add(self)
        return self

    async def disconnect(self) -> None:
        """Dispose of the engine and its pool and unregister this database.

        If it was the default database there is no default until the next database
        connects (another connected database is not promoted: queries never move to a
        different database behind the caller's back).
        """
        engine, self._engine = self._engine, None
        self._direct_engine = None
        self._raw = None
        self._sessionmaker = None
        self._read_sessionmaker = None
        _registry.remove(self)
        if engine is not None:
            if self.router is not None:
                await self.router.dispose(engine)
            await engine.dispose()
            release_memory_database(engine.sync_engine)  # in-memory SQLite: frees it

    async def __aenter__(self) -> Database:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    # --- sessions -----------------------------------------------------------------------

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """The session factory of this database: ``db.sessionmaker()`` is a new session.

        Hand it to code that takes a session factory (``Repository(User, db.sessionmaker)``,
        a dependency-injection container, ``async with db.sessionmaker() as session:``).
        Its sessions carry every model rule and are recognised by ``db.owns(session)``;
        like ``new_session()``, they use ``expire_on_commit=False`` and the caller commits
        and closes them.

        Raises:
            DatabaseUnavailableError: The database is not connected.
        """
        if self._sessionmaker is None:
            self.engine  # noqa: B018 - raises the not-connected error
            raise AssertionError  # pragma: no cover
        return self._sessionmaker

    def new_session(self) -> AsyncSession:
        """Return a new ``AsyncSession`` bound to this database (the caller closes it)."""
        if self._sessionmaker is None:
            self.engine  # noqa: B018 - raises the not-connected error
            raise AssertionError  # pragma: no cover
        return self._open(self._sessionmaker)

    def _open(self, maker: async_sessionmaker[AsyncSession]) -> AsyncSession:
        pin = self._pinned_connection()
        join: dict[str, Any] = {"bind": pin, "join_transaction_mode": "create_savepoint"}
        session = maker() if pin is None else maker(**join)
        session.info[SESSION_DB_KEY] = self
        return session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session whose statements run in autocommit (no BEGIN / COMMIT).

        For reads that need the ORM's loaders outside a unit of work (``select_related``,
        ``prefetch_related``): each statement is atomic on its own, as Django's reads are
        in autocommit. Never made ambient; never used for writes.
        """
        if self._read_sessionmaker is None:
            self.engine  # noqa: B018 - raises the not-connected error
            raise AssertionError  # pragma: no cover
        maker, router = self._read_sessionmaker, self.router if self._pin is None else None
        session = await router.open_session(maker, self._open) if router else self._open(maker)
        try:
            yield session
        finally:
            await session.close()

    def owns(self, session: AsyncSession) -> bool:
        """Whether ``session`` was opened by this database."""
        return session.info.get(SESSION_DB_KEY) is self

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Open one unit of work: commit on success, roll back on error.

        Inside the block the session is the ambient one, so every manager call uses it.
        Nested inside another ``session()`` of the same database, the outer session is
        reused (use ``transaction`` for a savepoint).
        """
        outer = _current_session.get()
        if outer is not None and self.owns(outer) and not is_foreign(outer):
            yield outer
            return
        async with run_unit_of_work(self) as session:
            yield session

    @overload
    def transaction(
        self, *, retries: None = None, backoff: float = ..., isolation_level: str | None = None
    ) -> AbstractAsyncContextManager[AsyncSession]: ...
    @overload
    def transaction(
        self, *, retries: int, backoff: float = ..., isolation_level: str | None = None
    ) -> RetryingTransaction: ...
    def transaction(
        self,
        *bare: object,
        retries: int | None = None,
        backoff: float = DEFAULT_BACKOFF,
        isolation_level: str | None = None,
    ) -> AbstractAsyncContextManager[AsyncSession] | RetryingTransaction:
        """Return ``transaction()`` bound to this database: a SAVEPOINT inside a session of
        this database, else a new unit of work on it (``retries``, ``backoff`` and
        ``isolation_level`` as in ``orm_kit.transaction.transaction``)."""
        if bare:  # @db.transaction without the parentheses
            raise ValidationError(
                f"db.transaction was given {bare[0]!r}: as a decorator write "
                "`@db.transaction()` (with the parentheses) or `@db.transaction(retries=3)`."
            )

        def open_() -> tuple[AbstractAsyncContextManager[AsyncSession], bool]:
            ambient = _current_session.get()
            if ambient is not None and self.owns(ambient) and not is_foreign(ambient):
                return savepoint(ambient), True
            return run_unit_of_work(self), False

        if retries is not None:
            return RetryingTransaction(
                open_, retries=retries, backoff=backoff, isolation_level=isolation_level
            )
        return opened(open_) if isolation_level is None else isolated(open_, isolation_level)

    # --- the direct path ----------------------------------------------------------------

    async def run_direct(
        self,
        stmt: Executable,
        consume: Callable[[Result[Any]], ResultT],
        params: Any = None,
    ) -> ResultT:
        """Run one statement in autocommit on a pooled connection and consume its result.

        The connection goes back to the pool before this returns, also on error or
        cancellation. Errors come out as SQLAlchemy / driver errors: callers on the
        execution path go through ``orm_kit.query.executor``, which translates them. With
        replicas, a plain read may run on one (``orm_kit.replicas``).
        """
        engine = self._direct_engine
        if engine is None:
            self.engine  # noqa: B018 - raises the not-connected error
            raise AssertionError  # pragma: no cover
        if (pin := self._pinned_connection()) is not None:
            return await pin.run_sync(in_savepoint, lambda c: consume(c.execute(stmt, params)))
        if self.router is not None:
            if is_plain_read(stmt):
                return await self.router.read(stmt, consume, params)
        elif (
            raw_path.ENABLED
            and stmt._execution_options.get(CACHED_OPTION)
            and self._raw is not None
            and (plan := self._raw.plan_for(stmt, params)) is not None
        ):
            # A cached statement of the direct path, on the driver itself (raw_path).
            done: ResultT = await self._raw.run(plan, params, consume)
            return done
        return await self._on_engine(engine, stmt, consume, params)

    def _on_engine(
        self,
        engine: AsyncEngine,
        stmt: Executable,
        consume: Callable[[Result[Any]], ResultT],
        params: Any,
    ) -> Awaitable[ResultT]:
        """Run ``stmt`` in autocommit on a pooled connection of ``engine`` (``run_direct``;
        not a coroutine itself, so the hot path awaits no extra frame)."""
        sync_engine = engine.sync_engine

        # One greenlet hop for checkout, execute, consume and release, instead of one per
        # step as AsyncConnection does: this is the hot path of every single-statement call.
        def work() -> ResultT:
            with sync_engine.connect() as conn:
                try:
                    return consume(conn.execute(stmt, params))
                except SQLAlchemyError:
                    raise  # SQLAlchemy has already judged the connection
                except Exception:
                    # A raw error from inside the driver (an encoding failure mid-message)
                    # can leave the connection unusable: never hand it to the next caller.
                    conn.invalidate()
                    raise

        return spawn(work)

    @asynccontextmanager
    async def connection(
        self, *, transaction: bool = False, read: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """Yield a connection of the engine, in a transaction committed at the end if
        ``transaction``; while pinned (``orm_kit.testing``) the pinned one, in a SAVEPOINT.
        ``read``: only reads run on it, so with replicas it may be a replica's. A statement
        that fails in the block raises its orm_kit error as the block ends."""
        with raw_use("a statement on the connection"):
            if (pin := self._pinned_connection()) is not None:
                async with pin.begin_nested():
                    yield pin
                return
            engine = self.engine
            replica = self.router.read_connection(engine) if read and self.router else None
            async with replica or (engine.begin() if transaction else engine.connect()) as conn:
                yield conn

    # --- pinning to one connection (the hook of orm_kit.testing) -------------------------

    def _pinned(self, connection: AsyncConnection) -> Pin:
        """Run all of this database on ``connection`` in ``with db._pinned(conn):`` (``Pin``)."""
        return Pin(self, connection)

    def _pinned_connection(self) -> AsyncConnection | None:
        return None if self._pin is None else self._pin.connection()

    # --- schema -------------------------------------------------------------------------

    async def _run_sync(self, fn: Callable[[Connection], None], operation: str) -> None:
        with translated(operation=operation):
            async with self.connection(transaction=True) as conn:
                await conn.run_sync(fn)

    async def create_all(self, metadata: MetaData | None = None) -> None:
        """Create every table of ``metadata`` that does not exist yet.

        Args:
            metadata: The tables; by default ``Model.metadata`` (every orm_kit model).
        """
        tables = _metadata(metadata)
        with translated(operation="create_all"):
            compile_ddl(tables, self.engine.dialect)  # all or nothing sent (MySQL's DDL commits)
        await self._run_sync(tables.create_all, "create_all")

    async def drop_all(self, metadata: MetaData | None = None) -> None:
        """Drop every table of ``metadata`` (by default ``Model.metadata``)."""
        await self._run_sync(_metadata(metadata).drop_all, "drop_all")

    async def reset(self, metadata: MetaData | None = None) -> None:
        """Drop and re-create every table (tests and scripts; migrations are for production)."""
        with translated(operation="reset"):  # nothing dropped if the tables cannot be made
            compile_ddl(_metadata(metadata), self.engine.dialect)
        await self.drop_all(metadata)
        await self.create_all(metadata)

    # --- health and info ----------------------------------------------------------------

    async def health(self) -> HealthStatus:
        """Run ``SELECT 1`` and report whether it worked and how long it took.

        Never raises for an unreachable database: the error is in the result.
        """
        start = time.perf_counter()
        try:
            with translated(operation="health"):
                await self.run_direct(text("SELECT 1"), lambda r: r.scalar_one())
        except ORMKitError as exc:
            return HealthStatus(False, None, datetime.now(UTC), str(exc))
        latency = (time.perf_counter() - start) * 1000
        return HealthStatus(True, round(latency, 3), datetime.now(UTC), None)

    async def info(self) -> dict[str, Any]:
        """Return the server version, dialect, pool figures and server connections.

        ``pool_size`` / ``checked_out`` / ``overflow`` are this process's pool;
        ``connections`` counts every client connection to this database on the server
        (PostgreSQL's ``pg_stat_activity``, MariaDB / MySQL's process list), e.g.
        ``{"active": 1, "idle": 4, "idle_in_transaction": 0, "total": 5}``, and is
        ``None`` on SQLite, which is embedded and has no server connections.
        """
        query = "SELECT sqlite_version()" if self.dialect == "sqlite" else "SELECT version()"
        connections = None
        with translated(operation="info"):
            version = await self.run_direct(text(query), lambda r: r.scalar_one())
            if self.dialect in ("postgresql", "mysql"):
                counting = (
                    CONNECTIONS_QUERY if self.dialect == "postgresql" else MYSQL_CONNECTIONS_QUERY
                )
                connections = await self.run_direct(counting, lambda r: connection_counts(r.all()))
        figures = pool_figures(self.engine)
        if self.router is not None:
            with translated(operation="info"):
                figures["replicas"] = await self.router.info()
        return {
            "version": str(version),
            "dialect": self.dialect,
            **figures,
            "connections": connections,
        }


# --- module level helpers for the default database ---------------------------------------


async def init_database(url: str | None = None, **engine_kwargs: Any) -> Database:
    """Connect the default database (from ``url`` or the settings) and return it.

    With ``name=`` it connects a named database instead (the default one if none is).

    Raises:
        ValidationError: No ``name=`` was given and a default database is connected.
    """
    if engine_kwargs.get("name") is None and _registry.default is not None:
        raise ValidationError(
            f"The default database is already connected ({_registry.default!r}). Call "
            "`await close_database()` first, or connect another one with "
            "`Database(url).connect()` or `init_database(url, name=...)`."
        )
    return await Database(url, **engine_kwargs).connect()


async def close_database(name: str | None = None) -> None:
    """Disconnect the default database (or the one called ``name``), if connected."""
    db = _registry.lookup(name)
    if db is not None:
        await db.disconnect()


@asynccontextmanager
async def get_session() -> AsyncIterator[AsyncSession]:
    """Open a unit of work on the default database (see ``Database.session``)."""
    async with get_database().session() as session:
        yield session
