"""Every built-in lookup and transform, on every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Integer, String

from orm_kit import Database, F, Q, register_lookup
from orm_kit.query.lookups import lookups
from tests.backends import missing_reason, supports
from tests.models import User


@pytest.fixture
async def people(db: Database) -> Database:
    rows: list[dict[str, Any]] = [
        {
            "email": "ann@example.com",
            "name": "Ann",
            "age": 30,
            "score": 5,
            "last_login": datetime(2026, 3, 1, 9, 15),
            "birthday": date(1996, 3, 1),
            "data": {"owner": {"name": "x"}, "n": 1},
            "seen_at": datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
        },
        {
            "email": "bob@example.com",
            "name": "Bob",
            "age": 20,
            "score": 10,
            "last_login": datetime(2026, 3, 7, 18, 45),
            "birthday": date(2006, 7, 4),
            "data": {"owner": {"name": "y"}, "n": 2},
        },
        {
            "email": "carol@spam.io",
            "name": "carol_100%",
            "age": None,
            "score": 10,
            "last_login": None,
            "birthday": None,
            "data": None,
        },
        {
            "email": "dave@SPAM.IO",
            "name": "Dave",
            "age": 45,
            "score": 0,
            "last_login": datetime(2025, 12, 31, 23, 59),
            "birthday": date(1981, 12, 31),
            "data": {"owner": {"name": "x"}, "n": 3},
        },
    ]
    for row in rows:
        await User.objects.create(**row)
    return db


async def names(**lookups: Any) -> list[str]:
    return sorted(await User.objects.filter(**lookups).values_list("name", flat=True))


@pytest.mark.parametrize(
    ("lookup", "expected"),
    [
        ({"name": "Ann"}, ["Ann"]),
        ({"name__exact": "Ann"}, ["Ann"]),
        ({"name__iexact": "ANN"}, ["Ann"]),
        ({"age": None}, ["carol_100%"]),
        ({"age__isnull": True}, ["carol_100%"]),
        ({"age__isnull": False}, ["Ann", "Bob", "Dave"]),
        ({"name__contains": "a"}, ["Dave", "carol_100%"]),
        ({"name__contains": "A"}, ["Ann"]),
        ({"name__icontains": "A"}, ["Ann", "Dave", "carol_100%"]),
        ({"name__startswith": "c"}, ["carol_100%"]),
        ({"name__startswith": "C"}, []),
        ({"name__istartswith": "C"}, ["carol_100%"]),
        ({"email__endswith": "spam.io"}, ["carol_100%"]),
        ({"email__iendswith": "@spam.io"}, ["Dave", "carol_100%"]),
        ({"name__contains": "%"}, ["carol_100%"]),  # wildcards match literally
        ({"name__icontains": "_1"}, ["carol_100%"]),
        ({"name__icontains": "L_1"}, ["carol_100%"]),
        ({"name__icontains": "a_"}, []),
        ({"name__contains": ""}, ["Ann", "Bob", "Dave", "carol_100%"]),
        ({"age__in": [20, 45]}, ["Bob", "Dave"]),
        ({"age__in": []}, []),
        ({"age__gt": 20}, ["Ann", "Dave"]),
        ({"age__gte": 20}, ["Ann", "Bob", "Dave"]),
        ({"age__lt": 30}, ["Bob"]),
        ({"age__lte": 30}, ["Ann", "Bob"]),
        ({"age__range": (25, 45)}, ["Ann", "Dave"]),
        ({"name__regex": r"^[AB]\w+$"}, ["Ann", "Bob"]),
        ({"name__iregex": r"^[ab]\w+$"}, ["Ann", "Bob"]),
        ({"last_login__date": date(2026, 3, 7)}, ["Bob"]),
        ({"last_login__date__gte": date(2026, 3, 1)}, ["Ann", "Bob"]),
        ({"last_login__year": 2025}, ["Dave"]),
        ({"last_login__year__gte": 2026}, ["Ann", "Bob"]),
        ({"last_login__month": 3}, ["Ann", "Bob"]),
        ({"last_login__day": 31}, ["Dave"]),
        ({"last_login__hour": 18}, ["Bob"]),
        ({"last_login__minute__in": [15, 59]}, ["Ann", "Dave"]),
        ({"last_login__week_day": 1}, ["Ann"]),  # 2026-03-01 is a Sunday
        ({"last_login__week_day": 7}, ["Bob"]),  # 2026-03-07 is a Saturday
        ({"birthday__year__lt": 2000}, ["Ann", "Dave"]),
        ({"seen_at__day": 1}, ["Ann"]),  # timezone-aware: date parts in UTC
        ({"seen_at__hour": 23}, ["Ann"]),
        ({"seen_at__date": date(2026, 3, 1)}, ["Ann"]),
        ({"seen_at__week_day": 1}, ["Ann"]),
        ({"data__owner__name": "x"}, ["Ann", "Dave"]),
        ({"data__n__gte": 2}, ["Bob", "Dave"]),
    ],
    ids=lambda v: "-".join(f"{k}" for k in v) if isinstance(v, dict) else None,
)
async def test_lookup(people: Database, lookup: dict[str, Any], expected: list[str]) -> None:
    assert await names(**lookup) == expected


async def test_exclude_keeps_null_rows(people: Database) -> None:
    rest = await User.objects.exclude(age=30).values_list("name", flat=True)
    assert sorted(rest) == ["Bob", "Dave", "carol_100%"]
    rest = await User.objects.exclude(age__gt=25).values_list("name", flat=True)
    assert sorted(rest) == ["Bob", "carol_100%"]


async def test_q_objects_combine(people: Database) -> None:
    got = await User.objects.filter(Q(name__istartswith="a") | Q(age__gt=40)).order_by("name")
    assert [u.name for u in got] == ["Ann", "Dave"]
    got = await User.objects.filter(~Q(age__lt=40) & Q(score__gte=0)).order_by("name")
    assert [u.name for u in got] == ["Dave", "carol_100%"]


async def test_f_expressions_in_filter(people: Database) -> None:
    assert await names(score__gt=F("age") - 25) == ["Bob"]
    assert await names(score=F("score")) == ["Ann", "Bob", "Dave", "carol_100%"]


async def test_plain_sqlalchemy_expressions(people: Database) -> None:
    assert await User.objects.filter(User.age > 25, User.name != "Dave").count() == 1


async def test_queryset_as_in_value(people: Database) -> None:
    old = User.objects.filter(age__gte=30).values_list("id", flat=True)
    assert await names(id__in=old) == ["Ann", "Dave"]


async def test_register_lookup_global_and_typed(people: Database) -> None:
    with lookups.scoped():
        register_lookup("ne", lambda col, value: col != value)
        register_lookup("even", lambda col, value: (col % 2 == 0) == value, for_type=Integer)
        register_lookup("even", lambda col, value: col.like("%e%") == value, for_type=String)
        assert await names(name__ne="Ann") == ["Bob", "Dave", "carol_100%"]
        assert await names(age__even=True) == ["Ann", "Bob"]
        assert await names(name__even=True) == ["Dave"]
    with pytest.raises(Exception, match="Unsupported lookup 'ne'"):
        User.objects.filter(name__ne="Ann")


async def test_case_insensitive_lookups_fold_unicode(db: Database) -> None:
    await User.objects.create(email="e@example.com", name="Émile Ørsted")
    await User.objects.create(email="f@example.com", name="emile orsted")
    assert await names(name__icontains="ORS") == ["emile orsted"]  # ASCII folds everywhere
    # NOTE(sqlite): SQLite's own lower() folds ASCII only; orm_kit registers a Unicode one.
    # On PostgreSQL, lower() follows the database's locale (C.UTF-8 and en_US.UTF-8 fold).
    async with db.engine.connect() as conn:
        folds = (await conn.exec_driver_sql("SELECT lower('É')")).scalar_one() == "é"
    if not folds:
        assert not supports(db.dialect, "unicode_lower"), "orm_kit's lower() is not registered"
        pytest.skip(missing_reason(db.dialect, "unicode_lower") + " in this database's locale")
    assert await names(name__iexact="émile ørsted") == ["Émile Ørsted"]
    assert await names(name__icontains="ØRS") == ["Émile Ørsted"]
    assert await names(name__istartswith="éMILE") == ["Émile Ørsted"]
