"""Models and seed rows for the hostile-input fuzz test (tables ``hostile_*``).

One column of every type orm_kit maps, nullable and NOT NULL, plus a to-one and a to-many
relation, so every bind path (integers of both widths, bounded and unbounded text,
booleans, floats, decimals, aware / naive timestamps, dates, UUIDs, JSON) is reached.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_kit import Model
from orm_kit.types import UTCDateTime

__all__ = [
    "ITEM_SEED",
    "ITEM_TABLE",
    "OWNER_SEED",
    "OWNER_TABLE",
    "SEED_IDS",
    "HostileItem",
    "HostileOwner",
    "seed_tables",
]


class HostileOwner(Model):
    __tablename__ = "hostile_owner"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20), default="")

    items: Mapped[list[HostileItem]] = relationship(back_populates="owner")


class HostileItem(Model):
    __tablename__ = "hostile_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    i: Mapped[int] = mapped_column(default=0)
    ni: Mapped[int | None]
    big: Mapped[int | None] = mapped_column(BigInteger)
    s: Mapped[str] = mapped_column(String(20), default="")
    t: Mapped[str | None] = mapped_column(Text)
    b: Mapped[bool] = mapped_column(default=False)
    f: Mapped[float | None]
    d: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    nt: Mapped[datetime | None] = mapped_column(DateTime)
    dt: Mapped[date | None]
    u: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    j: Mapped[Any | None] = mapped_column(JSON)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("hostile_owner.id"))

    owner: Mapped[HostileOwner | None] = relationship(back_populates="items")


OWNER_SEED: list[dict[str, Any]] = [
    {"id": 1001, "name": "alpha"},
    {"id": 1002, "name": "beta"},
]

_NULLS = dict.fromkeys(("ni", "big", "t", "f", "d", "at", "nt", "dt", "u", "j", "owner_id"))

ITEM_SEED: list[dict[str, Any]] = [
    {
        "id": 1001,
        "i": 1,
        "ni": None,
        "big": 2**40,
        "s": "abc",
        "t": "Hello %_\\ 'q' \"dq\"",
        "b": True,
        "f": 1.5,
        "d": Decimal("12.34"),
        "at": datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "nt": datetime(2024, 1, 2, 3, 4, 5, 678901),
        "dt": date(2024, 1, 2),
        "u": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "j": {"k": "v", "n": 1, "l": [1, 2]},
        "owner_id": 1001,
    },
    {**_NULLS, "id": 1002, "i": 2, "ni": 7, "s": "ABC", "b": False},
    {
        **_NULLS,
        "id": 1003,
        "i": -5,
        "ni": 0,
        "big": -1,
        "s": "",
        "t": "",
        "b": False,
        "f": -0.25,
        "d": Decimal("-1.00"),
        "dt": date(1999, 12, 31),
        "j": [1, "two", None],
        "owner_id": 1002,
    },
]

SEED_IDS = tuple(row["id"] for row in ITEM_SEED)
ITEM_TABLE: Table = Model.metadata.tables["hostile_item"]
OWNER_TABLE: Table = Model.metadata.tables["hostile_owner"]


async def seed_tables(conn: Any) -> None:
    """Empty the hostile tables and insert the seed rows (plain SQLAlchemy Core)."""
    await conn.execute(ITEM_TABLE.delete())
    await conn.execute(OWNER_TABLE.delete())
    await conn.execute(OWNER_TABLE.insert(), OWNER_SEED)
    await conn.execute(ITEM_TABLE.insert(), ITEM_SEED)
