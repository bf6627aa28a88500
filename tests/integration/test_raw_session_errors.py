"""SQLAlchemy used directly on orm_kit's sessions and connections: its errors are orm_kit's
too, inside the block where the statement ran (so `except DatabaseError:` there works),
with SQLAlchemy's exception kept on ``__cause__``."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import SQLAlchemyError

from orm_kit import ConflictError, Database, DatabaseError
from tests.models import User


async def test_a_raw_statement_in_a_session_fails_with_an_orm_kit_error_at_once(
    db: Database,
) -> None:
    async with db.session() as session:
        with pytest.raises(DatabaseError) as caught:
            await session.execute(text("SELECT * FROM no_such_table"))
        assert isinstance(caught.value.__cause__, SQLAlchemyError)
        await session.rollback()  # the caller handled it: the session goes on
        await User.objects.create(email="after@x.io")
    assert await User.objects.filter(email="after@x.io").exists()


async def test_a_raw_unique_violation_in_a_session_is_a_conflict(db: Database) -> None:
    await User.objects.create(email="dup@x.io")
    with pytest.raises(ConflictError) as caught:
        async with db.session() as session:
            await session.execute(insert(User).values(email="dup@x.io"))
            raise AssertionError("not reached")  # pragma: no cover
    assert caught.value.constraint == "uq_user_email"
    assert await User.objects.count() == 1


async def test_the_session_factorys_sessions_raise_orm_kit_errors(db: Database) -> None:
    async with db.sessionmaker() as session:
        with pytest.raises(DatabaseError):
            await session.scalar(text("SELECT * FROM no_such_table"))


async def test_a_raw_statement_on_a_connection_fails_with_an_orm_kit_error(
    db: Database,
) -> None:
    with pytest.raises(DatabaseError) as caught:
        async with db.connection() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))
    assert isinstance(caught.value.__cause__, SQLAlchemyError)
    async with db.connection() as conn:  # and the next one works
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


async def test_orm_kit_calls_in_a_session_keep_their_own_context(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await User.objects.create(email="mine@x.io")
    caplog.clear()
    with pytest.raises(ConflictError), caplog.at_level(logging.WARNING, logger="orm_kit"):
        async with db.session():
            await User.objects.create(email="mine@x.io")
    # One record, with the model and operation orm_kit knows (not a generic "statement").
    assert [r.getMessage() for r in caplog.records] == [
        "orm_kit save on User failed: ConflictError (uq_user_email)"
    ]
