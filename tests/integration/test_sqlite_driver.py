"""orm_kit's aiosqlite adapter (orm_kit.sqlite_driver): one trip to the driver's thread per
statement, a transaction's BEGIN in the trip of its first statement, no trip for a COMMIT or
ROLLBACK with nothing to end, and the same results as SQLAlchemy's own adapter.

SQLite-only by nature (aiosqlite's thread is SQLite's), so these tests take no backend
fixture: each opens ``Database`` objects on SQLite files of its own. The differential test
runs the same calls through orm_kit's adapter and SQLAlchemy's, in one process with warm
caches, and compares everything they return.
"""

from __future__ import annotations

import gc
import sqlite3
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

from orm_kit import ConflictError, Database, NotFoundError, ORMKitError, sqlite_driver
from orm_kit.sqlite_driver import OneTripConnection
from tests.models import Post, User


def stock_dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """SQLAlchemy's own aiosqlite adapter: the plain path the differential test compares with."""
    return AsyncAdapt_aiosqlite_dbapi(aiosqlite, sqlite3)


async def _open(path: Path, **kwargs: Any) -> Database:
    db = await Database(f"sqlite+aiosqlite:///{path}", **kwargs).connect()
    await db.create_all()
    return db


@pytest.fixture
async def fast(tmp_path: Path) -> AsyncIterator[Database]:
    db = await _open(tmp_path / "fast.db")
    yield db
    await db.disconnect()


@pytest.fixture
async def stock(tmp_path: Path) -> AsyncIterator[Database]:
    db = await _open(tmp_path / "stock.db", module=stock_dbapi())
    yield db
    await db.disconnect()


class Trips:
    """Counts calls sent to aiosqlite's thread (``aiosqlite.Connection._execute``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = aiosqlite.Connection._execute

        async def counted(conn: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
            self.count += 1
            return await real(conn, fn, *args, **kw)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)

    async def of(self, call: Callable[[], Any]) -> int:
        before = self.count
        await call()
        return self.count - before


async def _everything(db: Database) -> list[object]:
    """Calls over every kind of statement; what each returned, as plain data."""
    users = User.objects.using(db)
    seen: list[object] = []
    ada = await users.create(email="ada@x.io", name="Ada", age=36)
    bob = await users.create(email="bob@x.io", name="Bob", age=None)
    seen.append([(u.id, u.email, u.name, u.age, u.is_active) for u in (ada, bob)])
    many = await users.bulk_create([User(email=f"u{i}@x.io", name=f"U{i}") for i in range(7)])
    seen.append([(u.id, u.email) for u in many])
    seen.append((await users.get(id=bob.id)).age)  # a NULL comes back as None
    seen.append(await users.filter(name__startswith="U").order_by("-id").values("id", "name"))
    seen.append(await users.values_list("email", flat=True).order_by("email")[2:5])
    seen.append(await users.filter(age__isnull=True).count())
    seen.append(await users.filter(email__in=["u1@x.io", "u2@x.io"]).update(name="two"))
    seen.append(await users.filter(name="nobody").update(name="never"))  # rowcount 0
    seen.append(await users.filter(email="u3@x.io").delete())
    seen.append([u.email async for u in users.order_by("id").iterator(chunk_size=3)])
    with pytest.raises(ConflictError) as conflict:
        await users.create(email="ada@x.io")
    seen.append(conflict.value.constraint)
    with pytest.raises(NotFoundError):
        await users.get(email="gone@x.io")
    async with db.session():
        await users.create(email="kept@x.io")
        with pytest.raises(LookupError):
            async with db.transaction():  # a SAVEPOINT, rolled back
                await users.create(email="dropped@x.io")
                raise LookupError
        await Post.objects.create(title="T", author_id=ada.id)
    seen.append(await users.filter(email__in=["kept@x.io", "dropped@x.io"]).values_list("email"))
    async with db.connection() as conn:
        result = await conn.execute(text("SELECT 1 AS one, NULL AS none, 'x' || 'y' AS xy"))
        seen.append((list(result.keys()), result.all()))
        inserted = await conn.execute(
            text("INSERT INTO user (email, name, is_active, score) VALUES ('raw@x.io', 'R', 1, 0)")
        )
        seen.append((inserted.rowcount, inserted.lastrowid))
        await conn.commit()
    seen.append(sorted(await users.values_list("email", flat=True)))
    return seen


async def test_every_kind_of_call_returns_what_sqlalchemys_adapter_returns(
    fast: Database, stock: Database
) -> None:
    assert isinstance(await _driver_connection(fast), OneTripConnection)
    assert not isinstance(await _driver_connection(stock), OneTripConnection)
    for _ in range(2):  # the second time with every statement cache warm
        ours, theirs = await _everything(fast), await _everything(stock)
        assert ours == theirs
        for db in (fast, stock):
            async with db.engine.begin() as conn:
                for table in ("post", "user"):
                    await conn.execute(text(f"DELETE FROM {table}"))


async def _driver_connection(db: Database) -> object:
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        return raw.dbapi_connection


async def test_a_statement_is_one_trip_and_a_unit_of_work_one_more_each_end(
    fast: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = User.objects.using(fast)
    ada = await users.create(email="ada@x.io")  # warm: the pool holds a connection
    trips = Trips(monkeypatch)
    assert await trips.of(lambda: users.create(email="bob@x.io")) == 1
    assert await trips.of(lambda: users.get(id=ada.id)) == 0  # a read runs inline
    assert await trips.of(lambda: users.filter(id=ada.id).update(name="A")) == 1
    assert await trips.of(lambda: users.filter(name="A").count()) == 0
    assert await trips.of(lambda: users.filter(email="bob@x.io").delete()) == 1
    monkeypatch.setattr(sqlite_driver, "INLINE", False)  # reads on the driver's thread
    assert await trips.of(lambda: users.get(id=ada.id)) == 1
    assert await trips.of(lambda: users.filter(name="A").count()) == 1

    async def unit() -> None:
        async with fast.session():
            await users.create(email="c@x.io")
            await users.create(email="d@x.io")

    assert await trips.of(unit) == 3  # BEGIN IMMEDIATE with the first INSERT, one, COMMIT
    assert sorted(await users.values_list("email", flat=True)) == ["ada@x.io", "c@x.io", "d@x.io"]


async def test_sqlalchemys_adapter_needs_more_trips(
    stock: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the trips above are measured against: the same create through SQLAlchemy's
    # adapter (make the cursor, execute, fetch, close the cursor, COMMIT: five trips).
    users = User.objects.using(stock)
    await users.create(email="ada@x.io")
    trips = Trips(monkeypatch)
    assert await trips.of(lambda: users.create(email="bob@x.io")) == 5


def _writable_now(path: Path) -> bool:
    """Whether another connection can take the write lock at once (nothing left open)."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


