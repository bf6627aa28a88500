"""Database lifecycle, settings, health, info, named databases and unreachable servers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orm_kit import (
    Database,
    DatabaseSettings,
    DatabaseUnavailableError,
    close_database,
    get_database,
    get_session,
    init_database,
)
from orm_kit.exceptions import ValidationError
from tests.backends import DIALECT_BACKENDS, sleep_sql, supports
from tests.models import User


async def test_health_and_info(db: Database, backend: str) -> None:
    status = await db.health()
    assert status.healthy and status.error is None
    assert status.latency_ms is not None and status.latency_ms >= 0
    info = await db.info()
    assert info["dialect"] == db.dialect
    assert DIALECT_BACKENDS.get(db.dialect, db.dialect) == backend  # MariaDB's is mysql
    assert info["version"]
    assert set(info) >= {"pool_size", "checked_out", "overflow"}


async def test_default_database_and_get_session(db: Database) -> None:
    assert get_database() is db
    async with get_session() as session:
        await User.objects.create(email="a@x.io")
        assert db.owns(session)
    assert await User.objects.count() == 1


async def test_named_database_and_using(db: Database, backend: str, sqlite_url: str) -> None:
    other_url = sqlite_url.replace("test.db", "other.db")
    async with Database(other_url, name="other") as other:
        await other.create_all()
        try:
            await User.objects.using("other").create(email="elsewhere@x.io")
            await User.objects.using(other).create(email="also@x.io")
            assert await User.objects.using("other").count() == 2
            assert await User.objects.count() == 0  # the default database is untouched
            async with other.session():
                assert await User.objects.count() == 2  # ambient session of "other"
        finally:
            await other.drop_all()
    with pytest.raises(DatabaseUnavailableError, match="other"):
        await User.objects.using("other").count()


async def test_duplicate_name_is_refused(db: Database) -> None:
    async with Database("sqlite+aiosqlite:///:memory:", name="twin"):
        with pytest.raises(ValidationError, match="named 'twin' is already connected"):
            await Database("sqlite+aiosqlite:///:memory:", name="twin").connect()
    # "default" names the default database, which is connected.
    with pytest.raises(ValidationError, match=r"'default'.*already connected"):
        await Database("sqlite+aiosqlite:///:memory:", name="default").connect()
    with pytest.raises(ValidationError, match="default database is already connected"):
        await init_database("sqlite+aiosqlite:///:memory:")  # init_database() is for the default


async def test_a_second_unnamed_database_connects_beside_the_default(
    db: Database, tmp_path: Path
) -> None:
    first = Database(f"sqlite+aiosqlite:///{tmp_path}/first.db")
    second = Database(f"sqlite+aiosqlite:///{tmp_path}/second.db")
    async with first, second:
        assert first.name is None and get_database() is db  # the first connected stays default
        assert get_database("default") is db
        for other in (first, second):
            await other.create_all()
        await User.objects.using(first).create(email="first@x.io")
        await User.objects.using(second).bulk_create([User(email="a@x.io"), User(email="b@x.io")])
        assert await User.objects.using(first).count() == 1
        assert await User.objects.using(second).count() == 2
        assert await User.objects.count() == 0  # the default database is untouched
        assert "first.db" in repr(first) and "None" not in repr(first)
    assert not first.is_connected and get_database() is db


async def test_when_the_default_disconnects_no_other_database_takes_its_place(
    db: Database, tmp_path: Path
) -> None:
    named = Database(f"sqlite+aiosqlite:///{tmp_path}/named.db", name="analytics")
    unnamed = Database(f"sqlite+aiosqlite:///{tmp_path}/unnamed.db")
    later = Database(f"sqlite+aiosqlite:///{tmp_path}/later.db")
    await named.connect()
    await unnamed.connect()
    await db.disconnect()
    try:
        # Queries never move to another database behind your back: no default now.
        with pytest.raises(DatabaseUnavailableError, match="No database is connected"):
            get_database()
        with pytest.raises(DatabaseUnavailableError, match="No database is connected"):
            await User.objects.count()
        await named.create_all()
        assert await User.objects.using("analytics").count() == 0  # names still work
        await later.connect()  # the next database connected becomes the default
        assert get_database() is later and get_database("default") is later
    finally:
        for other in (later, unnamed, named):
            await other.disconnect()
        await db.connect()
    assert get_database() is db


async def test_unreachable_database_is_a_clear_error() -> None:
    db = Database(
        "postgresql+asyncpg://postgres@127.0.0.1:1/none", name="down", connect_args={"timeout": 2}
    )
    with pytest.raises(DatabaseUnavailableError, match="could not be reached"):
        await db.connect()
    assert not db.is_connected
    with pytest.raises(DatabaseUnavailableError, match="not connected"):
        _ = db.engine
    status = await Database("postgresql+asyncpg://postgres@127.0.0.1:1/none", name="down2").health()
    assert not status.healthy and status.error


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "17")
    monkeypatch.setenv("DATABASE_POOL_PRE_PING", "true")
    monkeypatch.setenv("DATABASE_STATEMENT_CACHE_SIZE", "0")
    settings = DatabaseSettings()
    assert settings.url == "postgresql+asyncpg://u@h/db"
    assert settings.pool_size == 17 and settings.pool_pre_ping is True
    assert settings.statement_cache_size == 0
    assert Database().url.database == "db"


def test_settings_default_to_embedded_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert DatabaseSettings(_env_file=None).url.startswith("sqlite+aiosqlite:///")  # type: ignore[call-arg]


async def test_init_and_close_database_module_helpers(db: Database, tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/module.db"
    extra = await init_database(url, name="module")
    try:
        assert get_database("module") is extra
        assert get_database() is db  # the first connected stays the default
    finally:
        await close_database("module")
    with pytest.raises(DatabaseUnavailableError, match="No database named 'module'"):
        get_database("module")


async def test_cancelled_query_returns_its_connection(db: Database, backend: str) -> None:
    from sqlalchemy import text

    slow = (
        text(sleep_sql(backend, 5))
        if supports(backend, "sleep")
        else text(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
            "SELECT count(*) FROM c"
        )
    )
    task = asyncio.create_task(db.run_direct(slow, lambda r: r.scalar_one()))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(50):  # the pool gets the connection back (SQLite: once the statement ends)
        if db.engine.pool.checkedout() == 0:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.1)
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await User.objects.count() == 0  # and the database still answers


@pytest.mark.requires("pragmas")
async def test_sqlite_pragmas_and_memory_pool(db: Database) -> None:
    from sqlalchemy import text

    async with db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
    memory = Database("sqlite+aiosqlite:///:memory:", name="memory")
    async with memory:
        assert (await memory.info())["pool_size"] == 1  # one working connection
        await memory.create_all()
        await User.objects.using(memory).create(email="m@x.io")
        assert await User.objects.using(memory).count() == 1


async def test_pool_timeout_is_database_unavailable(db: Database, backend: str) -> None:
    url = db.url.render_as_string(hide_password=False)
    tiny = Database(url, name="tiny", pool_size=1, max_overflow=0, pool_timeout=0.2)
    async with tiny:
        async with tiny.session():
            await User.objects.count()  # the session now holds the only connection
            other_task = asyncio.create_task(User.objects.using(tiny).count())
            with pytest.raises(DatabaseUnavailableError, match="No connection was free"):
                await other_task
        assert await User.objects.using(tiny).count() == 0  # released again
