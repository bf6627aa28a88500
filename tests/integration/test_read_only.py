"""ReadOnlyMixin on relationship writes and on ORM ``insert()`` statements of a session."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, String, Table, insert, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_kit import Database, Model, ReadOnlyError
from orm_kit.mixins import ReadOnlyMixin, allow_writes
from tests.models import Country


class RoRegion(Model, ReadOnlyMixin):
    """Read-only, with a writable one-to-many (towns) and many-to-many (twin_towns)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    towns: Mapped[list[RoTown]] = relationship(back_populates="region")
    twin_towns: Mapped[list[RoTown]] = relationship(
        secondary="ro_twinning", back_populates="twin_regions"
    )


class RoTown(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("ro_region.id"))
    region: Mapped[RoRegion | None] = relationship(back_populates="towns")
    twin_regions: Mapped[list[RoRegion]] = relationship(
        secondary="ro_twinning", back_populates="twin_towns"
    )


ro_twinning = Table(
    "ro_twinning",
    Model.metadata,
    Column("region_id", ForeignKey("ro_region.id", ondelete="CASCADE"), primary_key=True),
    Column("town_id", ForeignKey("ro_town.id", ondelete="CASCADE"), primary_key=True),
)


ON_REGION = r"RoRegion is read-only: RoRegion\.related\('\w+'\)\.\w+\(\) was refused"
ON_TOWN = r"RoRegion is read-only: RoTown\.related\('twin_regions'\)\.\w+\(\) was refused"


async def raw(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql))]


async def snapshot(db: Database) -> tuple[list[tuple[Any, ...]], ...]:
    return (
        await raw(db, "SELECT id, name FROM ro_region ORDER BY id"),
        await raw(db, "SELECT id, name, region_id FROM ro_town ORDER BY id"),
        await raw(db, "SELECT region_id, town_id FROM ro_twinning ORDER BY town_id"),
    )


@pytest.fixture
async def seeded(db: Database) -> tuple[RoRegion, RoTown, RoTown]:
    with allow_writes(RoRegion):
        region = await RoRegion.objects.create(id=1, name="North")
    linked = await RoTown.objects.create(id=1, name="Oslo", region_id=region.id)
    free = await RoTown.objects.create(id=2, name="Bergen")
    async with db.engine.begin() as conn:
        await conn.execute(insert(ro_twinning).values(region_id=1, town_id=1))
    return region, linked, free


async def test_related_writes_on_a_read_only_instance_are_refused(
    db: Database, seeded: tuple[RoRegion, RoTown, RoTown]
) -> None:
    region, linked, free = seeded
    before = await snapshot(db)
    attempts = [
        lambda: region.related("towns").add(free),
        lambda: region.related("towns").remove(linked),
        lambda: region.related("towns").set([free]),
        lambda: region.related("towns").clear(),
        lambda: region.related("twin_towns").add(free),
        lambda: region.related("twin_towns").remove(linked),
        lambda: region.related("twin_towns").set([free]),
        lambda: region.related("twin_towns").clear(),
    ]
    for attempt in attempts:
        with pytest.raises(ReadOnlyError, match=ON_REGION):
            await attempt()
    assert await snapshot(db) == before


async def test_related_writes_to_a_read_only_model_are_refused(
    db: Database, seeded: tuple[RoRegion, RoTown, RoTown]
) -> None:
    region, linked, free = seeded
    before = await snapshot(db)
    attempts = [
        lambda: free.related("twin_regions").add(region),
        lambda: linked.related("twin_regions").remove(region),
        lambda: free.related("twin_regions").set([region]),
        lambda: linked.related("twin_regions").clear(),
    ]
    for attempt in attempts:
        with pytest.raises(ReadOnlyError, match=ON_TOWN):
            await attempt()
    async with db.session():  # the same inside a session; nothing reaches the database
        with pytest.raises(ReadOnlyError):
            await free.related("twin_regions").add(region)
    assert await snapshot(db) == before


async def test_allow_writes_lifts_the_rule_for_related_writes(
    db: Database, seeded: tuple[RoRegion, RoTown, RoTown]
) -> None:
    region, linked, free = seeded
    with allow_writes(RoRegion):
        await region.related("towns").add(free)
        await free.related("twin_regions").add(region)
        await region.related("twin_towns").remove(linked)
    assert await snapshot(db) == (
        [(1, "North")],
        [(1, "Oslo", 1), (2, "Bergen", 1)],
        [(1, 2)],
    )


async def test_orm_insert_of_a_read_only_model_on_a_session_is_refused(db: Database) -> None:
    with pytest.raises(ReadOnlyError, match="Country is read-only"):
        async with db.session() as session:
            await session.execute(insert(Country).values(code="NO"))
    with pytest.raises(ReadOnlyError, match="Country is read-only"):
        async with db.session() as session:
            await session.execute(insert(Country), [{"code": "SE"}, {"code": "DK"}])
    assert await raw(db, "SELECT code FROM country") == []
    with allow_writes(Country):
        async with db.session() as session:
            await session.execute(insert(Country).values(code="IS"))
    assert await raw(db, "SELECT code FROM country") == [("IS",)]
