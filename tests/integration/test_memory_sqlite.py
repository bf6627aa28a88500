"""In-memory SQLite (``sqlite+aiosqlite:///:memory:``) never loses committed data.

SQLite-only by nature, so these tests take no backend fixture: each opens a ``Database`` on
an explicit in-memory URL of its own. Concurrent sessions take turns on the database's one
working connection (the second waits, as a file database's writer waits for the lock),
and a cancelled or invalidated connection takes nothing but its own uncommitted work
with it: the database lives as long as the ``Database`` is connected.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.pool import NullPool

from orm_kit import Database, DatabaseUnavailableError
from tests.models import User

MEMORY = "sqlite+aiosqlite:///:memory:"
BATCH = 200


@pytest.fixture
async def memory() -> AsyncIterator[Database]:
    async with Database(MEMORY, name="memory") as db:
        await db.create_all()
        yield db


async def stored(db: Database) -> list[str]:
    return sorted(await User.objects.using(db).values_list("email", flat=True))


async def test_two_concurrent_sessions_both_commit(memory: Database) -> None:
    async def write(i: int) -> None:
        async with memory.session():
            await User.objects.create(email=f"{i}@x.io")
            await asyncio.sleep(0.05)  # still inside the unit of work

    await asyncio.gather(write(1), write(2))
    assert await stored(memory) == ["1@x.io", "2@x.io"]


async def test_direct_write_during_another_sessions_rollback_is_kept(memory: Database) -> None:
    began = asyncio.Event()

    async def doomed() -> None:
        async with memory.session():
            await User.objects.create(email="doomed@x.io")
            began.set()
            await asyncio.sleep(0.05)
            raise LookupError("roll back")

    async def direct() -> None:
        await began.wait()
        await User.objects.using(memory).create(email="direct@x.io")  # autocommit

    outcome = await asyncio.gather(doomed(), direct(), return_exceptions=True)
    assert isinstance(outcome[0], LookupError) and outcome[1] is None
    assert await stored(memory) == ["direct@x.io"]


async def test_cancelling_at_random_points_keeps_tables_and_committed_rows(
    memory: Database,
) -> None:
    rng = random.Random(20261201)
    await User.objects.using(memory).create(email="kept@x.io")

    async def bulk(i: int) -> None:
        rows = [User(email=f"b{i}-{j}@x.io") for j in range(BATCH)]
        await User.objects.using(memory).bulk_create(rows)

    async def session(i: int) -> None:
        async with memory.session():
            await User.objects.bulk_create([User(email=f"s{i}-{j}@x.io") for j in range(BATCH)])
            await asyncio.sleep(rng.uniform(0, 0.005))

    async def count(_: int) -> None:
        await User.objects.using(memory).count()

    for i in range(100):
        work = rng.choice([bulk, session, count])
        task = asyncio.create_task(work(i))
        await asyncio.sleep(rng.choice([0, rng.uniform(0.001, 0.03)]))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        total = await User.objects.using(memory).count()  # the table is still there
        assert (total - 1) % BATCH == 0, f"iteration {i}: a half-written batch ({total} rows)"
    assert await User.objects.using(memory).filter(email="kept@x.io").exists()
    await User.objects.using(memory).create(email="after@x.io")
    assert await User.objects.using(memory).filter(email="after@x.io").exists()


async def test_two_memory_databases_are_separate() -> None:
    async with Database(MEMORY, name="one") as one, Database(MEMORY, name="two") as two:
        await one.create_all()
        await two.create_all()
        await User.objects.using(one).create(email="one@x.io")
        assert await stored(one) == ["one@x.io"]
        assert await stored(two) == []


async def test_a_second_session_waits_at_most_pool_timeout() -> None:
    async with Database(MEMORY, name="tiny", pool_timeout=0.2) as tiny:
        await tiny.create_all()
        async with tiny.session():
            await User.objects.create(email="held@x.io")  # holds the one connection
            other = asyncio.create_task(User.objects.using(tiny).count())
            with pytest.raises(DatabaseUnavailableError, match="No connection was free"):
                await other
        assert await stored(tiny) == ["held@x.io"]  # released again, nothing lost


async def test_info_reports_the_one_connection(memory: Database) -> None:
    info = await memory.info()
    assert (info["pool_size"], info["checked_out"], info["connections"]) == (1, 0, None)
    held = asyncio.Event()
    done = asyncio.Event()

    async def hold() -> None:
        async with memory.session():
            await User.objects.count()
            held.set()
            await done.wait()

    task = asyncio.create_task(hold())
    await held.wait()
    assert memory.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    done.set()
    await task
    assert (await memory.info())["checked_out"] == 0


async def test_the_database_outlives_its_working_connection(memory: Database) -> None:
    await User.objects.using(memory).create(email="a@x.io")
    async with memory.engine.connect() as conn:
        await conn.invalidate()  # closes the working connection
    await memory.engine.dispose()  # and the pool's
    assert await stored(memory) == ["a@x.io"]


async def test_disconnect_frees_the_database() -> None:
    db = Database(MEMORY, name="gone")
    async with db:
        await db.create_all()
        await User.objects.using(db).create(email="a@x.io")
    async with db:  # connected again: a new, empty database
        await db.create_all()
        assert await stored(db) == []


async def test_null_pool_memory_database_keeps_its_data() -> None:
    async with Database(MEMORY, name="nullpool", poolclass=NullPool) as db:
        await db.create_all()
        await User.objects.using(db).create(email="a@x.io")

        async def write(i: int) -> None:  # a connection each: the second waits on the lock
            async with db.session():
                await User.objects.create(email=f"{i}@x.io")
                await asyncio.sleep(0.05)

        await asyncio.gather(write(1), write(2))
        assert await stored(db) == ["1@x.io", "2@x.io", "a@x.io"]


@pytest.mark.parametrize(
    "query",
    ["mode=memory&cache=shared&uri=true", "mode=memory&uri=true"],
    ids=["shared", "private"],
)
async def test_a_url_with_its_own_memory_mode_keeps_working(query: str) -> None:
    url = f"sqlite+aiosqlite:///file:orm_kit_own_url?{query}"
    async with Database(url, name="own") as db:
        await db.create_all()
        await User.objects.using(db).create(email="a@x.io")
        async with db.engine.connect() as conn:
            await conn.invalidate()
        assert await stored(db) == ["a@x.io"]
