"""AuditLogMixin: one audit row per change, in the same transaction as the change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import String, text
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, F, Model, transaction
from orm_kit.mixins import AuditLogMixin, acting_as


class Ledger(Model, AuditLogMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    balance: Mapped[int] = mapped_column(default=0)


async def audit_rows(db: Database) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT object_id, action, changes, actor FROM audit_log ORDER BY id")
        )
        return [
            (oid, action, json.loads(changes) if isinstance(changes, str) else changes, actor)
            for oid, action, changes, actor in rows
        ]


async def test_a_rolled_back_transaction_leaves_no_audit_rows(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with transaction():
            ledger = await Ledger.objects.create(name="cash", balance=10)
            ledger.balance = 20
            await ledger.save()
            await ledger.delete()
            raise RuntimeError("roll back")
    assert await audit_rows(db) == []
    assert await Ledger.objects.count() == 0


async def test_a_committed_transaction_leaves_one_row_per_change(db: Database) -> None:
    with acting_as("clerk"):
        async with transaction():
            ledger = await Ledger.objects.create(name="cash", balance=10)
            ledger.balance = 25
            await ledger.save()
            await ledger.delete()
    rows = await audit_rows(db)
    assert [(action, actor) for _, action, _, actor in rows] == [
        ("insert", "clerk"),
        ("update", "clerk"),
        ("delete", "clerk"),
    ]
    assert {row[0] for row in rows} == {str(ledger.id)}
    assert rows[0][2] == {"id": [None, ledger.id], "name": [None, "cash"], "balance": [None, 10]}
    assert rows[1][2] == {"balance": [10, 25]}  # changed fields only, old -> new


async def test_every_write_path_is_recorded(db: Database) -> None:
    with acting_as("ops"):
        a = await Ledger.objects.create(name="a")  # autocommit call: still audited
        await Ledger.objects.bulk_create([Ledger(name="b"), Ledger(name="c")])
        assert (
            await Ledger.objects.filter(name__in=["a", "b"]).update(balance=F("balance") + 5) == 2
        )
        assert await Ledger.objects.filter(name="c").delete() == 1
        a.name = "a2"
        await a.save()
    rows = await audit_rows(db)
    assert [action for _, action, _, _ in rows] == [
        "insert",
        "insert",
        "insert",
        "bulk_update",
        "bulk_delete",
        "update",
    ]
    bulk = rows[3][2]
    assert bulk["filter"] == ["name__in"]
    assert "balance" in bulk["values"]
    assert rows[4][2] == {"filter": ["name"], "values": {}}
    assert rows[5][2] == {"name": ["a", "a2"]}
    assert all(actor == "ops" for *_, actor in rows)
