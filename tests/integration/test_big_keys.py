"""BigInteger (and SmallInteger) primary keys autoincrement on every backend, as Django's
BigAutoField does; the DDL keeps BIGINT where the backend has it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, SmallInteger, String, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CreateTable

from orm_kit import Database, Model
from tests.backends import supports


class BigKeyed(Model):
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), default="")
    views: Mapped[int] = mapped_column(BigInteger, default=0)  # not a key: left alone


class SmallKeyed(Model):
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), default="")


class BigKeyedChild(Model):
    """A BigInteger key that is also a foreign key: not an autoincrement key."""

    id: Mapped[int] = mapped_column(BigInteger, ForeignKey("big_keyed.id"), primary_key=True)


async def column_type(db: Database, table: str, column: str) -> str:
    """The type the database reports for ``table.column``, as SQL (``BIGINT`` ...)."""
    async with db.engine.connect() as conn:
        columns = await conn.run_sync(lambda c: inspect(c).get_columns(table))
    return next(str(c["type"]) for c in columns if c["name"] == column)


async def test_big_integer_keys_get_ids_from_create_bulk_create_and_save(db: Database) -> None:
    first = await BigKeyed.objects.create(name="a")
    many = await BigKeyed.objects.bulk_create([BigKeyed(name="b"), BigKeyed(name="c")])
    saved = await BigKeyed(name="d").save()
    ids = [first.id, *(obj.id for obj in many), saved.id]
    assert all(isinstance(i, int) for i in ids)
    assert ids == sorted(set(ids))
    rows = await BigKeyed.objects.order_by("id").values_list("id", "name")
    assert rows == list(zip(ids, "abcd", strict=True))
    small = await SmallKeyed.objects.create(name="s")
    assert isinstance(small.id, int)
    assert [o.id for o in await SmallKeyed.objects.bulk_create([SmallKeyed()])] == [small.id + 1]


async def test_big_integer_key_ddl(db: Database) -> None:
    # NOTE(sqlite): only INTEGER PRIMARY KEY is an alias of the rowid, which autoincrements.
    keeps = supports(db.dialect, "bigint_keys")
    assert await column_type(db, "big_keyed", "id") == ("BIGINT" if keeps else "INTEGER")
    assert await column_type(db, "small_keyed", "id") == ("SMALLINT" if keeps else "INTEGER")
    assert await column_type(db, "big_keyed", "views") == "BIGINT"  # not a key: left alone
    assert await column_type(db, "big_keyed_child", "id") == "BIGINT"  # not autoincrement
    pg_ddl = str(CreateTable(BigKeyed.__table__).compile(dialect=postgresql.dialect()))  # type: ignore[arg-type]
    assert "id BIGSERIAL NOT NULL" in pg_ddl
    sqlite_ddl = str(CreateTable(BigKeyed.__table__).compile(dialect=sqlite.dialect()))  # type: ignore[arg-type]
    assert "id INTEGER NOT NULL" in sqlite_ddl and "views BIGINT" in sqlite_ddl


def test_the_key_type_is_still_a_big_integer() -> None:
    column: Any = BigKeyed.__table__.c.id
    assert isinstance(column.type, BigInteger)
    assert column.type.compile(dialect=postgresql.dialect()) == "BIGINT"
    assert column.type.compile(dialect=sqlite.dialect()) == "INTEGER"
