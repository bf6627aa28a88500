"""Operational settings against real servers: keywords that reach the engine, the connect
timeout (a server that accepts and never answers), the statement timeout, named databases'
variables, the connect log line and ``info()``'s server connection counts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from orm_kit import Database, DatabaseError, DatabaseUnavailableError
from orm_kit.exceptions import translated
from tests.backends import dialect_of
from tests.models import User


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    release = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def test_the_connect_timeout_ends_a_connect_that_gets_no_answer(
    silent_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(
        f"postgresql://app:s3cret@127.0.0.1:{silent_server}/app", name="mute", connect_timeout=0.5
    )
    start = time.perf_counter()
    with pytest.raises(DatabaseUnavailableError) as caught:
        await db.connect()
    elapsed = time.perf_counter() - start
    message = str(caught.value)
    print(f"connect_timeout=0.5 gave up after {elapsed:.3f} s: {message}")
    assert elapsed < 5  # the default connect_timeout (10 s) did not apply; asyncpg's 60 s neither
    assert f"127.0.0.1:{silent_server}" in message
    assert "connect_timeout=0.5 s" in message and "DATABASE_CONNECT_TIMEOUT" in message
    assert "s3cret" not in message and "app:***@" in message
    assert "s3cret" not in caplog.text
    assert not db.is_connected


async def test_a_refused_connect_keeps_the_drivers_words_and_the_host() -> None:
    db = Database("postgresql://app:s3cret@127.0.0.1:1/app", name="refused")
    with pytest.raises(DatabaseUnavailableError, match="could not be reached") as caught:
        await db.connect()
    message = str(caught.value)
    assert "ConnectionRefusedError" in message and "Connect call failed" in message
    assert "(host 127.0.0.1:1)" in message
    assert "s3cret" not in message


async def test_settings_keywords_reach_the_engine(db: Database) -> None:
    await User.objects.create(email="a@x.io")
    url = db.url.render_as_string(hide_password=False)
    async with Database(url, name="tuned", pool_size=2, max_overflow=1, pool_timeout=3) as tuned:
        info = await tuned.info()
        assert (info["pool_size"], info["checked_out"]) == (2, 0)
        assert tuned.engine.pool.timeout() == 3  # type: ignore[attr-defined]
        assert await User.objects.using(tuned).count() == 1


async def test_the_connect_log_names_the_database_and_never_the_password(
    backend: str, backend_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_url(backend_url)
    if backend == "postgresql":
        # The test server trusts local connections, so any password is accepted (and sent).
        url = url.set(password="s3cret-pw")
    with caplog.at_level(logging.INFO, logger="orm_kit"):
        async with Database(url.render_as_string(hide_password=False), name="logged") as db:
            pass
    lines = [r for r in caplog.records if r.levelno == logging.INFO and "connected" in r.message]
    assert len(lines) == 1
    message = lines[0].getMessage()
    assert f"connected to the {dialect_of(backend)} database 'logged' at " in message
    assert db.url.render_as_string(hide_password=True) in message
    assert "s3cret-pw" not in caplog.text
    assert lines[0].orm_kit_dialect == dialect_of(backend)  # type: ignore[attr-defined]


async def test_info_counts_the_servers_connections(backend: str, db: Database) -> None:
    info = await db.info()
    assert {"version", "dialect", "pool_size", "checked_out", "overflow", "connections"} <= set(
        info
    )
    assert info["dialect"] == dialect_of(backend)  # the SQLAlchemy dialect: MariaDB's is mysql
    if backend == "sqlite":
        assert info["connections"] is None  # embedded: no server connections to count
        return
    await User.objects.create(email="counted@x.io")
    before = (await db.info())["connections"]
    assert before["active"] >= 1  # the query counting them
    assert before["total"] == sum(v for k, v in before.items() if k != "total")
    other = create_async_engine(db.url, pool_size=5)
    try:
        async with other.connect() as a, other.connect() as b, other.connect() as c:
            for conn in (a, b, c):
                # A row read: InnoDB starts a transaction then (SELECT 1 does not touch it).
                await conn.execute(select(User.__table__.c.id))
            await c.commit()  # a and b stay idle in a transaction, c is idle
            await a.execute(text("SELECT 1"))
            await asyncio.sleep(0.15)  # InnoDB refreshes its list of transactions every 0.1 s
            during = (await db.info())["connections"]
        assert during["idle_in_transaction"] - before["idle_in_transaction"] == 2
        assert during["idle"] - before["idle"] == 1
        assert during["total"] - before["total"] == 3
    finally:
        await other.dispose()


@pytest.mark.requires("sleep", "server_settings")
async def test_an_exceeded_statement_timeout_is_a_database_error(backend_url: str) -> None:
    async with Database(backend_url, name="impatient", statement_timeout=0.2) as db:
        with pytest.raises(DatabaseError, match="statement timeout") as caught, translated():
            await db.run_direct(text("SELECT pg_sleep(2)"), lambda r: r.all())
        assert "DATABASE_STATEMENT_TIMEOUT" in str(caught.value)
        with pytest.raises(DatabaseError, match="DATABASE_STATEMENT_TIMEOUT"):
            async with db.session() as session:
                await session.execute(text("SELECT pg_sleep(2)"))
        # Quick statements are unaffected, and the connections are usable again.
        assert await db.run_direct(text("SELECT pg_sleep(0.01), 1"), lambda r: r.one()[1]) == 1
        shown = await db.run_direct(text("SHOW statement_timeout"), lambda r: r.scalar_one())
        assert shown == "200ms"


async def test_a_named_database_connects_from_its_own_variables(
    backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("REPORTS_DATABASE_URL", backend_url)
    monkeypatch.setenv("REPORTS_DATABASE_POOL_SIZE", "3")
    async with Database(name="reports") as db:
        assert db.url == make_url(backend_url).set(drivername=db.url.drivername)
        assert db.settings.pool_size == 3
        assert await db.run_direct(text("SELECT 1"), lambda r: r.scalar_one()) == 1
