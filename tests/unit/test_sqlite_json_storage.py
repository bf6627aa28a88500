"""JSON columns on SQLite are declared with TEXT affinity and reflect back as JSON."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable

from orm_kit.types import SQLITE_JSON_TYPE


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "doc",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.JSON),
        sa.Column("extra", sqlite.JSON),
    )


def test_the_declared_type_has_text_affinity() -> None:
    ddl = str(CreateTable(_table(sa.MetaData())).compile(dialect=sqlite.dialect()))
    assert f"body {SQLITE_JSON_TYPE}" in ddl and f"extra {SQLITE_JSON_TYPE}" in ddl
    assert "TEXT" in SQLITE_JSON_TYPE  # SQLite's rule 2: TEXT affinity
    # Other backends keep their own JSON types.
    from sqlalchemy.dialects import postgresql

    assert "body JSON" in str(
        CreateTable(_table(sa.MetaData())).compile(dialect=postgresql.dialect())
    )


def test_a_bare_number_is_stored_as_text_and_reflects_as_json() -> None:
    engine = sa.create_engine("sqlite://")
    table = _table(sa.MetaData())
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(table.insert().values(body=0.0, extra=2**62 + 5))
        row = conn.execute(
            sa.select(sa.func.typeof(table.c.body), table.c.body, table.c.extra)
        ).one()
        assert row == ("text", 0.0, 2**62 + 5)
        assert isinstance(row[1], float)
        reflected = sa.Table("doc", sa.MetaData(), autoload_with=conn)
    assert isinstance(reflected.c.body.type, sa.JSON)
    assert isinstance(reflected.c.extra.type, sa.JSON)
    engine.dispose()
