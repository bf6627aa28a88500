"""The primary key leads the table, ``repr()`` and ``to_dict()``; then the model's own
columns; then the columns its mixins add."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import String, inspect
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model
from orm_kit.mixins import (
    AuditedModel,
    AuditMixin,
    SoftDeleteMixin,
    SoftDeleteModel,
    TimestampedModel,
    TimestampMixin,
    UUIDModel,
    UUIDPrimaryKeyMixin,
)

MIXIN_COLUMNS = ["created_at", "updated_at", "deleted_at", "created_by", "updated_by"]


class OrdDoc(UUIDPrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, AuditMixin, Model):
    title: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(String(200), default="")


class OrdDocModelFirst(Model, UUIDPrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, AuditMixin):
    title: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(String(200), default="")


class OrdAudited(AuditedModel):
    title: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(String(200), default="")


class OrdUUID(UUIDModel):
    title: Mapped[str] = mapped_column(String(50))


class OrdSoft(SoftDeleteModel):
    title: Mapped[str] = mapped_column(String(50))
    id: Mapped[int] = mapped_column(primary_key=True)  # declared last, still leads


class OrdStamped(TimestampedModel):
    title: Mapped[str] = mapped_column(String(50))
    code: Mapped[str] = mapped_column(String(8), primary_key=True)


EXPECTED: dict[type[Any], list[str]] = {
    OrdDoc: ["id", "title", "body", *MIXIN_COLUMNS],
    OrdDocModelFirst: ["id", "title", "body", *MIXIN_COLUMNS],
    OrdAudited: ["id", "title", "body", *MIXIN_COLUMNS],
    OrdUUID: ["id", "title", "created_at", "updated_at"],
    OrdSoft: ["id", "title", "created_at", "updated_at", "deleted_at"],
    OrdStamped: ["code", "title", "created_at", "updated_at"],
}
MODELS = list(EXPECTED)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_table_columns_start_with_the_primary_key(model: type[Any]) -> None:
    assert [c.name for c in model.__table__.columns] == EXPECTED[model]


async def database_columns(db: Database, table: str) -> list[str]:
    """The table's columns in the order the database keeps them (its DDL order)."""
    async with db.engine.connect() as conn:
        columns = await conn.run_sync(lambda c: inspect(c).get_columns(table))
    return [str(column["name"]) for column in columns]


async def test_the_ddl_puts_the_primary_key_first(db: Database) -> None:
    for model in MODELS:
        assert await database_columns(db, model.__tablename__) == EXPECTED[model]


async def test_repr_and_to_dict_start_with_the_primary_key(db: Database) -> None:
    doc = await OrdDoc.objects.create(title="t", body="b")
    assert list(doc.to_dict()) == EXPECTED[OrdDoc]
    assert repr(doc).startswith(f"OrdDoc(id={doc.id!r}, title='t', body='b', created_at=")
    loaded = await OrdDoc.objects.get(id=doc.id)
    assert list(loaded.to_dict()) == EXPECTED[OrdDoc]
    assert list((await OrdDoc.objects.values().get(id=doc.id)).keys()) == EXPECTED[OrdDoc]
    soft = await OrdSoft.objects.create(id=7, title="s")
    assert repr(soft).startswith("OrdSoft(id=7, title='s', created_at=")
    assert list(soft.to_dict()) == EXPECTED[OrdSoft]
