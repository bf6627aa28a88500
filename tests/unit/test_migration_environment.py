"""orm_kit's Alembic set-up without a database: the render hook, diff lines, dialect support."""

from __future__ import annotations

import sys

import pytest
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import _repr_type
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Index, Integer, MetaData, String, Table

from orm_kit.migrations import MigrationError, migration_options, render_item
from orm_kit.migrations.environment import describe, enable_dialect_support
from orm_kit.types import UTCDateTime


def autogen_context() -> AutogenContext:
    options = {
        "render_item": render_item,
        "user_module_prefix": None,
        "sqlalchemy_module_prefix": "sa.",
        "alembic_module_prefix": "op.",
    }
    return AutogenContext(MigrationContext.configure(dialect_name="sqlite", opts=options))


def test_orm_kit_types_come_with_their_import() -> None:
    context = autogen_context()
    assert _repr_type(UTCDateTime(), context) == "orm_kit.types.UTCDateTime(timezone=True)"
    assert context.imports == {"import orm_kit.types"}


def test_sqlalchemy_types_need_no_import() -> None:
    context = autogen_context()
    assert _repr_type(String(20), context) == "sa.String(length=20)"
    assert context.imports == set()


@pytest.mark.parametrize(
    ("dialect", "batch"), [("sqlite", True), ("postgresql", False)], ids=["on_sqlite", "on_pg"]
)
def test_options(dialect: str, batch: bool) -> None:
    options = migration_options(dialect)
    assert options["render_as_batch"] is batch
    assert options["compare_type"] is True
    compare = options[
        "compare_server_default"
    ]  # Alembic's comparison, but now() as the server spells it
    assert compare(None, None, None, "current_timestamp(6)", None, "now()") is False
    assert compare(None, None, None, "CURRENT_TIMESTAMP", None, "now()") is False
    assert compare(None, None, None, "'0'", None, "now()") is None  # Alembic decides
    assert compare(None, None, None, "'0'", None, "'1'") is None
    assert options["transactional_ddl"] is True
    assert options["target_metadata"].naming_convention["uq"] == (
        "uq_%(table_name)s_%(column_0_N_name)s"
    )


def test_differences_are_one_line_each() -> None:
    table = Table("author", MetaData(), Column("id", Integer), Column("nick", String(9)))
    index = Index("ix_author_nick", table.c.nick)
    diffs = [
        ("add_table", table),
        ("add_column", None, "author", table.c.nick),
        ("add_index", index),
        [("modify_type", None, "author", "nick", {}, String(5), String(9))],
    ]
    assert describe(diffs) == [
        "add_table: author",
        "add_column: author.nick",
        "add_index: author.ix_author_nick",
        "modify_type: author.nick",
    ]


def test_postgresql_without_the_enum_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "alembic_postgresql_enum", None)  # import fails
    enable_dialect_support("sqlite")  # needs nothing
    with pytest.raises(MigrationError, match=r"pip install 'orm_kit\[postgres\]'"):
        enable_dialect_support("postgresql")
