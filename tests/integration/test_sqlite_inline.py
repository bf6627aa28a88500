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
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from orm_kit import Database, DatabaseError, NotFoundError, sqlite_driver
from orm_kit.sqlite_driver import BUSY, LONG, OneTripConnection
from tests.integration.typed_values import typed
from tests.models import User


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}").connect()
    await database.create_all()
    yield database
    await database.disconnect()


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What each ``run_inline`` call answered: ran, busy, long or declined."""
    seen: list[str] = []
    real = OneTripConnection.run_inline

    def spied(self: OneTripConnection, operation: str, parameters: Any) -> Any:
        outcome = real(self, operation, parameters)
        names = {id(BUSY): "busy", id(LONG): "long", id(None): "declined"}
        seen.append(names.get(id(outcome), "ran"))
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
