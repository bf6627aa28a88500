"""The fast paths of values() / values_list() / count() and of filter(column=value) on a
plain manager return exactly what the plain paths return, on every backend.

Each case runs twice in one process with warm caches: once on the fast path (rows read as
plain tuples, ``results.plain_rows``; equality filters copied from a cached clause,
``prepared.exact_filter``) and once with both switched off, and the two outputs must be
equal value for value and type for type. A spy proves the fast path was taken; a few
cases are also checked against hand-computed rows.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    Interval,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, F, Model, ValidationError, raw_path, rules
from orm_kit.mixins import SoftDeleteMixin
from orm_kit.query import prepared, results
from orm_kit.types import UTCDateTime
from tests.integration.typed_values import typed


class FastMood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Upper(TypeDecorator[str]):
    """A type of the user's own: stored lower case, read back upper case."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.lower()

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.upper()


class FastRow(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[int]
    small: Mapped[int | None] = mapped_column(SmallInteger)
    big: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    flag: Mapped[bool | None]
    ratio: Mapped[float | None] = mapped_column(Float)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    naive: Mapped[datetime | None] = mapped_column(DateTime)
    aware: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    utc: Mapped[datetime | None] = mapped_column(UTCDateTime)
    day: Mapped[date | None] = mapped_column(Date)
    at: Mapped[time | None] = mapped_column(Time)
    span: Mapped[timedelta | None] = mapped_column(Interval)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    key: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    mood: Mapped[FastMood | None]
    shout: Mapped[str | None] = mapped_column(Upper)


def _row(i: int) -> dict[str, Any]:
    if i % 4 == 3:  # every nullable column NULL
        return {"id": i, "level": i % 3, "name": f"n{i % 5}"}
    return {
        "id": i,
        "level": i % 3,
        "small": -i,
        "big": 2**40 + i,
        "name": f"n{i % 5}",
        "note": f"note {i}",
        "flag": i % 2 == 0,
        "ratio": i / 4,
        "amount": Decimal(f"{i}.25"),
        "naive": datetime(2026, 1, 1, 12, 0, i),
        "aware": datetime(2026, 1, 1, 12, 0, i, tzinfo=UTC),
        "utc": datetime(2026, 2, 1, 8, i, tzinfo=UTC),
        "day": date(2026, 3, 1 + i),
        "at": time(9, i),
        "span": timedelta(hours=i, seconds=7),
        "blob": bytes([i, 0, 255]),
        "key": uuid.UUID(int=i + 1),
        "data": {"i": i, "tags": ["a", str(i)], "nested": {"ok": True}},
        "mood": FastMood.HAPPY if i % 2 else FastMood.SAD,
        "shout": f"Shout{i}",
    }


ROWS = 12
DELETED = {2, 5, 9}  # soft-deleted: hidden unless asked for


@pytest.fixture
async def seeded(db: Database) -> Database:
    await FastRow.objects.bulk_create([FastRow(**_row(i)) for i in range(ROWS)])
    for i in sorted(DELETED):
        await (await FastRow.objects.get(id=i)).delete()
    return db


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the results read on the fast path (one entry per fast read)."""
    # The raw path (tests/integration/test_raw_path.py) runs the cached statements without
    # a CursorResult, so plain_rows never sees them: these tests are about the paths below.
    monkeypatch.setattr(raw_path, "ENABLED", False)
    taken: list[int] = []
    original = results.plain_rows

    def counting(result: Any, *, sequences: bool = False) -> Any:
        rows = original(result, sequences=sequences)
        if rows is not None:
            taken.append(len(rows))
        return rows

    monkeypatch.setattr(results, "plain_rows", counting)
    return taken


async def both(
    monkeypatch: pytest.MonkeyPatch, spy: list[int], run: Callable[[], Awaitable[Any]]
) -> Any:
    """``run()`` on the fast path and on the plain path: equal, and the fast path taken."""
    before = len(spy)
    fast = await run()
    assert len(spy) > before, "the fast path was not taken"
    with monkeypatch.context() as m:
        m.setattr(results, "FAST_ROWS", False)
        m.setattr(prepared, "FAST_FILTER", False)
        m.setattr(prepared, "CACHED", False)  # statements compiled from the general path
        taken = len(spy)
        plain = await run()
        assert len(spy) == taken, "the plain path read rows on the fast path"
    assert typed(fast) == typed(plain)
    return fast


LIVE = [i for i in range(ROWS) if i not in DELETED]
ALL_FIELDS = tuple(FastRow.__table__.columns.keys())


async def test_values_every_column_type(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, spy: list[int]
) -> None:
    rows = await both(monkeypatch, spy, lambda: FastRow.objects.order_by("id").values())
    assert [r["id"] for r in rows] == LIVE
    assert tuple(rows[0]) == ALL_FIELDS
    expected = _row(0) | {"shout": "SHOUT0"}
    for name, value in expected.items():
        assert typed(rows[0][name]) == typed(value), name
    null_row = next(r for r in rows if r["id"] == 3)
    assert null_row["note"] is None and null_row["flag"] is None and null_row["data"] is None
    assert null_row["mood"] is None and null_row["shout"] is None
    assert all(r["deleted_at"] is None for r in rows)


@pytest.mark.parametrize(
    "make",
    [
        lambda: FastRow.objects.order_by("id").values("name", "flag", "aware", "amount"),
        lambda: FastRow.objects.order_by("-id").values("shout", "mood", "key", "span"),
        lambda: FastRow.objects.filter(level=1).order_by("id").values("id", "utc", "data"),
        lambda: FastRow.objects.order_by("id")[2:6].values("id", "day", "at", "blob"),
        lambda: FastRow.objects.values("name").distinct().order_by("name"),
        lambda: FastRow.objects.annotate(twice=F("level") * 2).order_by("id").values("id", "twice"),
        lambda: FastRow.objects.with_deleted().order_by("id").values("id", "deleted_at"),
        lambda: FastRow.objects.only_deleted().order_by("id").values("id"),
        lambda: FastRow.objects.order_by("id").values_list(),
        lambda: FastRow.objects.order_by("id").values_list("id", "flag", "aware", "shout"),
        lambda: FastRow.objects.order_by("id").values_list("mood", flat=True),
        lambda: FastRow.objects.order_by("id").values_list("ratio", flat=True),
        lambda: FastRow.objects.values_list("level", flat=True).distinct().order_by("level"),
        lambda: FastRow.objects.filter(name="n1").values_list("id", flat=True).order_by("id"),
        lambda: FastRow.objects.filter(id=-1).values(),
        lambda: FastRow.objects.filter(level__lt=1).values("id", "level"),
        lambda: FastRow.objects.filter(
            aware__gte=datetime(2026, 1, 1, 12, 0, 4, tzinfo=UTC)
        ).values_list("id", "aware"),
    ],
)
async def test_values_shapes_match_plain_path(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, spy: list[int], make: Any
) -> None:
    await both(monkeypatch, spy, make)


async def test_named_rows_are_unchanged(seeded: Database) -> None:
    rows = await FastRow.objects.order_by("id").values_list("id", "name", named=True)
    assert [(r.id, r.name) for r in rows] == [(i, f"n{i % 5}") for i in LIVE]


async def test_hand_computed_values(seeded: Database) -> None:
    assert await FastRow.objects.order_by("id").values_list("id", flat=True) == LIVE
    assert await FastRow.objects.filter(level=2).order_by("id").values("id", "flag") == [
        {"id": i, "flag": None if i % 4 == 3 else i % 2 == 0} for i in LIVE if i % 3 == 2
    ]
    assert await FastRow.objects.order_by("id")[1:3].values_list("id", "mood") == [
        (1, FastMood.HAPPY),
        (3, None),
    ]
    flags = await FastRow.objects.order_by("id").values_list("flag", flat=True)
    assert [type(f) for f in flags if f is not None] == [bool] * sum(1 for i in LIVE if i % 4 != 3)


async def test_values_in_a_session_match(seeded: Database) -> None:
    # A session's ORM results take the plain path; they agree with the direct fast path.
    direct = await FastRow.objects.order_by("id").values()
    async with seeded.session():
        inside = await FastRow.objects.order_by("id").values()
        inside_flat = await FastRow.objects.order_by("id").values_list("shout", flat=True)
    assert typed(inside) == typed(direct)
    assert inside_flat == [r["shout"] for r in direct]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: FastRow.objects, len(LIVE)),
        (lambda: FastRow.objects.filter(level=1), sum(1 for i in LIVE if i % 3 == 1)),
        (lambda: FastRow.objects.filter(level=1, name="n1"), 1),
        (lambda: FastRow.objects.filter(name="n0"), sum(1 for i in LIVE if i % 5 == 0)),
        (lambda: FastRow.objects.filter(level=7), 0),
        (lambda: FastRow.objects.with_deleted(), ROWS),
        (lambda: FastRow.objects.only_deleted(), len(DELETED)),
        (lambda: FastRow.objects.with_deleted().filter(level=2), 4),
        (lambda: FastRow.objects.order_by("id")[2:5], 3),
        (lambda: FastRow.objects.order_by("id")[7:], len(LIVE) - 7),
        (lambda: FastRow.objects.values("level").distinct(), 3),
        (lambda: FastRow.objects.values("name").distinct(), 5),
        (lambda: FastRow.objects.filter(flag=True), sum(1 for i in LIVE if i % 4 in (0, 2))),
        (lambda: FastRow.objects.filter(level__lte=1), sum(1 for i in LIVE if i % 3 <= 1)),
        (lambda: FastRow.objects.filter(id__gt=4, name__lt="n3"), 4),  # 6, 7, 10, 11
        (lambda: FastRow.objects.filter(note=None), sum(1 for i in LIVE if i % 4 == 3)),
    ],
)
async def test_count_matches_plain_path_and_hand_count(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, spy: list[int], make: Any, expected: int
) -> None:
    assert await both(monkeypatch, spy, lambda: make().count()) == expected


async def test_repeated_equality_filters_match_the_general_path(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def state_of(**lookups: Any) -> Any:
        return FastRow.objects.filter(**lookups)._state

    for lookups in ({"level": 1}, {"name": "n2"}, {"level": 0, "name": "n0"}, {"id": 4}):
        first = state_of(**lookups)  # teaches the shortcut the clause of each column
        assert all(prepared._SERVED[(FastRow, key)] is not None for key in lookups)
        for _ in range(2):
            fast = state_of(**lookups)
            with monkeypatch.context() as m:
                m.setattr(prepared, "FAST_FILTER", False)
                plain = state_of(**lookups)
            for one in (first, fast):
                assert one.exact == plain.exact and one.filter_names == plain.filter_names
                assert [str(c) for c in one.where] != [] and len(one.where) == len(plain.where)
                for a, b in zip(one.where, plain.where, strict=True):
                    assert a.compare(b)
                    assert a._generate_cache_key() == b._generate_cache_key()
                    assert a.right.value == b.right.value
    assert await FastRow.objects.filter(level=1).count() == sum(1 for i in LIVE if i % 3 == 1)
    assert await FastRow.objects.filter(level=2).count() == sum(1 for i in LIVE if i % 3 == 2)
    assert {r.id for r in await FastRow.objects.filter(name="n3")} == {
        i for i in LIVE if i % 5 == 3
    }
    # Clauses of one column from both paths in one statement (SQLAlchemy's compiled cache
    # then maps each bound value by position: each must keep its own).
    for a, b in ((1, 2), (2, 1), (0, 2), (1, 1), (1, 0)):
        monkeypatch.setattr(prepared, "_SERVED", {})
        learned = FastRow.objects.filter(level=a)  # the general path, learning the column
        fast = FastRow.objects.filter(level=b)
        assert prepared._SERVED[(FastRow, "level")] is not None
        both_ids = FastRow.objects.filter(id__in=learned.values("id")).filter(
            id__in=fast.values("id")
        )
        only_b = FastRow.objects.exclude(id__in=learned.values("id")).filter(
            id__in=fast.values("id")
        )
        in_a = {i for i in LIVE if i % 3 == a}
        in_b = {i for i in LIVE if i % 3 == b}
        assert set(await both_ids.values_list("id", flat=True)) == in_a & in_b
        assert set(await only_b.values_list("id", flat=True)) == in_b - in_a
        assert await only_b.count() == len(in_b - in_a)
        b_first = FastRow.objects.filter(id__in=fast.values("id")).exclude(
            id__in=learned.values("id")
        )
        assert set(await b_first.values_list("id", flat=True)) == in_b - in_a
    # A value the column refuses still raises the general path's error.
    FastRow.objects.filter(small=1)
    with pytest.raises(ValidationError, match=r"FastRow\.small"):
        FastRow.objects.filter(small=1 << 20)
    with pytest.raises(ValidationError, match=r"FastRow\.name"):
        FastRow.objects.filter(name="a\x00b")


class _HideLevelZero(rules.Rule):
    """A rule of the user's own, registered after the statements were cached."""

    def applies(self, model: type[Any]) -> bool:
        return model is FastRow

    def row_filter(self, model: type[Any], column: Any, visibility: rules.Visibility) -> Any:
        return column("level") != 0


async def test_rules_apply_on_every_fast_path(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, spy: list[int]
) -> None:
    async def reads() -> Any:
        return (
            await FastRow.objects.filter(level=0).count(),
            await FastRow.objects.filter(name="n0").count(),
            await FastRow.objects.count(),
            await FastRow.objects.order_by("id").values_list("id", flat=True),
            await FastRow.objects.filter(name="n0").order_by("id").values("id"),
            [r.id for r in await FastRow.objects.filter(name="n0").order_by("id")],
        )

    assert await reads() == (
        sum(1 for i in LIVE if i % 3 == 0),
        2,  # 0 and 10
        len(LIVE),
        LIVE,
        [{"id": 0}, {"id": 10}],
        [0, 10],
    )
    rule = rules.register_rule(_HideLevelZero())
    try:
        hidden = await both(monkeypatch, spy, reads)
    finally:
        rules.unregister_rule(rule)
    assert hidden == (
        0,
        1,  # 10 (level 1)
        sum(1 for i in LIVE if i % 3 != 0),
        [i for i in LIVE if i % 3 != 0],
        [{"id": 10}],
        [10],
    )
    assert await FastRow.objects.filter(level=0).count() == sum(1 for i in LIVE if i % 3 == 0)


async def test_using_a_database_keeps_the_cached_statements(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, spy: list[int]
) -> None:
    """using(db) / using(its name) before or after filter(column=value) takes the cached
    statement and the equality shortcut as the plain manager does, and returns what the
    general path returns; using(session) runs in the session, as before."""
    for target in (seeded, *([seeded.name] if seeded.name else [])):
        shapes = [
            lambda t=target: FastRow.objects.using(t).filter(level=1),
            lambda t=target: FastRow.objects.filter(level=1).using(t),
            lambda t=target: FastRow.objects.using(t).filter(name="n3", level=0),
        ]
        for make in shapes:
            for _ in range(2):  # warm: the second round serves the cached statement
                assert make()._state.exact is not None
                rows = await both(monkeypatch, spy, lambda m=make: m().values_list("id", "name"))
                plain = FastRow.objects.filter(**dict(make()._state.exact))
                assert sorted(rows) == sorted(await plain.values_list("id", "name")) != []
                assert await make().count() == len(rows)
                assert sorted((o.id, o.name) for o in await make()) == sorted(rows)
    got = await FastRow.objects.using(seeded).get(id=4)
    assert (got.id, got.level) == (4, 1)
    assert await FastRow.objects.using(seeded).filter(id=4).update(note="via using") == 1
    assert (await FastRow.objects.get(id=4)).note == "via using"
    assert await FastRow.objects.using(seeded).filter(id=3).delete() == 1
    assert not await FastRow.objects.filter(id=3).exists()
    async with seeded.sessionmaker() as session:
        in_session = FastRow.objects.using(session).filter(level=1)
        await FastRow.objects.using(session).filter(id=4).update(note="in session")
        assert {o.note for o in await in_session if o.id == 4} == {"in session"}
        await session.rollback()
    assert (await FastRow.objects.get(id=4)).note == "via using"
