"""Read replicas on a real primary and hot-standby streaming replica (replica_cluster.py):
routing per engine, read-your-writes while the replica's replay is paused, failover with a
cool-down, streaming over the replica, and the time-window mode.

PostgreSQL only (capability ``streaming_replication``): the SQLite leg skips. Numbers the
tests see (lag, failover times, start-up) are printed; ``pytest -s`` shows them.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from orm_kit import Database, Model
from orm_kit.replicas import primary
from tests.integration.replica_cluster import Cluster, Routed, find_binaries, make_cluster
from tests.models import Post, User

pytestmark = pytest.mark.requires("streaming_replication")

T = TypeVar("T")
Admin = tuple[AsyncEngine, ...]
"""Autocommit engines on the primary, then on each replica."""


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A primary and a streaming hot standby of it, for the whole session."""
    binaries = find_binaries()
    reason = None
    if binaries is None:
        reason = "no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) were found"
    elif os.geteuid() == 0 and not os.path.exists("/usr/sbin/runuser"):
        reason = "running as root, and runuser (to run the servers as postgres) is missing"
    if reason is not None or binaries is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"The replica tests need a primary and a replica: {reason}.")
        pytest.skip(f"The replica tests need a primary and a replica: {reason}.")
    made = make_cluster(binaries)
    try:
        made.start()
        print(f"\nreplica cluster started in {made.startup_seconds:.2f} s")
        yield made
    finally:
        made.stop()


@pytest.fixture(scope="session")
async def admin(cluster: Cluster) -> AsyncIterator[Admin]:
    """Autocommit engines on the primary and on each replica, and the test tables."""
    engines = tuple(
        create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        for url in (cluster.primary_url, *cluster.replica_urls)
    )
    async with engines[0].begin() as conn:
        await conn.run_sync(Model.metadata.create_all)
    try:
        yield engines
    finally:
        for engine in engines:
            await engine.dispose()


