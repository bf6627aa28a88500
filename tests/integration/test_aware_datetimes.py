"""A plain ``DateTime(timezone=True)`` column keeps the instant on every backend.

PostgreSQL stores ``timestamptz``; SQLite and MariaDB / MySQL have no time zone in their
column types, so orm_kit stores such a column's values in UTC there and reads them back
aware (``tzinfo=UTC``), as PostgreSQL returns them. The data mixes offsets so that the
wall times order the rows differently from the instants, and one instant is written twice
at different offsets: a backend that kept the wall time and dropped the offset fails every
test here. Reads run on the raw path (``orm_kit.raw_path``) and on the plain path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import TIMESTAMP, DateTime, String, insert, select
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CreateTable

from orm_kit import Database, Max, Min, Model, ValidationError, raw_path
from tests.integration.typed_values import typed


def tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


class Moment(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stamp: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    wall: Mapped[datetime | None] = mapped_column(DateTime)


# id: (label, aware value). Wall-time order is e, a, b, d, c; instant order is a = a2, b, c, d, e.
WHEN: dict[int, tuple[str, datetime]] = {
    1: ("a", datetime(2026, 3, 1, 12, 0, tzinfo=tz(5))),  # 07:00 UTC
    2: ("a2", datetime(2026, 3, 1, 4, 0, tzinfo=tz(-3))),  # 07:00 UTC, the same instant
    3: ("b", datetime(2026, 3, 1, 8, 0, tzinfo=UTC)),  # 08:00 UTC
    4: ("c", datetime(2026, 3, 1, 3, 30, tzinfo=tz(-5))),  # 08:30 UTC
    5: ("d", datetime(2026, 3, 1, 23, 30, tzinfo=tz(-2))),  # 01:30 UTC on March 2nd
    6: ("e", datetime(2026, 3, 2, 2, 0, tzinfo=tz(-10))),  # 12:00 UTC on March 2nd
}
BY_INSTANT = [1, 2, 3, 4, 5, 6]
WALL = datetime(2026, 3, 1, 12, 0)


def utc(pk: int) -> datetime:
    return WHEN[pk][1].astimezone(UTC)


def assert_utc(value: Any, expected: datetime) -> None:
    """``value`` is ``expected``'s instant, aware, in UTC (as PostgreSQL returns it)."""
    assert isinstance(value, datetime), value
    assert value.utcoffset() == timedelta(0), f"{value!r} is not in UTC"
    assert value == expected


@pytest.fixture
async def moments(db: Database) -> Database:
    await Moment.objects.bulk_create(
        [Moment(id=pk, label=label, at=at, stamp=at, wall=WALL) for pk, (label, at) in WHEN.items()]
    )
    return db


async def on_both_paths(
    db: Database, spy: list[str], run: Callable[[], Awaitable[Any]], *, raw: bool = True
) -> Any:
    """``run()`` with the raw path on and off: equal results; the raw path ran if ``raw`` and
    it serves the driver (asyncpg, orm_kit's aiosqlite adapter; asyncmy's statements go
    through SQLAlchemy)."""
    raw = raw and raw_path.RawPath(db.engine.sync_engine).kind is not None
    before = len(spy)
    first = await run()
    assert (len(spy) > before) is raw, "the raw path was not taken" if raw else "it was"
    raw_path.ENABLED = False
    try:
        second = await run()
    finally:
        raw_path.ENABLED = True
    assert typed(first) == typed(second)
    return first


@pytest.mark.parametrize("pk", sorted(WHEN))
async def test_get_reads_back_the_instant_in_utc(
    moments: Database, spy: list[str], pk: int
) -> None:
    got = await on_both_paths(moments, spy, lambda: Moment.objects.get(id=pk))
    assert_utc(got.at, utc(pk))
    assert_utc(got.stamp, utc(pk))
    assert got.wall == WALL and got.wall.tzinfo is None  # a naive column stays naive


async def test_equal_instants_at_different_offsets_are_equal(
    moments: Database, spy: list[str]
) -> None:
    # 12:00+05:00 and 04:00-03:00 are both 07:00 UTC; so is 07:00 UTC itself.
    for value in (WHEN[1][1], WHEN[2][1], datetime(2026, 3, 1, 7, tzinfo=UTC)):
        found = await on_both_paths(moments, spy, lambda v=value: Moment.objects.filter(at=v))
        assert sorted(m.id for m in found) == [1, 2]
        assert await Moment.objects.filter(stamp=value).count() == 2
        assert await Moment.objects.filter(at__in=[value, WHEN[6][1]]).count() == 3
    a2 = await on_both_paths(moments, spy, lambda: Moment.objects.get(label="a2"))
    assert a2.at == WHEN[1][1]


