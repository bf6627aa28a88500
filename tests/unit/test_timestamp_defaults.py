"""The timestamp columns' server defaults, in the DDL of each dialect (no database)."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateTable

from tests.models import Invoice


@pytest.mark.parametrize(
    ("dialect", "default"),
    [(sqlite.dialect(), "DEFAULT CURRENT_TIMESTAMP"), (postgresql.dialect(), "DEFAULT now()")],
    ids=["sqlite_ddl", "postgresql_ddl"],
)
def test_created_and_updated_at_have_a_server_default(dialect: Dialect, default: str) -> None:
    ddl = str(CreateTable(Invoice.__table__).compile(dialect=dialect))  # type: ignore[arg-type]
    lines = {line.strip().split()[0]: line for line in ddl.splitlines() if line.strip()}
    assert default in lines["created_at"]
    assert default in lines["updated_at"]
    assert "DEFAULT" not in lines["deleted_at"]


def test_the_python_default_still_wins() -> None:
    column = Invoice.__table__.c.created_at
    assert column.default is not None and column.default.is_callable
    assert Invoice.__table__.c.updated_at.onupdate is not None