async def test_a_transaction_begun_on_the_driver_itself_is_rolled_back_on_return(
    fast: Database, tmp_path: Path
) -> None:
    # BEGIN sent through aiosqlite directly: orm_kit's adapter never saw it, and the
    # ROLLBACK the pool sends on return must still run (it asks sqlite3, not its memory).
    async with fast.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.execute("BEGIN IMMEDIATE")
        await driver.execute(
            "INSERT INTO user (email, name, is_active, score) VALUES ('x@x.io', 'X', 1, 0)"
        )
        assert not _writable_now(tmp_path / "fast.db")
    assert _writable_now(tmp_path / "fast.db")
    assert await User.objects.using(fast).count() == 0


async def test_a_commit_that_fails_is_rolled_back_and_leaves_no_lock(
    fast: Database, tmp_path: Path
) -> None:
    # A deferred foreign key fails at COMMIT, which leaves SQLite's transaction open: the
    # rollback after it has something to end and must make its trip.
    async with fast.connection(transaction=True) as conn:
        await conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        await conn.execute(
            text(
                "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER "
                "REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    with pytest.raises(ConflictError):
        async with fast.session() as session:
            await session.execute(text("INSERT INTO child VALUES (1, 99)"))
    assert _writable_now(tmp_path / "fast.db")
    async with fast.connection() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM child"))).scalar_one() == 0


async def test_check_same_thread_given_by_the_user_still_commits(tmp_path: Path) -> None:
    # The driver's connection may then be used on aiosqlite's thread only; the adapter's
    # question before skipping a COMMIT / ROLLBACK (in_transaction) is allowed anywhere.
    db = await _open(tmp_path / "strict.db", connect_args={"check_same_thread": True})
    try:
        users = User.objects.using(db)
        async with db.session():
            await users.create(email="a@x.io")
        with pytest.raises(LookupError):
            async with db.session():
                await users.create(email="b@x.io")
                raise LookupError
        assert await users.values_list("email", flat=True) == ["a@x.io"]
        assert _writable_now(tmp_path / "strict.db")
    finally:
        await db.disconnect()


def _lock(path: Path) -> sqlite3.Connection:
    """Another connection holding ``path``'s write lock until it is rolled back."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_the_deferred_begin_still_takes_the_write_lock_before_a_first_read(
    fast: Database, tmp_path: Path
) -> None:
    # BEGIN IMMEDIATE travels with the first statement: a unit of work that starts with a
    # read holds the write lock from that read on, as before (no "database is locked" when
    # it writes later).
    users = User.objects.using(fast)
    await users.create(email="a@x.io")
    async with fast.session():
        assert await users.count() == 1
        assert not _writable_now(tmp_path / "fast.db")
        await users.create(email="b@x.io")
    assert _writable_now(tmp_path / "fast.db")
    assert await users.count() == 2


async def test_a_unit_of_work_that_runs_nothing_makes_no_trip_and_takes_no_lock(
    fast: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await User.objects.using(fast).create(email="a@x.io")  # warm: a pooled connection
    trips = Trips(monkeypatch)

    async def nothing() -> None:
        async with fast.session() as session:
            await session.connection()  # the transaction is begun, no statement sent
            # (the write lock comes with the first statement, which never comes)
            assert _writable_now(tmp_path / "fast.db")

    assert await trips.of(nothing) == 0
    assert _writable_now(tmp_path / "fast.db")


async def test_a_begin_that_cannot_take_the_lock_fails_the_first_statement_cleanly(
    tmp_path: Path,
) -> None:
    db = await _open(tmp_path / "busy.db", connect_args={"timeout": 0.05})
    try:
        users = User.objects.using(db)
        await users.create(email="a@x.io")
        other = _lock(tmp_path / "busy.db")
        try:
            with pytest.raises(ORMKitError) as failed:
                async with db.session():
                    await users.create(email="b@x.io")
            assert "locked" in str(failed.value).lower()
        finally:
            other.rollback()
            other.close()
        # Nothing was written, nothing is left open, and the connection works.
        assert _writable_now(tmp_path / "busy.db")
        async with db.session():
            await users.create(email="c@x.io")
        assert sorted(await users.values_list("email", flat=True)) == ["a@x.io", "c@x.io"]
    finally:
        await db.disconnect()


async def test_a_unit_of_work_that_starts_by_streaming_is_in_its_transaction(
    fast: Database, tmp_path: Path
) -> None:
    # iterator() reads through SQLAlchemy's server-side cursor, past the one-trip
    # statement: the deferred BEGIN must still go first (the stream inside the
    # transaction, which holds the write lock from then on).
    users = User.objects.using(fast)
    await users.bulk_create([User(email=f"u{i}@x.io") for i in range(5)])
    async with fast.session():
        seen = []
        async for user in users.order_by("id").iterator(chunk_size=2):
            seen.append(user.email)
            assert not _writable_now(tmp_path / "fast.db")
        await users.filter(email="u0@x.io").update(name="first")
    assert seen == [f"u{i}@x.io" for i in range(5)]
    assert _writable_now(tmp_path / "fast.db")
    assert (await users.get(email="u0@x.io")).name == "first"


async def test_an_idle_connection_keeps_nothing_of_its_last_statement(fast: Database) -> None:
    # aiosqlite's thread keeps its last job and result referenced until the next job: the
    # rows of a large read (and an executemany's parameters) stayed alive for as long as
    # the connection sat idle in the pool (~185 B a row of the benchmark's W5 table).
    note = "x" * 200
    objects = User.objects.using(fast)
    users = await objects.bulk_create(
        [User(email=f"{i}-{note}@x.io", name=f"n{i}") for i in range(3000)]
    )
    assert len(users) == 3000
    del users
    for read in range(2):
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            rows = await objects.values_list("email", "name")
            assert len(rows) == 3000 and rows[7][0].startswith("7-")
            del rows
            gc.collect()
            left = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # The 3,000 rows' text is ~700 KB; what may stay is caches, a few KB.
        assert left < 60_000, (read, left)
