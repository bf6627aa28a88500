"""Static typing checks of the blocking facade, run by `make typecheck`; never executed."""

from __future__ import annotations

from typing import Any, assert_type

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model, sync


class Gadget(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


async def plain(n: int) -> str:
    return str(n)


def check_sync_types() -> None:
    db = sync.connect("sqlite+aiosqlite:///:memory:")
    assert_type(db, Database)
    assert_type(sync.run(Gadget.objects.filter(name="a")), list[Gadget])
    assert_type(sync.run(Gadget.objects.get(id=1)), Gadget)
    assert_type(sync.run(Gadget.objects.first()), Gadget | None)
    assert_type(sync.run(Gadget.objects.count()), int)
    assert_type(sync.run(Gadget.objects.values_list("name", flat=True)), list[Any])
    assert_type(sync.run(plain(1), timeout=5), str)
    with sync.session(db) as session:
        assert_type(session, AsyncSession)
    with sync.transaction() as session:
        assert_type(session, AsyncSession)
    sync.close()
