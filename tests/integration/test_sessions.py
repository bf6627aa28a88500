"""The ambient session, autocommit outside it, transactions, savepoints and on_commit."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orm_kit import ConflictError, Database, ValidationError, on_commit, transaction
from orm_kit.context import current_session
from tests.models import User


async def raw_emails(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text('SELECT email FROM "user" ORDER BY email'))
        return list(rows.scalars())


async def test_outside_a_session_each_call_commits_on_its_own(db: Database) -> None:
    await User.objects.create(email="a@x.io")
    assert current_session() is None
    assert await raw_emails(db) == ["a@x.io"]  # visible to another connection at once


async def test_session_commits_on_success(db: Database) -> None:
    async with db.session() as session:
        assert current_session() is session
        await User.objects.create(email="a@x.io")
        await User.objects.create(email="b@x.io")
        assert await User.objects.count() == 2  # the session sees its own writes
    assert current_session() is None
    assert await raw_emails(db) == ["a@x.io", "b@x.io"]


async def test_session_rolls_back_on_error(db: Database) -> None:
    class BoomError(Exception):
        pass

    with pytest.raises(BoomError):
        async with db.session():
            await User.objects.create(email="a@x.io")
            await User.objects.filter(email="a@x.io").update(name="x")
            raise BoomError
    assert await raw_emails(db) == []


async def test_conflict_inside_a_session_rolls_everything_back(db: Database) -> None:
    await User.objects.create(email="dup@x.io")
    with pytest.raises(ConflictError):
        async with db.session():
            await User.objects.create(email="new@x.io")
            await User.objects.create(email="dup@x.io")
    assert await raw_emails(db) == ["dup@x.io"]


async def test_nested_transaction_is_a_savepoint(db: Database) -> None:
    async with transaction():
        await User.objects.create(email="outer@x.io")
        with pytest.raises(ConflictError):
            async with transaction():
                await User.objects.create(email="inner@x.io")
                await User.objects.create(email="outer@x.io")
        await User.objects.create(email="after@x.io")
    assert await raw_emails(db) == ["after@x.io", "outer@x.io"]


async def test_on_commit_runs_after_outer_commit_only(db: Database) -> None:
    events: list[str] = []

    async def async_cb() -> None:
        events.append("async")

    async with transaction():
        await User.objects.create(email="a@x.io")
        on_commit(lambda: events.append("outer"))
        on_commit(async_cb)
        with pytest.raises(ZeroDivisionError):
            async with transaction():
                on_commit(lambda: events.append("rolled-back savepoint"))
                _ = 1 / 0
        async with transaction():
            on_commit(lambda: events.append("kept savepoint"))
        assert events == []
    assert events == ["outer", "async", "kept savepoint"]

    events.clear()
    with pytest.raises(RuntimeError):
        async with transaction():
            on_commit(lambda: events.append("never"))
            raise RuntimeError
    assert events == []
    on_commit(lambda: events.append("immediate"))  # outside a transaction: at once
    assert events == ["immediate"]


async def test_using_an_explicit_session_flushes_but_does_not_commit(db: Database) -> None:
    session = db.new_session()
    try:
        await User.objects.using(session).create(email="a@x.io")
        assert await User.objects.using(session).count() == 1
        assert await raw_emails(db) == []
        await session.rollback()
    finally:
        await session.close()
    assert await raw_emails(db) == []


async def test_transaction_on_a_user_session(db: Database) -> None:
    session = db.new_session()
    try:
        async with transaction(session) as s:
            assert isinstance(s, AsyncSession)
            await User.objects.create(email="a@x.io")  # ambient inside the block
    finally:
        await session.close()
    assert await raw_emails(db) == ["a@x.io"]


async def test_concurrent_tasks_never_share_a_session(db: Database) -> None:
    seen: list[AsyncSession] = []

    async def worker(i: int) -> None:
        async with db.session() as session:
            seen.append(session)
            await User.objects.create(email=f"w{i}@x.io")
            await asyncio.sleep(0)
            assert current_session() is session

    await asyncio.gather(*(worker(i) for i in range(5)))
    assert len({id(s) for s in seen}) == 5
    assert len(await raw_emails(db)) == 5


async def test_nested_session_reuses_the_outer_one(db: Database) -> None:
    async with db.session() as outer, db.session() as inner:
        assert inner is outer


async def test_save_inside_a_session_joins_it(db: Database) -> None:
    user = await User.objects.create(email="a@x.io")
    with pytest.raises(RuntimeError):
        async with db.session():
            user.name = "changed"
            await user.save()
            raise RuntimeError
    # The rollback expired the instance (SQLAlchemy semantics); reload it.
    await user.refresh_from_db()
    assert user.name == ""
    assert (await User.objects.get(id=user.id)).name == ""


async def test_a_task_started_inside_a_session_cannot_use_it(db: Database) -> None:
    async with db.session():
        await User.objects.create(email="parent@x.io")
        child = asyncio.create_task(User.objects.count())
        with pytest.raises(ValidationError, match="another task"):
            await child
        # Explicitly asking for the database runs the child in autocommit instead.
        assert await asyncio.create_task(User.objects.using(db).count()) == 0


@pytest.mark.requires("concurrent_writers")  # on SQLite the child would wait for the parent
async def test_a_task_started_inside_a_session_can_open_its_own(db: Database) -> None:
    async with db.session():
        await User.objects.create(email="parent@x.io")

        async def own_session() -> int:
            async with db.session():
                return await User.objects.count()

        assert await asyncio.create_task(own_session()) == 0  # parent not committed yet