async def test_ordering_follows_the_instant(moments: Database) -> None:
    ids = await Moment.objects.order_by("at", "id").values_list("id", flat=True)
    assert ids == BY_INSTANT
    ids = await Moment.objects.order_by("-stamp", "-id").values_list("id", flat=True)
    assert ids == BY_INSTANT[::-1]
    assert (await Moment.objects.latest("at")).id == 6
    assert (await Moment.objects.earliest("at", "id")).id == 1
    got = await Moment.objects.aggregate(first=Min("at"), last=Max("at"))
    assert_utc(got["first"], utc(1))
    assert_utc(got["last"], utc(6))


async def test_filters_compare_instants(moments: Database) -> None:
    async def ids(**lookups: Any) -> list[int]:
        return sorted(await Moment.objects.filter(**lookups).values_list("id", flat=True))

    # 08:15 UTC is before c's 08:30 UTC though c's wall time (03:30) is earlier.
    assert await ids(at__gt=datetime(2026, 3, 1, 8, 15, tzinfo=UTC)) == [4, 5, 6]
    assert await ids(at__lt=datetime(2026, 3, 1, 10, 15, tzinfo=tz(2))) == [1, 2, 3]
    assert await ids(at__gte=WHEN[4][1]) == [4, 5, 6]
    assert await ids(at__lte=datetime(2026, 3, 1, 12, tzinfo=tz(5))) == [1, 2]
    assert await ids(stamp__gt=datetime(2026, 3, 1, 8, 10, tzinfo=tz(-5))) == [5, 6]  # 13:10
    low, high = datetime(2026, 3, 1, 9, tzinfo=tz(1)), datetime(2026, 3, 1, 22, tzinfo=tz(-4))
    assert await ids(at__range=(low, high)) == [3, 4, 5]
    assert await ids(at__gt=WHEN[3][1] - timedelta(microseconds=1)) == [3, 4, 5, 6]
    assert await ids(at__gt=WHEN[3][1]) == [4, 5, 6]


async def test_date_parts_are_in_utc(moments: Database) -> None:
    async def ids(**lookups: Any) -> list[int]:
        return sorted(await Moment.objects.filter(**lookups).values_list("id", flat=True))

    # d is 23:30 on March 1st at -02:00, 01:30 on March 2nd in UTC.
    assert await ids(at__date=date(2026, 3, 2)) == [5, 6]
    assert await ids(at__day=1) == [1, 2, 3, 4]
    assert await ids(at__hour=7) == [1, 2]
    assert await ids(at__hour=1, at__minute=30) == [5]
    assert await ids(stamp__week_day=2) == [5, 6]  # Monday, March 2nd 2026 (1 = Sunday)
    assert await ids(at__year=2026, at__month=3) == BY_INSTANT


async def test_values_and_values_list_are_aware(moments: Database, spy: list[str]) -> None:
    # values() takes SQLAlchemy's engine, not the raw path, even for equality filters.
    got = await on_both_paths(
        moments, spy, lambda: Moment.objects.filter(at=WHEN[2][1]).values("id", "at"), raw=False
    )
    assert sorted(row["id"] for row in got) == [1, 2]
    for row in got:
        assert_utc(row["at"], utc(1))
    rows = await Moment.objects.order_by("id").values("id", "at", "stamp")
    for row in rows:
        assert_utc(row["at"], utc(row["id"]))
        assert_utc(row["stamp"], utc(row["id"]))
    pairs = await Moment.objects.order_by("id").values_list("id", "at")
    for pk, at in pairs:
        assert_utc(at, utc(pk))
    flat = await Moment.objects.order_by("id").values_list("at", flat=True)
    for pk, at in zip(sorted(WHEN), flat, strict=True):
        assert_utc(at, utc(pk))


