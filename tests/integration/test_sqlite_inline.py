"""Raw-path reads on SQLite run on the event loop's thread (``OneTripConnection.run_inline``)
when that cannot block the loop: the same results as on aiosqlite's thread, in one process
with warm caches; a read that would wait for a lock, or runs past its budget, goes to the
thread instead and changes nothing on the way; errors are the same orm_kit errors.

SQLite-only by nature, so these tests take no backend fixture: each opens a ``Database``
on a SQLite file of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ForeignKey, MetaData, event, text
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import ConflictError, Database, DatabaseError, F, Model, NotFoundError, sqlite_driver
from orm_kit.sqlite_driver import BUSY, LONG, OneTripConnection
from tests.integration.typed_values import typed
from tests.models import User


class _DeferredBase(Model):
    # Tables of their own: MariaDB has no deferrable foreign keys, and the suite creates
    # Model.metadata's tables on every backend.
    __abstract__ = True
    metadata = MetaData()


class InlineParent(_DeferredBase):
    id: Mapped[int] = mapped_column(primary_key=True)


class InlineChild(_DeferredBase):
    id: Mapped[int] = mapped_column(primary_key=True)
    # Checked at COMMIT, not at the statement: the failure an inline write meets last.
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("inline_parent.id", deferrable=True, initially="DEFERRED")
    )


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}").connect()
    await database.create_all()
    yield database
    await database.disconnect()


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What each ``run_inline`` call answered: ran, busy, long, declined or raised."""
    seen: list[str] = []
    real = OneTripConnection.run_inline

    def spied(self: OneTripConnection, operation: str, parameters: Any, write: bool = False) -> Any:
        kind = "write " if write else ""
        try:
            outcome = real(self, operation, parameters, write)
        except Exception:
            seen.append(kind + "raised")
            raise
        names = {id(BUSY): "busy", id(LONG): "long", id(None): "declined"}
        seen.append(kind + names.get(id(outcome), "ran"))
        return outcome

    monkeypatch.setattr(OneTripConnection, "run_inline", spied)
    return seen


async def _seed(db: Database, n: int) -> list[User]:
    return await User.objects.using(db).bulk_create(
        [
            User(email=f"u{i}@x.io", name=f"n{i % 7}", age=None if i % 5 == 0 else i % 90)
            for i in range(n)
        ]
    )


async def _reads(db: Database, users: list[User]) -> list[Any]:
    """Reads over the raw path's shapes, as plain typed data."""
    objects = User.objects.using(db)
    out: list[Any] = []
    for user in users[:40:3]:
        got = await objects.get(id=user.id)
        out.append(typed({k: got.__dict__.get(k) for k in ("id", "email", "name", "age")}))
    for name in ("n0", "n3", "n6", "none"):
        out.append(typed([u.id for u in await objects.filter(name=name)]))
        out.append(await objects.filter(name=name).count())
    out.append(typed(await objects.filter(age__isnull=True).values_list("id", flat=True)))
    out.append(typed(await objects.filter(email="u7@x.io").values("id", "age")))
    with pytest.raises(NotFoundError):
        await objects.get(id=-1)
    return out


