"""Comparison lookups on the cached-statement path (``exact``, ``gt``, ``gte``, ``lt``,
``lte`` straight off a plain manager) return and write exactly what the general path
does, on every backend.

Each case runs in one process with warm caches on the cached path (a spy proves the
cached statement ran) and again with ``prepared.CACHED`` and ``prepared.FAST_FILTER`` off,
where SQLAlchemy compiles the general path's clauses; both must be equal value for value
and type for type, and equal to rows computed by hand. The data tells the lookups apart:
each comparison value is one a live row holds, so ``lt`` and ``lte`` (``gt`` and ``gte``)
differ by that row, some rows are NULL in every nullable column and some are soft-deleted.
"""

from __future__ import annotations

import enum
import operator
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    Interval,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import (
    Database,
    Model,
    MultipleObjectsReturned,
    NotFoundError,
    ORMKitError,
    ValidationError,
    register_lookup,
)
from orm_kit.mixins import SoftDeleteMixin
from orm_kit.query import prepared
from orm_kit.query.lookups.registry import lookups as registry
from orm_kit.types import UTCDateTime
from tests.integration.typed_values import typed


class CmpMood(enum.Enum):
    CALM = "calm"
    GLAD = "glad"
    SAD = "sad"


class CmpRow(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[int]
    small: Mapped[int | None] = mapped_column(SmallInteger)
    big: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    ratio: Mapped[float | None] = mapped_column(Float)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    naive: Mapped[datetime | None] = mapped_column(DateTime)
    aware: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    utc: Mapped[datetime | None] = mapped_column(UTCDateTime)
    day: Mapped[date | None] = mapped_column(Date)
    at: Mapped[time | None] = mapped_column(Time)
    span: Mapped[timedelta | None] = mapped_column(Interval)
    key: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    mood: Mapped[CmpMood | None]
    flag: Mapped[bool | None]


def _row(i: int) -> dict[str, Any]:
    if i % 4 == 3:  # every nullable column NULL
        return {"id": i, "level": i % 3, "name": f"n{i % 5}"}
    return {
        "id": i,
        "level": i % 3,
        "small": -i,
        "big": 2**40 + i,
        "name": f"n{i % 5}",
        "note": f"note {i:02d}",
        "ratio": i / 4,
        "amount": Decimal(f"{i}.25"),
        "naive": datetime(2026, 1, 1, 12, 0, i),
        "aware": datetime(2026, 1, 1, 12, 0, i, tzinfo=UTC),
        "utc": datetime(2026, 2, 1, 8, i, tzinfo=UTC),
        "day": date(2026, 3, 1 + i),
        "at": time(9, i),
        "span": timedelta(hours=i, seconds=7),
        "key": uuid.UUID(int=i + 1),
        "mood": list(CmpMood)[i % 3],
        "flag": i % 2 == 0,
    }


ROWS = 12
DELETED = {2, 5, 9}
LIVE = [i for i in range(ROWS) if i not in DELETED]
PIVOTS = (4, 6)  # live rows whose values the comparisons take
COMPARED = [c.key for c in CmpRow.__table__.columns if c.key not in ("deleted_at", "flag")]
LOOKUPS = {
    "exact": operator.eq,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def _order(column: str, value: Any) -> Any:
    # The order the databases keep: an enum by its declared position (PostgreSQL's ENUM,
    # MariaDB's ENUM) or its name (SQLite's VARCHAR), which agree for CmpMood.
    return list(CmpMood).index(value) if column == "mood" else value


def by_hand(column: str, lookup: str, pivot: Any) -> list[int]:
    compare = LOOKUPS[lookup]
    return [
        i
        for i in LIVE
        if _row(i).get(column) is not None
        and compare(_order(column, _row(i)[column]), _order(column, pivot))
    ]


@pytest.fixture
async def seeded(db: Database) -> Database:
    await CmpRow.objects.bulk_create([CmpRow(**_row(i)) for i in range(ROWS)])
    for i in sorted(DELETED):
        await (await CmpRow.objects.get(id=i)).delete()
    return db


async def _get(**kwargs: Any) -> Any:
    """``get(**kwargs)``, or the name and message of the orm_kit error it raises."""
    try:
        return await CmpRow.objects.get(**kwargs)
    except ORMKitError as exc:
        roots = (MultipleObjectsReturned, NotFoundError)
        root = next((r for r in roots if isinstance(exc, r)), type(exc))
        return ("raised", root.__name__, str(exc))


def _typed(result: Any) -> Any:
    """``typed(result)``, a list in primary key order (no ORDER BY: any order is right)."""
    if isinstance(result, tuple) and result[:1] == ("raised",):
        return result
    if isinstance(result, list) and result and isinstance(result[0], Model):
        result = sorted(result, key=lambda obj: obj.id)
    return typed(result)


async def both(
    monkeypatch: pytest.MonkeyPatch, cached: list[Any], run: Callable[[], Awaitable[Any]]
) -> Any:
    """``run()`` on the cached path and on the general path: equal, each path taken."""
    before = len(cached)
    fast = _typed(await run())
    assert len(cached) > before, "the cached statement was not used"
    with monkeypatch.context() as m:
        m.setattr(prepared, "CACHED", False)
        m.setattr(prepared, "FAST_FILTER", False)
        taken = len(cached)
        plain = _typed(await run())
        assert len(cached) == taken, "the general path used a cached statement"
    assert fast == plain
    return fast


@pytest.mark.parametrize("column", COMPARED)
async def test_every_comparison_on_every_column_type_matches_the_general_path(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, cached: list[Any], column: str
) -> None:
    for pivot_row in PIVOTS:
        pivot = _row(pivot_row)[column]
        for lookup in LOOKUPS:
            key = column if lookup == "exact" else f"{column}__{lookup}"
            expected = by_hand(column, lookup, pivot)
            for _ in range(2):  # the second round is served warm (statement and shortcut)
                qs = lambda k=key, p=pivot: CmpRow.objects.filter(**{k: p})  # noqa: E731
                assert qs()._state.exact is not None, key
                objects = await both(monkeypatch, cached, qs)
                assert sorted(o["id"][1] for o in objects[1]) == expected, (key, pivot)
                assert await both(monkeypatch, cached, lambda q=qs: q().count()) == (
                    "int",
                    len(expected),
                )
                got = await both(monkeypatch, cached, lambda k=key, p=pivot: _get(**{k: p}))
                if len(expected) == 1:
                    assert got == typed(await CmpRow.objects.get(id=expected[0]))
                else:
                    many = "MultipleObjectsReturned" if expected else "NotFoundError"
                    assert got[:2] == ("raised", many)


async def test_several_comparisons_in_one_filter(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, cached: list[Any]
) -> None:
    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({"level__gte": 1, "level__lt": 2}, [i for i in LIVE if i % 3 == 1]),
        ({"id__gt": 1, "id__lte": 8, "level": 2}, [8]),
        ({"name__gte": "n2", "name__lt": "n4", "level__lte": 0}, [3]),
        ({"name__gte": "n2", "name__lt": "n4", "level__lte": 1}, [3, 7]),
        ({"id__lt": 0}, []),
        ({"amount__gte": Decimal("4.25"), "naive__lt": datetime(2026, 1, 1, 12, 0, 8)}, [4, 6]),
    ]
    for kwargs, expected in cases:
        for _ in range(2):
            objects = await both(monkeypatch, cached, lambda k=kwargs: CmpRow.objects.filter(**k))
            assert sorted(o["id"][1] for o in objects[1]) == expected, kwargs
    # The same filter keys in another order: its own statement, the same rows.
    forward = await CmpRow.objects.filter(level__gte=1, id__lt=8).values_list("id", flat=True)
    backward = await CmpRow.objects.filter(id__lt=8, level__gte=1).values_list("id", flat=True)
    assert sorted(forward) == sorted(backward) == [i for i in LIVE if i < 8 and i % 3 >= 1]


async def test_the_shortcut_builds_what_the_general_path_builds(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in (("level__lt", 1), ("level__gte", 2), ("name__lte", "n1"), ("id__gt", 6)):
        monkeypatch.setattr(prepared, "_SERVED", {})
        first = CmpRow.objects.filter(**{key: value})._state  # the general path, learning
        served = prepared._SERVED[(CmpRow, key)]
        assert served is not None and served.lookup == key.split("__")[1]
        fast = CmpRow.objects.filter(**{key: value})._state
        with monkeypatch.context() as m:
            m.setattr(prepared, "FAST_FILTER", False)
            plain = CmpRow.objects.filter(**{key: value})._state
        for one in (first, fast):
            assert one.exact == plain.exact == ((key, value),)
            (a,), (b,) = one.where, plain.where
            assert a.compare(b) and a._generate_cache_key() == b._generate_cache_key()
            assert a.right.value == b.right.value and a.negate is b.negate
            assert str(~a) == str(~b)
    # Clauses of one column with different lookups from both paths in one statement:
    # each bound value keeps its place.
    monkeypatch.setattr(prepared, "_SERVED", {})
    learned = CmpRow.objects.filter(level__lt=2)
    fast = CmpRow.objects.filter(level__lt=1)
    assert prepared._SERVED[(CmpRow, "level__lt")] is not None
    inside = CmpRow.objects.filter(id__in=learned.values("id")).exclude(id__in=fast.values("id"))
    assert sorted(await inside.values_list("id", flat=True)) == [i for i in LIVE if i % 3 == 1]
    # A value the column refuses still raises the general path's error.
    with pytest.raises(ValidationError, match=r"CmpRow\.small"):
        CmpRow.objects.filter(small__lt=1 << 20)
    with pytest.raises(ValidationError, match=r"CmpRow\.level"):
        CmpRow.objects.filter(level__gte="1")


async def test_what_the_cached_path_leaves_to_the_general_path(
    seeded: Database, cached: list[Any]
) -> None:
    # Booleans compare only by exact; a transform, in, range, isnull and expressions are
    # not comparisons of a column with one value; a lookup of the user's is its own.
    for kwargs in (
        {"flag__lt": True},
        {"day__year__gte": 2026},
        {"level__in": [1, 2]},
        {"level__range": (1, 2)},
        {"note__isnull": True},
        {"pk__lt": 3},
    ):
        assert CmpRow.objects.filter(**kwargs)._state.exact is None, kwargs
    assert CmpRow.objects.filter(flag=True)._state.exact is not None
    with registry.scoped():
        register_lookup("lt", lambda column, value: column > value, for_type=SmallInteger)
        flipped = CmpRow.objects.filter(small__lt=-4)
        assert flipped._state.exact is None
        assert sorted(await flipped.values_list("id", flat=True)) == [0, 1]
        assert CmpRow.objects.filter(level__lt=1)._state.exact is not None
    assert CmpRow.objects.filter(small__lt=-4)._state.exact is not None
    got = await CmpRow.objects.filter(small__lt=-4).values_list("id", flat=True)
    assert sorted(got) == [i for i in LIVE if i > 4 and i % 4 != 3] == [6, 8, 10]


async def test_updates_and_deletes_through_comparisons_match_the_general_path(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, cached: list[Any]
) -> None:
    def noted(mark: str) -> Awaitable[list[int]]:
        return CmpRow.objects.with_deleted().filter(note=mark).values_list("id", flat=True)

    expected = [i for i in LIVE if i % 3 == 0 and i >= 3]  # soft-deleted rows are untouched
    for mark, general in (("cached", False), ("general", True)):
        with monkeypatch.context() as m:
            if general:
                m.setattr(prepared, "CACHED", False)
            before = len(cached)
            done = await CmpRow.objects.filter(level__lt=1, id__gte=3).update(note=mark)
            assert (len(cached) > before) is not general
        assert done == len(expected)
        assert sorted(await noted(mark)) == expected
    outcomes = []
    for general in (False, True):
        with monkeypatch.context() as m:
            if general:
                m.setattr(prepared, "CACHED", False)
            gone = await CmpRow.objects.filter(id__gt=6, level__lte=1).delete()
            left = sorted(await CmpRow.objects.values_list("id", flat=True))
        outcomes.append((gone, left))
        # Undo the soft deletes of this round (the rows deleted before the test stay so).
        await (
            CmpRow.objects.with_deleted()
            .filter(id__gt=6)
            .exclude(id__in=sorted(DELETED))
            .update(deleted_at=None)
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == (
        len([i for i in LIVE if i > 6 and i % 3 <= 1]),
        [i for i in LIVE if not (i > 6 and i % 3 <= 1)],
    )
