"""The benchmark table, mapped three ways: an orm_kit model, a SQLAlchemy ORM model and a
SQLAlchemy Core ``Table``. All three describe the same table, ``bench_row``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Identity,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orm_kit import Model

__all__ = ["COLUMNS", "TABLE", "BenchRow", "SaBenchRow", "core_table"]

TABLE = "bench_row"
# Every column but the identity primary key, in insert order.
COLUMNS = ("created_at", "level", "name", "active", "note", "score", "counter")


class _BenchColumns:
    """The eight columns, declared once for both the orm_kit and the plain SQLAlchemy model."""

    __tablename__ = TABLE

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    level: Mapped[int] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool]
    note: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float]
    counter: Mapped[int]


class BenchRow(_BenchColumns, Model):
    """The orm_kit model (registered on ``Model.metadata``; only its table is created)."""


class SaBase(DeclarativeBase):
    """A plain SQLAlchemy declarative base with its own metadata."""


class SaBenchRow(_BenchColumns, SaBase):
    """The hand-written SQLAlchemy ORM model of the same table."""


core_table = Table(
    TABLE,
    MetaData(),
    Column("id", Integer, Identity(), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("level", Integer, nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("note", Text),
    Column("score", Float, nullable=False),
    Column("counter", Integer, nullable=False),
)