async def test_reads_inline_return_what_the_drivers_thread_returns(
    db: Database, outcomes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    users = await _seed(db, 60)
    for _ in range(2):  # warm caches: the second round takes cached statements only
        inline = await _reads(db, users)
        assert outcomes.count("ran") > 20 and "busy" not in outcomes and "long" not in outcomes
        monkeypatch.setattr(sqlite_driver, "INLINE", False)
        outcomes.clear()
        threaded = await _reads(db, users)
        assert set(outcomes) <= {"declined"}
        assert inline == threaded
        assert any(row == 0 for row in inline) and any(row == 9 for row in inline)  # counts
        monkeypatch.setattr(sqlite_driver, "INLINE", True)
        outcomes.clear()


async def test_a_long_read_goes_to_the_thread_and_its_shape_stays_there(
    db: Database, outcomes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(db, 3000)
    monkeypatch.setattr(sqlite_driver, "INLINE_BUDGET", 0.0)  # past it at the first look
    assert await User.objects.using(db).filter(name="n1").count() == 429  # scans 3,000 rows
    assert outcomes == ["long"]
    assert await User.objects.using(db).filter(name="n2").count() == 429
    assert outcomes == ["long"]  # the shape no longer tries
    # The thread's statements ran without the budget (the handler was removed).
    assert len(await User.objects.using(db).filter(name__startswith="n")) == 3000
    async with db.connection() as conn:
        waits = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
    assert waits == 5000  # sqlite3's default timeout, put back after each inline read


async def test_a_read_that_would_wait_for_a_lock_waits_on_the_thread(
    tmp_path: Path, outcomes: list[str]
) -> None:
    path = tmp_path / "journal.db"
    db = await Database(f"sqlite+aiosqlite:///{path}").connect()
    try:
        await db.create_all()
        await _seed(db, 10)

        def rollback_journal(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=DELETE")  # (WAL readers never wait)
            cursor.close()

        event.listen(db.engine.sync_engine, "connect", rollback_journal)
        await db.engine.dispose()
        assert await User.objects.using(db).filter(score=0).count() == 10  # warm: a cached shape
        assert outcomes == ["ran"]
        outcomes.clear()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # no reader gets in until it ends
        other.execute("DELETE FROM user WHERE id > 4")
        loop = asyncio.get_running_loop()
        ended_at: list[float] = []

        def end() -> None:
            other.execute("COMMIT")
            ended_at.append(time.monotonic())

        start = time.monotonic()
        loop.call_later(0.3, end)
        assert await User.objects.using(db).filter(score=0).count() == 4  # after the other's COMMIT
        other.close()
        assert outcomes == ["busy"]
        # The loop ran on while the read waited (a blocked loop would have run the COMMIT
        # only after sqlite3's 5 s busy timeout).
        assert ended_at and ended_at[0] - start < 3.0
    finally:
        await db.disconnect()


async def test_errors_are_the_same_inline(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    await _seed(db, 3)
    assert (await User.objects.using(db).get(email="u1@x.io")).name == "n1"
    async with db.connection(transaction=True) as conn:
        await conn.execute(text('DROP TABLE "user"'))
    messages = []
    for inline in (True, False):
        monkeypatch.setattr(sqlite_driver, "INLINE", inline)
        with pytest.raises(DatabaseError) as raised:
            await User.objects.using(db).get(email="u1@x.io")
        messages.append(str(raised.value))
    assert messages[0] == messages[1] and "no such table" in messages[0]


async def test_no_inline_read_where_the_user_asked_for_sqlite3s_thread_check(
    tmp_path: Path, outcomes: list[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'strict.db'}"
    db = await Database(url, connect_args={"check_same_thread": True}).connect()
    try:
        await db.create_all()
        await _seed(db, 5)
        assert await User.objects.using(db).filter(name="n1").count() == 1
        assert set(outcomes) == {"declined"}
    finally:
        await db.disconnect()


# Writes: a single INSERT, UPDATE or DELETE of the raw path runs inline too where its
# commit cannot wait for the disk (sqlite_driver.commits_cannot_wait).


def _synchronous_off(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


async def _unsynced(path: Path) -> Database:
    """A Database on ``path`` whose commits never wait for the disk (synchronous=OFF)."""
    db = await Database(f"sqlite+aiosqlite:///{path}").connect()
    event.listen(db.engine.sync_engine, "connect", _synchronous_off)
    await db.engine.dispose()
    await db.create_all()
    return db


def _reset_shapes(db: Database) -> None:
    """Let every compiled shape try the loop's thread again (a LONG one stops trying)."""
    raw = db._raw
    assert raw is not None
    for by_keys in raw._plans.values():
        for plan in by_keys.values():
            if plan is not None:
                plan.inline = True


async def _writes(db: Database) -> list[Any]:
    """Writes over the raw path's write shapes and what they hand back, then the table."""
    objects = User.objects.using(db)
    out: list[Any] = []
    made = [
        await objects.create(email=f"w{i}@x.io", age=None if i % 3 == 0 else i, score=i % 4)
        for i in range(12)
    ]
    out.append(typed(made))
    out.append(await objects.filter(score=1).update(score=F("score") + 10, name="upd"))
    out.append(await objects.filter(age__isnull=True).update(last_login=datetime(2026, 1, 2, 3)))
    out.append(await objects.filter(id=made[5].id).update(data={"k": [1, 2.5, None]}))
    out.append(await objects.filter(score__gte=10).delete())
    out.append(await objects.filter(id=-1).delete())  # matches nothing
    out.append(typed(await objects.order_by("id").values()))
    return out


async def test_writes_inline_do_what_the_drivers_thread_does(
    tmp_path: Path, outcomes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for round_ in range(2):  # the second round: warm caches, the same shapes compiled
        results = []
        for inline in (True, False):
            monkeypatch.setattr(sqlite_driver, "INLINE_WRITES", inline)
            db = await _unsynced(tmp_path / f"w{round_}{inline}.db")
            try:
                outcomes.clear()
                results.append(await _writes(db))
                writes = [o for o in outcomes if o.startswith("write")]
                if inline:
                    assert writes and set(writes) == {"write ran"}
                else:
                    assert writes and set(writes) == {"write declined"}
            finally:
                await db.disconnect()
        assert results[0] == results[1]
        table = results[0][-1]
        assert 0 < len(table) < 12 and results[0][1:6] == [3, 4, 1, 3, 0]


async def test_an_interrupted_write_changes_nothing_and_runs_once_on_the_thread(
    tmp_path: Path, outcomes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupt each write at every point of its run, one step after another, until it
    runs to its end: each time, it takes effect exactly once (inline, or on the thread
    after an interruption that left nothing behind) and no transaction is left open."""
    db = await _unsynced(tmp_path / "interrupted.db")
    path = tmp_path / "interrupted.db"
    clock = iter(range(10**9))
    monkeypatch.setattr(sqlite_driver, "thread_time", lambda: next(clock))
    monkeypatch.setattr(sqlite_driver, "_INLINE_STEPS", 1)  # a look at every instruction
    objects = User.objects.using(db)
    try:
        await _seed(db, 40)
        target = (await objects.get(email="u1@x.io")).id
        writes: dict[str, Any] = {
            "create": lambda k: objects.create(email=f"new{k}@x.io", name="new", score=k),
            # Each matches only rows it has not changed yet: run twice, the second would
            # change nothing and count 0.
            "update one": lambda k: objects.filter(id=target, score=k).update(score=k + 1),
            "update many": lambda k: objects.filter(name="n2", score=k).update(score=k + 1),
            "delete": lambda k: objects.filter(email=f"u{10 + k}@x.io").delete(),
        }
        for name, write in writes.items():
            for budget in range(10_000):
                monkeypatch.setattr(sqlite_driver, "INLINE_BUDGET", budget)
                _reset_shapes(db)
                before = await objects.order_by("id").values_list("id", "score")
                outcomes.clear()
                done = await write(budget)
                ran = [o for o in outcomes if o.startswith("write")]
                after = await objects.order_by("id").values_list("id", "score")
                where = f"{name}, interrupted after {budget} step(s): {ran}"
                if name == "create":
                    assert len(after) == len(before) + 1 and done.score == budget, where
                    assert after[-1] == (done.id, budget), where
                elif name == "delete":
                    assert done == 1 and len(after) == len(before) - 1, where
                else:
                    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
                    assert done == len(changed) == (1 if name == "update one" else 6), where
                    assert all(b[1] == a[1] + 1 == budget + 1 for a, b in changed), where
                with sqlite3.connect(path, timeout=0, isolation_level=None) as other:
                    other.execute("BEGIN IMMEDIATE")  # the write lock is free
                    other.execute("ROLLBACK")
                if ran == ["write ran"]:
                    assert budget > 5, where  # it was interrupted at the earlier points
                    break
                assert ran == ["write long"], where
            else:
                pytest.fail(f"{name} never ran to its end inline")
    finally:
        await db.disconnect()


async def test_a_write_that_would_wait_for_the_lock_waits_on_the_thread(
    tmp_path: Path, outcomes: list[str]
) -> None:
    path = tmp_path / "locked.db"
    db = await _unsynced(path)
    try:
        await _seed(db, 10)
        assert await User.objects.using(db).filter(id=1).update(score=5) == 1  # warm
        assert outcomes == ["write ran"]
        outcomes.clear()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # holds the write lock
        other.execute("UPDATE user SET score = 7 WHERE id = 2")
        ended_at: list[float] = []

        def end() -> None:
            other.execute("COMMIT")
            ended_at.append(time.monotonic())

        start = time.monotonic()
        asyncio.get_running_loop().call_later(0.3, end)
        assert await User.objects.using(db).filter(score=7).update(score=8) == 1  # after it
        other.close()
        assert outcomes == ["write busy"]
        assert ended_at and ended_at[0] - start < 3.0  # the loop ran on meanwhile
        assert await User.objects.using(db).filter(score=8).count() == 1
    finally:
        await db.disconnect()


async def test_a_failing_write_fails_the_same_inline_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await _unsynced(tmp_path / "failing.db")
    path = tmp_path / "failing.db"
    try:
        await User.objects.using(db).create(email="a@x.io")
        messages = []
        for inline in (True, False):
            monkeypatch.setattr(sqlite_driver, "INLINE_WRITES", inline)
            with pytest.raises(ConflictError) as raised:
                await User.objects.using(db).create(email="a@x.io", name=str(inline))
            messages.append(str(raised.value))
            with sqlite3.connect(path, timeout=0, isolation_level=None) as other:
                other.execute("BEGIN IMMEDIATE")  # no transaction was left holding the lock
                other.execute("ROLLBACK")
        assert messages[0] == messages[1] and "unique" in messages[0].lower()
        assert await User.objects.using(db).count() == 1
        assert (await User.objects.using(db).create(email="b@x.io")).email == "b@x.io"
    finally:
        await db.disconnect()


async def test_writes_stay_on_the_thread_where_a_commit_can_wait_for_the_disk(
    tmp_path: Path, outcomes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inline only where no database the connection has open syncs on commit: in memory,
    on tmpfs (told by the mount table: here one of the test's own), or synchronous=OFF;
    an ATTACH is looked at again."""
    mounts = tmp_path / "mounts"
    folder = str(tmp_path).replace(" ", "\\040")
    monkeypatch.setattr(sqlite_driver, "_MOUNTS", str(mounts))

    async def writes_of(url: str, *, unsynced: bool = False) -> list[str]:
        db = await Database(url).connect()
        if unsynced:
            event.listen(db.engine.sync_engine, "connect", _synchronous_off)
            await db.engine.dispose()
        try:
            await db.create_all()
            outcomes.clear()
            await User.objects.using(db).create(email="m@x.io")
            await User.objects.using(db).filter(email="m@x.io").update(score=2)
            assert await User.objects.using(db).filter(score=2).count() == 1
            return list(outcomes)
        finally:
            await db.disconnect()

    mounts.write_text(f"/dev/vda / ext4 rw 0 0\n/dev/vdb {folder} ext4 rw 0 0\n")
    on_disk = ["write declined", "write declined", "ran"]  # reads stay inline
    assert await writes_of(f"sqlite+aiosqlite:///{tmp_path / 'disk.db'}") == on_disk
    assert await writes_of(f"sqlite+aiosqlite:///{tmp_path / 'off.db'}", unsynced=True) == [
        "write ran",
        "write ran",
        "ran",
    ]
    assert await writes_of("sqlite+aiosqlite://") == ["write ran", "write ran", "ran"]
    mounts.write_text(f"/dev/vda / ext4 rw 0 0\ntmpfs {folder} tmpfs rw 0 0\n")
    assert await writes_of(f"sqlite+aiosqlite:///{tmp_path / 'tmpfs.db'}") == [
        "write ran",
        "write ran",
        "ran",
    ]
    mounts.write_text("not a mount table")
    assert await writes_of(f"sqlite+aiosqlite:///{tmp_path / 'unknown.db'}") == on_disk

    # An in-memory database with a file on disk attached (a plain name would take the
    # connection's memdb VFS, in memory too): the commit would sync that file.
    mounts.write_text(f"/dev/vda / ext4 rw 0 0\n/dev/vdb {folder} ext4 rw 0 0\n")
    db = await Database("sqlite+aiosqlite://", pool_size=1).connect()
    try:
        await db.create_all()
        outcomes.clear()
        await User.objects.using(db).create(email="before@x.io")
        async with db.connection() as conn:
            attached = str(tmp_path / "attached.db").replace("'", "''")
            await conn.execute(text(f"ATTACH DATABASE 'file:{attached}?vfs=unix' AS other"))
            await conn.execute(text("CREATE TABLE other.t (x INTEGER)"))
        await User.objects.using(db).create(email="after@x.io")
        assert outcomes == ["write ran", "write declined"]
    finally:
        await db.disconnect()


async def test_a_write_failing_at_its_commit_fails_the_same_inline(
    tmp_path: Path, outcomes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deferred foreign key is checked when the write commits: inline that is the
    COMMIT after the statement, which fails, is rolled back and raises what the
    statement raises on its own in autocommit."""
    db = await _unsynced(tmp_path / "deferred.db")
    path = tmp_path / "deferred.db"
    try:
        await db.create_all(_DeferredBase.metadata)
        parent = await InlineParent.objects.using(db).create()
        messages = []
        for inline in (True, False):
            monkeypatch.setattr(sqlite_driver, "INLINE_WRITES", inline)
            outcomes.clear()
            with pytest.raises(ConflictError) as raised:
                await InlineChild.objects.using(db).create(parent_id=parent.id + 100)
            assert outcomes == ["write raised" if inline else "write declined"]
            messages.append(str(raised.value))
            with sqlite3.connect(path, timeout=0, isolation_level=None) as other:
                other.execute("BEGIN IMMEDIATE")  # nothing left holding the lock
                other.execute("ROLLBACK")
        assert messages[0] == messages[1] and "foreign key" in messages[0].lower()
        assert await InlineChild.objects.using(db).count() == 0
        made = await InlineChild.objects.using(db).create(parent_id=parent.id)
        assert await InlineChild.objects.using(db).values_list("id", "parent_id") == [
            (made.id, parent.id)
        ]
    finally:
        await db.disconnect()
