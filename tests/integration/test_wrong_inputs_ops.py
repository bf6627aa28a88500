"""Wrong inputs met against real databases: an engine argument SQLAlchemy refuses, an
isolation level the backend's dialect does not list, the user's own server_settings, the
transaction decorator applied before connect, a retried conflict's log line, a lost
prepared statement, a SQLite file in a folder that does not exist, a ``String`` without the
length MariaDB / MySQL need."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, inspect, text

from orm_kit import (
    Database,
    DatabaseError,
    DatabaseUnavailableError,
    ValidationError,
    transaction,
)
from orm_kit.connections import registry
from orm_kit.context import current_session
from orm_kit.exceptions import translated
from tests.backends import dialect_of
from tests.models import User

# NOTE(postgresql): a server error with SQLSTATE 40001, raised by the server itself.
RAISE_SERIALIZATION_FAILURE = (
    "DO $$ BEGIN RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END $$"
)


async def test_an_engine_argument_sqlalchemy_refuses_is_a_validation_error(
    backend_url: str,
) -> None:
    other = Database(backend_url, name="bogus", isolation_level="BOGUS")
    with pytest.raises(ValidationError, match="BOGUS") as caught:
        await other.connect()
    assert "create_async_engine" in str(caught.value)
    assert not other.is_connected


async def test_read_uncommitted_is_accepted(db: Database) -> None:
    async with transaction(isolation_level="READ UNCOMMITTED"):
        await User.objects.create(email="ru@x.io")
    assert await User.objects.filter(email="ru@x.io").count() == 1


@pytest.mark.requires("serialization_failures")
async def test_read_uncommitted_runs_as_read_committed(db: Database) -> None:
    # PostgreSQL runs READ UNCOMMITTED as READ COMMITTED; orm_kit asks for that.
    async with db.transaction(isolation_level="READ UNCOMMITTED") as session:
        level = (await session.execute(text("SHOW transaction_isolation"))).scalar()
    assert level == "read committed"


@pytest.mark.requires("server_settings")
async def test_statement_timeout_is_kept_beside_the_users_server_settings(
    backend_url: str,
) -> None:
    own = {"server_settings": {"application_name": "polish-app"}}
    async with Database(backend_url, name="mixed", statement_timeout=3, connect_args=own) as other:
        shown = await other.run_direct(
            text(
                "SELECT current_setting('statement_timeout'), current_setting('application_name')"
            ),
            lambda r: tuple(r.one()),
        )
    assert shown == ("3s", "polish-app")
    assert own == {"server_settings": {"application_name": "polish-app"}}  # not changed


@pytest.mark.requires("server_settings")
async def test_the_users_statement_timeout_server_setting_wins(backend_url: str) -> None:
    own = {"server_settings": {"statement_timeout": "7000"}}
    async with Database(backend_url, name="mine", statement_timeout=3, connect_args=own) as other:
        shown = await other.run_direct(text("SHOW statement_timeout"), lambda r: r.scalar())
    assert shown == "7s"


async def test_a_transaction_decorator_applied_before_connect(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "default", None)  # as at import time: nothing connected

    @transaction()
    async def add(email: str, fail: bool = False) -> bool:
        await User.objects.create(email=email)
        if fail:
            raise LookupError("roll it back")
        return current_session() is not None

    monkeypatch.undo()  # the application connects; then the function is called
    assert await add("a@x.io") is True
    with pytest.raises(LookupError):
        await add("b@x.io", fail=True)
    assert await add("c@x.io") is True  # each call is a transaction of its own
    emails = await User.objects.order_by("email").values_list("email", flat=True)
    assert emails == ["a@x.io", "c@x.io"]


async def test_a_database_transaction_decorator_before_connect(backend_url: str) -> None:
    later = Database(backend_url, name="later")

    @later.transaction()
    async def count() -> int:
        session = current_session()
        assert session is not None and later.owns(session)
        return await User.objects.count()

    async with later:
        assert await count() == 0
        assert await count() == 0  # the decorator opens a new unit of work each call


@pytest.mark.requires("serialization_failures")
async def test_a_retried_conflict_is_not_logged_as_a_failure(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    @transaction(retries=2, backoff=0)
    async def always_conflicts() -> None:
        session = current_session()
        assert session is not None
        await session.execute(text(RAISE_SERIALIZATION_FAILURE))

    with caplog.at_level(logging.INFO, logger="orm_kit"), pytest.raises(DatabaseError):
        await always_conflicts()
    failed = [r for r in caplog.records if " failed: " in r.getMessage()]
    assert [r.levelno for r in failed] == [logging.INFO, logging.INFO, logging.WARNING]
    assert all(r.getMessage().endswith("will retry") for r in failed[:2])
    assert not failed[2].getMessage().endswith("will retry")  # the last one is the failure


@pytest.mark.requires("prepared_statements")
async def test_a_missing_prepared_statement_suggests_the_pgbouncer_preset(db: Database) -> None:
    with pytest.raises(DatabaseError, match="DATABASE_PGBOUNCER=true"), translated():
        await db.run_direct(text("DEALLOCATE orm_kit_not_prepared"), lambda r: None)


@pytest.mark.requires("database_files")
async def test_a_database_file_in_a_missing_folder_names_the_folder(
    db: Database, tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    other = Database(f"sqlite+aiosqlite:///{missing}/app.db", name="nowhere")
    with pytest.raises(DatabaseUnavailableError) as caught:
        await other.connect()
    message = str(caught.value)
    assert str(missing) in message and "does not exist" in message
    assert not other.is_connected


def _tables_with_an_unsized_string() -> MetaData:
    md = MetaData()
    Table("aa_sized", md, Column("id", Integer, primary_key=True), Column("t", String(20)))
    Table("zz_unsized", md, Column("id", Integer, primary_key=True), Column("t", String))
    return md


async def test_a_string_without_a_length_is_refused_on_mysql_before_any_ddl(
    db: Database, backend: str
) -> None:
    md = _tables_with_an_unsized_string()
    try:
        if dialect_of(backend) != "mysql":  # VARCHAR without a length is fine elsewhere
            await db.create_all(md)
            await db.reset(md)
            assert set(await _table_names(db)) >= {"aa_sized", "zz_unsized"}
            return
        for make in (db.create_all, db.reset):
            with pytest.raises(ValidationError, match="String\\(255\\)") as caught:
                await make(md)
            assert "zz_unsized" in str(caught.value) and "'t'" in str(caught.value)
            # The sized table, which comes first, was not made either.
            assert not {"aa_sized", "zz_unsized"} & set(await _table_names(db))
        # reset() drops nothing when it cannot make the tables again.
        sized = MetaData()
        md.tables["aa_sized"].to_metadata(sized)
        await db.create_all(sized)
        with pytest.raises(ValidationError):
            await db.reset(md)
        assert "aa_sized" in await _table_names(db)
    finally:
        await db.drop_all(md)


async def test_a_deferrable_foreign_key_is_refused_on_mysql_before_any_ddl(
    db: Database, backend: str
) -> None:
    md = MetaData()
    Table("aa_parent", md, Column("id", Integer, primary_key=True))
    Table(
        "zz_child",
        md,
        Column("id", Integer, primary_key=True),
        Column("parent_id", ForeignKey("aa_parent.id", deferrable=True, initially="DEFERRED")),
    )
    try:
        if dialect_of(backend) != "mysql":  # PostgreSQL and SQLite defer the check
            await db.create_all(md)
            assert set(await _table_names(db)) >= {"aa_parent", "zz_child"}
            return
        for make in (db.create_all, db.reset):
            with pytest.raises(ValidationError, match="no DEFERRABLE") as caught:
                await make(md)
            assert "zz_child" in str(caught.value) and "'parent_id'" in str(caught.value)
            # The parent table, which comes first, was not made either.
            assert not {"aa_parent", "zz_child"} & set(await _table_names(db))
    finally:
        await db.drop_all(md)


async def _table_names(db: Database) -> list[str]:
    async with db.connection() as conn:
        return await conn.run_sync(lambda c: inspect(c).get_table_names())