async def test_writes_store_the_instant(moments: Database, spy: list[str]) -> None:
    at = datetime(2026, 5, 1, 9, 0, 0, 123456, tzinfo=tz(9))
    made = await Moment.objects.create(id=10, label="new", at=at)
    assert_utc((await Moment.objects.get(id=10)).at, datetime(2026, 5, 1, 0, 0, 0, 123456, UTC))
    assert made.at == at
    changed = datetime(2026, 5, 1, 1, tzinfo=tz(-1))  # 02:00 UTC
    assert await Moment.objects.filter(id=10).update(at=changed, stamp=changed) == 1
    got = await on_both_paths(moments, spy, lambda: Moment.objects.get(id=10))
    assert_utc(got.at, datetime(2026, 5, 1, 2, tzinfo=UTC))
    assert_utc(got.stamp, datetime(2026, 5, 1, 2, tzinfo=UTC))
    got.at = datetime(2026, 5, 1, 23, 59, tzinfo=tz(-8))  # 07:59 UTC on May 2nd
    await got.save()
    assert await Moment.objects.filter(id=10, at__date=date(2026, 5, 2)).count() == 1
    await got.refresh_from_db()
    assert_utc(got.at, datetime(2026, 5, 2, 7, 59, tzinfo=UTC))


async def test_bulk_create_of_many_offsets(db: Database) -> None:
    base = datetime(2026, 1, 1, 12, tzinfo=UTC)
    offsets = [-12, -9.5, -5, 0, 3, 5.75, 14]
    objs = [
        Moment(id=i, label=f"m{i}", at=(base + timedelta(minutes=i)).astimezone(tz(h)))
        for i, h in enumerate(offsets)
    ]
    await Moment.objects.bulk_create(objs, batch_size=3)
    rows = await Moment.objects.order_by("at").values_list("id", "at")
    assert [pk for pk, _ in rows] == list(range(len(offsets)))
    for pk, at in rows:
        assert_utc(at, base + timedelta(minutes=pk))
    async with db.session():
        for pk in range(len(offsets)):
            assert_utc((await Moment.objects.get(id=pk)).at, base + timedelta(minutes=pk))


async def test_core_statements_on_the_table_keep_the_instant(db: Database) -> None:
    table = Moment.__table__
    async with db.engine.begin() as conn:
        await conn.execute(insert(table), [{"id": 1, "label": "a", "at": WHEN[1][1]}])
        await conn.execute(insert(table), [{"id": 4, "label": "c", "at": WHEN[4][1]}])
        got = (await conn.execute(select(table.c.at).order_by(table.c.id))).scalars().all()
        later = select(table.c.id).where(table.c.at > datetime(2026, 3, 1, 8, tzinfo=UTC))
        assert (await conn.execute(later)).scalars().all() == [4]
    assert_utc(got[0], utc(1))
    assert_utc(got[1], utc(4))


async def test_naive_values_are_refused(moments: Database) -> None:
    naive = datetime(2026, 3, 1, 7)
    with pytest.raises(ValidationError, match=r"Moment\.at expects a timezone-aware datetime"):
        await Moment.objects.create(id=20, label="naive", at=naive)
    with pytest.raises(ValidationError, match=r"Moment\.stamp expects a timezone-aware"):
        await Moment.objects.filter(stamp__gt=naive).count()
    with pytest.raises(ValidationError, match=r"Moment\.at expects a timezone-aware"):
        await Moment.objects.filter(id=1).update(at=naive)
    assert await Moment.objects.count() == len(WHEN)


def test_the_ddl_is_unchanged(db: Database, backend: str) -> None:
    ddl = str(CreateTable(Moment.__table__).compile(dialect=db.engine.dialect))
    expected = {
        "sqlite": ("at DATETIME", "stamp TIMESTAMP", "wall DATETIME"),
        "postgresql": ("at TIMESTAMP WITH TIME ZONE", "stamp TIMESTAMP WITH TIME ZONE"),
        # NOTE(mysql): with microseconds, as DATETIME(6) (TIMESTAMP keeps whole seconds).
        "mariadb": ("at DATETIME(6)", "stamp TIMESTAMP(6)", "wall DATETIME(6)"),
    }[backend]
    for column in expected:
        assert column in ddl, ddl


async def test_microseconds_are_kept_in_every_column_type(db: Database) -> None:
    precise = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=tz(5))
    await Moment.objects.create(
        id=20, label="precise", at=precise, stamp=precise, wall=WALL.replace(microsecond=654321)
    )
    got = await Moment.objects.get(id=20)
    assert_utc(got.at, precise.astimezone(UTC))
    assert_utc(got.stamp, precise.astimezone(UTC))
    assert got.wall == WALL.replace(microsecond=654321)
    assert await Moment.objects.filter(stamp=precise).count() == 1
    assert await Moment.objects.filter(stamp=precise.replace(microsecond=0)).count() == 0
