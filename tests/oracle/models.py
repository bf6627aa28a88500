"""The oracle's models: a row with one column of each kind, a to-one parent, to-many children.

They register on ``orm_kit.Model.metadata`` at import, so the session fixture creates their
tables together with the other test models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_kit import Model
from orm_kit.types import UTCDateTime

__all__ = ["OracleChild", "OracleParent", "OracleRow"]


class OracleParent(Model):
    """The to-one target; never written by the oracle's queries."""

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(40))
    rank: Mapped[int | None]

    rows: Mapped[list[OracleRow]] = relationship(back_populates="parent")


class OracleRow(Model):
    """The row every generated query runs over."""

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    i: Mapped[int]
    ni: Mapped[int | None]
    s: Mapped[str] = mapped_column(String(40))
    ns: Mapped[str | None] = mapped_column(String(40))
    b: Mapped[bool]
    f: Mapped[float]
    dt: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("oracle_parent.id"))

    parent: Mapped[OracleParent | None] = relationship(back_populates="rows")
    children: Mapped[list[OracleChild]] = relationship(back_populates="row")


class OracleChild(Model):
    """The to-many side: deleted with its row (ON DELETE CASCADE)."""

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    row_id: Mapped[int] = mapped_column(ForeignKey("oracle_row.id", ondelete="CASCADE"))
    v: Mapped[int]
    t: Mapped[str] = mapped_column(String(40))

    row: Mapped[OracleRow] = relationship(back_populates="children")


ROW_COLUMNS = ("id", "i", "ni", "s", "ns", "b", "f", "dt", "data", "parent_id")
"""The columns of ``OracleRow`` in table order (the keys of ``values()``)."""
