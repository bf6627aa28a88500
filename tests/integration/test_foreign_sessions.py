"""Sessions orm_kit did not make get the model rules too; the user's own models do not.

A session from ``async_sessionmaker(db.engine)`` or from a separate
``create_async_engine(url)`` that touches orm_kit models hides soft-deleted rows (selects
and relationship loads), refuses writes to read-only models, checks values before the
flush and writes audit-log rows — as ``db.sessionmaker``'s sessions do.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import JSON, String, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, selectinload

from orm_kit import Database, Model, ReadOnlyError, ValidationError
from orm_kit.mixins import AuditLogMixin, acting_as
from tests.models import Country, Order, Shop, User

Factory = Callable[[], AsyncSession]


class Vault(Model, AuditLogMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50))


class PlainBase(DeclarativeBase):
    """A user's own declarative base, next to orm_kit's in the same process."""


class PlainNote(PlainBase):
    __tablename__ = "plain_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[Any] = mapped_column(JSON)
    deleted_at: Mapped[str | None] = mapped_column(String(40))


@pytest.fixture(params=["orm_kit engine", "own engine", "db.sessionmaker"])
async def factory(request: pytest.FixtureRequest, db: Database) -> AsyncIterator[Factory]:
    """A session factory orm_kit did not make (and, to compare, ``db.sessionmaker``)."""
    if request.param == "db.sessionmaker":
        yield db.sessionmaker
        return
    if request.param == "orm_kit engine":
        yield async_sessionmaker(db.engine)
        return
    engine = create_async_engine(db.url)
    try:
        yield async_sessionmaker(engine)
    finally:
        await engine.dispose()


async def seed_shops() -> None:
    live = await Shop.objects.create(name="live")
    gone = await Shop.objects.create(name="gone")
    await Order.objects.create(shop_id=live.id, total=1)
    old = await Order.objects.create(shop_id=live.id, total=2)
    await old.delete()
    await gone.delete()


async def test_soft_deleted_rows_are_hidden_from_selects(db: Database, factory: Factory) -> None:
    await seed_shops()
    async with factory() as session:
        shops = (await session.execute(select(Shop))).scalars().all()
        assert [s.name for s in shops] == ["live"]
        assert [o.total for o in (await session.scalars(select(Order)))] == [1]
        included = select(Shop).execution_options(orm_kit_deleted="include")
        assert len((await session.scalars(included)).all()) == 2


async def test_soft_deleted_rows_are_hidden_from_relationship_loads(
    db: Database, factory: Factory
) -> None:
    await seed_shops()
    async with factory() as session:
        shop = (await session.scalars(select(Shop).options(selectinload(Shop.orders)))).one()
        assert [o.total for o in shop.orders] == [1]
    async with factory() as session:
        joined = select(Shop).options(joinedload(Shop.orders))
        shop = (await session.scalars(joined)).unique().one()
        assert [o.total for o in shop.orders] == [1]


async def test_read_only_models_refuse_writes(db: Database, factory: Factory) -> None:
    async with factory() as session:
        session.add(Country(code="XX"))
        with pytest.raises(ReadOnlyError, match="Country is read-only"):
            await session.flush()
    async with factory() as session:
        with pytest.raises(ReadOnlyError):
            await session.execute(update(Country).values(code="YY"))
        with pytest.raises(ReadOnlyError):
            await session.execute(insert(Country).values(code="YY"))
    assert await Country.objects.count() == 0


async def test_values_are_checked_before_the_flush(db: Database, factory: Factory) -> None:
    async with factory() as session:
        session.add(User(email="a@x.io", data=(1, 2)))
        with pytest.raises(ValidationError, match="tuple"):
            await session.flush()
    assert await User.objects.count() == 0


async def test_audit_log_rows_are_written(db: Database, factory: Factory) -> None:
    with acting_as("clerk"):
        async with factory() as session:
            vault = Vault(label="north")
            session.add(vault)
            await session.commit()
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT model, action, actor, changes FROM audit_log"))
        ).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [("Vault", "insert", "clerk")]
    changes = rows[0][3] if isinstance(rows[0][3], dict) else json.loads(rows[0][3])
    assert changes["label"] == [None, "north"]


@pytest.fixture
async def plain_tables(db: Database) -> AsyncIterator[None]:
    async with db.engine.begin() as conn:
        await conn.run_sync(PlainBase.metadata.create_all)
    try:
        yield
    finally:
        async with db.engine.begin() as conn:
            await conn.run_sync(PlainBase.metadata.drop_all)


async def test_the_users_own_models_are_untouched(
    db: Database, factory: Factory, plain_tables: None
) -> None:
    # A value orm_kit refuses on its own models (a tuple in a JSON column) and a row whose
    # deleted_at is set: a plain model saves and reads them as SQLAlchemy alone would.
    async with factory() as session:
        session.add(PlainNote(data=(1, 2), deleted_at="yesterday"))
        await session.commit()
    async with factory() as session:
        notes = (await session.scalars(select(PlainNote))).all()
        assert [(n.data, n.deleted_at) for n in notes] == [([1, 2], "yesterday")]


async def test_sessionmaker_sessions_are_owned_by_the_database(db: Database) -> None:
    async with db.sessionmaker() as session:
        assert db.owns(session)
        await session.execute(text("SELECT 1"))
    async with async_sessionmaker(db.engine)() as foreign:
        assert not db.owns(foreign)
    assert db.sessionmaker is db.sessionmaker  # one factory, not a new one per access
