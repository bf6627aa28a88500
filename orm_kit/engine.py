"""Building a SQLAlchemy ``AsyncEngine`` from a URL, ``DatabaseSettings`` and keyword
arguments: pool, driver and backend connection set-up, and the pool figures of ``info()``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool, StaticPool

from orm_kit.dialects import set_up_sqlite
from orm_kit.observability import instrument_engine
from orm_kit.settings import DatabaseSettings
from orm_kit.urls import missing_driver_error

__all__ = ["build_engine", "pool_figures"]


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
    if dialect == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or "mode=memory" in str(url):
            # NOTE(sqlite): one shared connection, or every checkout sees an empty db.
            kwargs["poolclass"] = StaticPool
            connect_args["check_same_thread"] = False
    else:
        kwargs.update(pool_recycle=s.pool_recycle, pool_pre_ping=s.pool_pre_ping)
        poolclass = engine_kwargs.get("poolclass")
        if poolclass is None or issubclass(poolclass, QueuePool):
            # Only a queue pool has a size: Database(url, poolclass=NullPool) must work.
            kwargs.update(
                pool_size=s.pool_size,
                max_overflow=s.max_overflow,
                pool_timeout=s.pool_timeout,
            )
        if url.get_driver_name() == "asyncpg" and s.statement_cache_size is not None:
            # NOTE(postgresql): 0 for PgBouncer in transaction mode.
            connect_args["statement_cache_size"] = s.statement_cache_size
    if connect_args:
        kwargs["connect_args"] = connect_args
    kwargs.update(engine_kwargs)
    try:
        engine = create_async_engine(url, **kwargs)
    except ImportError as exc:
        raise missing_driver_error(url, exc) from exc
    if dialect == "sqlite":
        set_up_sqlite(engine.sync_engine, wal=kwargs.get("poolclass") is not StaticPool)
    instrument_engine(engine, s.slow_query_ms)
    return engine


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