async def scalar(engine: AsyncEngine, sql: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar()


async def execute(engine: AsyncEngine, sql: str) -> None:
    async with engine.connect() as conn:
        await conn.execute(text(sql))


async def catch_up(admin: Admin) -> None:
    """Wait until every replica has replayed everything the primary has written."""
    target = await scalar(admin[0], "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
    deadline = time.monotonic() + 30
    for replica in admin[1:]:
        while await scalar(replica, "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn") < target:
            assert time.monotonic() < deadline, "a replica did not catch up in 30 s"
            await asyncio.sleep(0.01)


@pytest.fixture
async def routed(admin: Admin, cluster: Cluster) -> AsyncIterator[Callable[..., Awaitable[Routed]]]:
    """Make a connected Database with the first replica (keyword arguments passed on)."""
    made: list[Database] = []

    async def make(**kwargs: Any) -> Routed:
        kwargs.setdefault("replicas", [cluster.replica_url])
        db = Database(cluster.primary_url, **kwargs)
        await db.connect()
        made.append(db)
        return Routed(db)

    yield make
    for db in made:
        await db.disconnect()
    for i, replica in enumerate(admin[1:]):
        if not cluster.running(i):  # a failover test failed
            cluster.start_replica(i)
        await scalar(replica, "SELECT pg_wal_replay_resume()")
    async with admin[0].begin() as conn:
        for table in reversed(Model.metadata.sorted_tables):
            await conn.execute(table.delete())
    await catch_up(admin)


def fresh(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run ``coro`` as a task of its own with an empty context: no earlier write of the
    test's task counts for it (another request, in a web app)."""
    return asyncio.create_task(coro, context=contextvars.Context())


async def seed(db: Database, admin: Admin, n: int = 3) -> list[User]:
    async def write() -> list[User]:
        async with db.session():
            users = [await User.objects.create(email=f"u{i}@x.io", age=20 + i) for i in range(n)]
            await Post.objects.create(author_id=users[0].id, title="hello")
            return users

    users = await fresh(write())
    await catch_up(admin)
    return users


async def test_reads_outside_a_unit_of_work_go_to_the_replica_the_rest_to_the_primary(
    backend: str, routed: Callable[..., Awaitable[Routed]], admin: Admin
) -> None:
    r = await routed()
    db, users = r.db, User.objects.using(r.db)
    first = (await seed(db, admin))[0]

    async def reads() -> None:
        r.reset()
        assert await users.count() == 3
        assert (await users.get(id=first.id)).email == "u0@x.io"
        assert await users.filter(age__gte=21).exists()
        assert await users.order_by("id").values_list("email", flat=True) == [
            "u0@x.io",
            "u1@x.io",
            "u2@x.io",
        ]
        with_posts = await users.prefetch_related("posts").order_by("id")  # a read session
        assert [p.title for p in with_posts[0].posts] == ["hello"]
        streamed = [u.email async for u in users.order_by("id").iterator(chunk_size=2)]
        assert len(streamed) == 3
        assert r.replica["SELECT"] == 7 and r.primary["SELECT"] == 0, (r.primary, r.replica)

        r.reset()
        async with db.session():
            assert await users.count() == 3
            locked = await users.select_for_update().get(id=first.id)
            assert locked.id == first.id
        async with db.transaction():
            assert await users.filter(age=20).count() == 1
        with primary():
            assert await users.count() == 3
        assert r.primary["SELECT"] == 4 and r.replica["SELECT"] == 0, (r.primary, r.replica)

        r.reset()
        assert await users.count() == 3  # the units of work above only read: no stickiness
        assert r.replica["SELECT"] == 1 and r.primary["SELECT"] == 0

        r.reset()
        assert await users.filter(id=first.id).update(name="renamed") == 1
        await users.create(email="new@x.io")
        await users.filter(email="new@x.io").delete()
        assert r.primary["UPDATE"] == 1 and r.primary["INSERT"] == 1
        assert r.primary["DELETE"] == 1 and not r.replica, (r.primary, r.replica)

    await fresh(reads())
    print("routing: 7 reads on the replica; 4 unit-of-work / for-update / primary() on the primary")


async def test_a_task_reads_its_own_writes_while_the_replica_lags(
    backend: str, routed: Callable[..., Awaitable[Routed]], admin: Admin
) -> None:
    r = await routed()
    db, users = r.db, User.objects.using(r.db)
    await seed(db, admin, n=1)
    await scalar(admin[1], "SELECT pg_wal_replay_pause()")
    lags: list[int] = []

    async def lag() -> int:
        current = await scalar(admin[0], "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        replayed = await scalar(admin[1], "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn")
        return int(current - replayed)

    async def other() -> None:
        r.reset()
        assert not await users.filter(email="mine@x.io").exists()  # stale: the replica lags
        assert r.replica["SELECT"] == 1 and not r.primary

    async def writer() -> None:
        await users.create(email="mine@x.io")  # the direct path
        await fresh(other())  # another task (request) meanwhile: no write of its own
        r.reset()
        assert (await users.get(email="mine@x.io")).email == "mine@x.io"
        assert [u.email async for u in users.filter(email="mine@x.io").iterator()] == ["mine@x.io"]
        # A task started after the write inherits it.
        assert await asyncio.create_task(users.filter(email="mine@x.io").exists())
        assert r.primary["SELECT"] == 3 and not r.replica, (r.primary, r.replica)
        lags.append(await lag())

        async with db.session():  # a unit of work that writes
            await User.objects.create(email="session@x.io")
        await User.objects.using(db).bulk_create(  # COPY (its own transaction)
            [User(email=f"bulk{i}@x.io") for i in range(1000)]
        )
        r.reset()
        assert await users.filter(email__startswith="bulk").count() == 1000
        assert await users.filter(email="session@x.io").exists()
        assert r.primary["SELECT"] == 2 and not r.replica
        lags.append(await lag())

    await fresh(writer())

    async def writer_again() -> int:
        await users.create(email="later@x.io")
        r.reset()
        assert await users.filter(email="later@x.io").exists()  # still paused: the primary
        assert r.primary["SELECT"] == 1 and not r.replica
        await scalar(admin[1], "SELECT pg_wal_replay_resume()")
        started, deadline = time.monotonic(), time.monotonic() + 30
        while not r.replica["SELECT"]:  # back on the replica once it has replayed the write
            assert time.monotonic() < deadline, "reads did not return to the replica"
            assert await users.filter(email="later@x.io").exists()
            await asyncio.sleep(0.005)
        print(f"reads returned to the replica {time.monotonic() - started:.3f} s after resume")
        return r.primary["SELECT"]

    await fresh(writer_again())
    assert await fresh(users.filter(email__startswith="bulk").count()) == 1000
    print(f"longest replica lag seen: {max(lags)} bytes of WAL")
    assert max(lags) > 0


async def test_an_unreachable_replica_is_skipped_for_a_cool_down(
    backend: str,
    routed: Callable[..., Awaitable[Routed]],
    admin: Admin,
    cluster: Cluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cooldown = 2.0
    r = await routed(replica_cooldown=cooldown)
    db, users = r.db, User.objects.using(r.db)
    await seed(db, admin)
    assert db.router is not None
    replica = db.router.replicas[0]

    def warnings() -> list[logging.LogRecord]:
        return [
            rec
            for rec in caplog.records
            if rec.levelno == logging.WARNING and rec.getMessage().startswith("Read replica")
        ]

    async def reads() -> None:
        assert await users.count() == 3
        assert r.replica["SELECT"] == 1
        caplog.set_level(logging.INFO, logger="orm_kit")
        cluster.stop_replica()
        stopped = time.monotonic()
        r.reset()
        assert await users.count() == 3  # its pooled connection was ended: the primary
        took = time.monotonic() - stopped
        assert r.primary["SELECT"] == 1  # (and the replica's attempt that failed)
        r.reset()
        for _ in range(5):
            assert await users.count() == 3
            assert await users.prefetch_related("posts").count() == 3
            assert len([u async for u in users.iterator()]) == 3
        assert time.monotonic() < replica.down_until  # all inside one cool-down ...
        assert len(warnings()) == 1, [w.getMessage() for w in warnings()]  # ... one warning
        assert "unreachable" in warnings()[0].getMessage()
        assert r.primary["SELECT"] == 15 and not r.replica
        info = await db.info()
        assert info["replicas"] == [{"url": replica.name, "healthy": False, "lag_bytes": None}]

        await asyncio.sleep(max(0.0, replica.down_until - time.monotonic()))
        assert await users.count() == 3  # tried again, still down: the primary, a warning
        assert len(warnings()) == 2

        cluster.start_replica()
        restarted = time.monotonic()
        r.reset()
        deadline = restarted + cooldown + 30
        while not r.replica["SELECT"]:
            assert time.monotonic() < deadline, "reads did not return to the replica"
            assert await users.count() == 3
            await asyncio.sleep(0.02)
        back = time.monotonic() - restarted
        assert len(warnings()) == 2
        assert any("answers again" in rec.getMessage() for rec in caplog.records)
        print(
            f"failover: first read after the stop served by the primary in {took * 1000:.1f} ms; "
            f"reads back on the restarted replica after {back:.2f} s (cool-down {cooldown} s)"
        )

    await fresh(reads())
    info = await db.info()
    assert info["replicas"][0]["healthy"] is True
    assert isinstance(info["replicas"][0]["lag_bytes"], int)


async def test_streaming_runs_on_the_replica_in_chunks(
    backend: str, routed: Callable[..., Awaitable[Routed]], admin: Admin
) -> None:
    r = await routed()
    users = User.objects.using(r.db)
    await fresh(users.bulk_create([User(email=f"s{i:04}@x.io", age=i) for i in range(500)]))
    await catch_up(admin)

    async def stream() -> list[str]:
        r.reset()
        emails = [u.email async for u in users.order_by("email").iterator(chunk_size=50)]
        assert r.replica["SELECT"] == 1 and not r.primary
        return emails

    emails = await fresh(stream())
    assert emails == sorted(f"s{i:04}@x.io" for i in range(500))


async def test_the_lag_window_mode_keeps_reads_on_the_primary_for_the_window(
    backend: str, routed: Callable[..., Awaitable[Routed]], admin: Admin
) -> None:
    window = 3.0
    r = await routed(replica_lag_window=window)
    assert r.db.router is not None and not r.db.router.lsn
    users = User.objects.using(r.db)
    await seed(r.db, admin, n=1)
    await scalar(admin[1], "SELECT pg_wal_replay_pause()")

    async def writer() -> None:
        await users.create(email="w@x.io")
        wrote = time.monotonic()
        r.reset()
        assert await users.filter(email="w@x.io").exists()
        assert time.monotonic() - wrote < window  # (the assertion above ran in the window)
        assert r.primary["SELECT"] == 1 and not r.replica
        await asyncio.sleep(window - (time.monotonic() - wrote) + 0.05)
        # Past the window the replica serves the task's reads, replayed or not: the window
        # is a guess where the server reports no WAL positions. (Its replay is paused here.)
        assert not await users.filter(email="w@x.io").exists()
        assert r.replica["SELECT"] == 1

    await fresh(writer())


async def test_a_read_cancelled_by_a_recovery_conflict_runs_again_on_the_primary(
    backend: str,
    routed: Callable[..., Awaitable[Routed]],
    admin: Admin,
    cluster: Cluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = await routed()
    users = User.objects.using(r.db)
    await seed(r.db, admin, n=1)
    # The standby cancels a query in the way of replay at once instead of after 30 s.
    await execute(admin[1], "ALTER SYSTEM SET max_standby_streaming_delay = 0")
    await scalar(admin[1], "SELECT pg_reload_conf()")
    caplog.set_level(logging.INFO, logger="orm_kit")
    try:
        r.reset()

        async def read() -> list[str]:
            return [u.email for u in await users.annotate(slept=func.pg_sleep(2))]

        slow = fresh(read())
        deadline = time.monotonic() + 30
        sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' " + (
            "AND state = 'active' AND pid <> pg_backend_pid()"
        )
        while not await scalar(admin[1], sleeping):  # the read runs on the replica
            assert time.monotonic() < deadline and not slow.done()
            await asyncio.sleep(0.02)
        locker = create_async_engine(cluster.primary_url, poolclass=NullPool)
        async with locker.begin() as conn:  # replayed on the standby: a lock conflict
            await conn.execute(text('LOCK TABLE "user" IN ACCESS EXCLUSIVE MODE'))
        await locker.dispose()
        assert await slow == ["u0@x.io"]
    finally:
        await execute(admin[1], "ALTER SYSTEM RESET max_standby_streaming_delay")
        await scalar(admin[1], "SELECT pg_reload_conf()")
    assert r.replica["SELECT"] == 1 and r.primary["SELECT"] == 1  # cancelled, then retried
    assert any("conflicted with recovery" in rec.getMessage() for rec in caplog.records)


async def test_in_fastapi_a_request_reads_its_own_writes_and_the_next_request_may_not(
    backend: str, routed: Callable[..., Awaitable[Routed]], admin: Admin
) -> None:
    r = await routed()
    users = User.objects.using(r.db)
    app = FastAPI()

    @app.post("/users/{email}")
    async def create(email: str) -> dict[str, bool]:
        await users.create(email=email)
        return {"found": await users.filter(email=email).exists()}

    @app.get("/users/{email}")
    async def find(email: str, fresh: bool = False) -> dict[str, bool]:
        if fresh:
            with primary():
                return {"found": await users.filter(email=email).exists()}
        return {"found": await users.filter(email=email).exists()}

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = fresh(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                assert not serving.done(), "uvicorn stopped before it started"
                await asyncio.sleep(0.02)
        await scalar(admin[1], "SELECT pg_wal_replay_pause()")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            r.reset()
            assert (await client.post("/users/a@x.io")).json() == {"found": True}
            assert r.primary["SELECT"] == 1 and not r.replica  # its own write: the primary
            r.reset()
            assert (await client.get("/users/a@x.io")).json() == {"found": False}
            assert r.replica["SELECT"] == 1 and not r.primary  # a new request: stale
            r.reset()
            assert (await client.get("/users/a@x.io?fresh=1")).json() == {"found": True}
            assert r.primary["SELECT"] == 1 and not r.replica  # primary(): the primary
            await scalar(admin[1], "SELECT pg_wal_replay_resume()")
            await catch_up(admin)
            r.reset()
            assert (await client.get("/users/a@x.io")).json() == {"found": True}
            assert r.replica["SELECT"] == 1 and not r.primary  # replayed: the replica again
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


async def test_two_replicas_take_turns_and_one_behind_or_down_is_passed_over(
    backend: str,
    routed: Callable[..., Awaitable[Routed]],
    admin: Admin,
    cluster: Cluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = await routed(replicas=cluster.replica_urls, replica_cooldown=60)
    users = User.objects.using(r.db)
    await seed(r.db, admin)

    async def turns() -> None:
        r.reset()
        for _ in range(10):
            assert await users.count() == 3
        assert [c["SELECT"] for c in r.replicas] == [5, 5] and not r.primary

    await fresh(turns())
    await scalar(admin[1], "SELECT pg_wal_replay_pause()")  # the first replica lags

    async def writer() -> None:
        await users.create(email="mine@x.io")
        r.reset()
        deadline = time.monotonic() + 30
        while not r.replicas[1]["SELECT"]:  # the second one replays it, then serves
            assert time.monotonic() < deadline, "reads did not move to the second replica"
            assert await users.filter(email="mine@x.io").exists()
            await asyncio.sleep(0.005)
        for _ in range(4):
            assert await users.filter(email="mine@x.io").exists()
        assert not r.replicas[0]["SELECT"], r.replicas  # never the one that lags

    await fresh(writer())
    await scalar(admin[1], "SELECT pg_wal_replay_resume()")
    await catch_up(admin)

    cluster.stop_replica(1)

    async def one_down() -> None:
        r.reset()
        with caplog.at_level(logging.WARNING, logger="orm_kit"):
            for _ in range(6):
                assert await users.count() == 4
        assert r.replicas[0]["SELECT"] == 6 and not r.primary  # the live one, not the primary
        warned = [rec for rec in caplog.records if rec.getMessage().startswith("Read replica")]
        assert len(warned) == 1 and cluster.replica_urls[1].split("@")[1] in warned[0].getMessage()

    await fresh(one_down())
