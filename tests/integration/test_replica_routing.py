"""Replica routing on every backend, with the "replica" a second engine on the backend's own
test database: which engine serves each read, the time-window mode of read-your-writes
(the only mode without WAL positions, as on SQLite), and a replica that cannot be opened.

This proves the routing, not replication: tests/integration/test_replicas.py runs on a
real primary and hot-standby replica (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import make_url

from orm_kit import Database
from tests.integration.replica_cluster import Routed
from tests.models import User

T = TypeVar("T")
WINDOW = 2.0


def fresh(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task of its own with an empty context: none of the test task's writes count."""
    return asyncio.create_task(coro, context=contextvars.Context())


@pytest.fixture
async def windowed(db: Database, backend_url: str) -> AsyncIterator[Routed]:
    """The backend's test database with itself as a replica and a 2 s lag window."""
    routed = Database(backend_url, replicas=[backend_url], replica_lag_window=WINDOW)
    await routed.connect()
    try:
        yield Routed(routed)
    finally:
        await routed.disconnect()


async def test_reads_go_to_the_replica_engine_and_writes_to_the_primary(
    windowed: Routed,
) -> None:
    r, users = windowed, User.objects.using(windowed.db)

    async def work() -> None:
        assert await users.count() == 0
        assert r.replica["SELECT"] == 1 and not r.primary
        r.reset()
        await users.create(email="a@x.io")
        async with r.db.session():
            assert await users.count() == 1
        assert r.primary["INSERT"] == 1 and r.primary["SELECT"] == 1 and not r.replica

    await fresh(work())


async def test_the_window_keeps_a_writing_task_on_the_primary(windowed: Routed) -> None:
    r, users = windowed, User.objects.using(windowed.db)
    assert r.db.router is not None and not r.db.router.lsn

    async def writer() -> None:
        await users.create(email="w@x.io")
        wrote = time.monotonic()
        assert r.db.router is not None and r.db.router.pending()
        r.reset()
        assert await users.filter(email="w@x.io").exists()
        assert [u.email async for u in users.iterator()] == ["w@x.io"]
        assert len(await users.prefetch_related("posts")) == 1
        assert time.monotonic() - wrote < WINDOW  # (the reads above ran inside the window)
        assert r.primary["SELECT"] == 4 and not r.replica, (r.primary, r.replica)
        await fresh(other())
        await asyncio.sleep(WINDOW - (time.monotonic() - wrote) + 0.05)
        r.reset()
        assert await users.filter(email="w@x.io").exists()
        assert r.replica["SELECT"] == 1 and not r.primary

    async def other() -> None:
        r.reset()
        assert await users.filter(email="w@x.io").exists()
        assert r.replica["SELECT"] == 1 and not r.primary

    await fresh(writer())


async def test_a_replica_that_cannot_be_opened_is_skipped_from_connect(
    db: Database, backend_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_url(backend_url)
    if url.get_backend_name() == "sqlite":
        gone = url.set(database=str(tmp_path / "no such dir" / "replica.db"))
    else:
        gone = url.set(host="127.0.0.1", port=9, query={})  # the discard port: refused
    routed = Database(backend_url, replicas=[gone], replica_cooldown=60)
    with caplog.at_level(logging.WARNING, logger="orm_kit"):
        await routed.connect()
    try:
        assert routed.router is not None
        warned = [rec for rec in caplog.records if rec.getMessage().startswith("Read replica")]
        assert len(warned) == 1 and "unreachable" in warned[0].getMessage()
        assert await fresh(User.objects.using(routed).count()) == 0  # on the primary
        assert await fresh(User.objects.using(routed).count()) == 0
        assert len([r for r in caplog.records if r.getMessage().startswith("Read replica")]) == 1
        info = await routed.info()
        assert [entry["healthy"] for entry in info["replicas"]] == [False]
    finally:
        await routed.disconnect()


async def test_a_pinned_database_leaves_the_replicas_alone(windowed: Routed) -> None:
    """orm_kit.testing pins a database to one connection whose transaction is rolled back
    at the end of the test: reads must see the test's writes, so they stay on it."""
    r, users = windowed, User.objects.using(windowed.db)
    async with windowed.db.engine.connect() as conn:
        await conn.begin()
        with windowed.db._pinned(conn):

            async def reads() -> None:  # a task that did not write: no stickiness
                r.reset()
                assert await users.filter(email="pinned@x.io").exists()
                assert [u.email async for u in users.iterator()] == ["pinned@x.io"]
                assert len(await users.prefetch_related("posts")) == 1

            await fresh(users.create(email="pinned@x.io"))
            await fresh(reads())
        await conn.rollback()
    assert r.primary["SELECT"] >= 3 and not r.replica, (r.primary, r.replica)
    assert await fresh(users.count()) == 0  # rolled back
