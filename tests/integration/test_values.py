"""Values are checked against their column's type before any SQL, the same on every backend.

Each refused call must leave the table as it was; each accepted one must store exactly what
was given.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import JSON, BigInteger, Numeric, SmallInteger, String, Text, Uuid, select
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Count, Database, F, InvalidLookupError, Model, ValidationError
from orm_kit.types import UTCDateTime


class Gauge(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(default=0)
    small: Mapped[int | None] = mapped_column(SmallInteger)
    big: Mapped[int | None] = mapped_column(BigInteger)
    ratio: Mapped[float | None]
    price: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    label: Mapped[str] = mapped_column(String(10), default="")
    note: Mapped[str | None] = mapped_column(Text)
    flag: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wall: Mapped[datetime | None]
    day: Mapped[date | None]
    token: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    doc: Mapped[dict[str, Any] | None] = mapped_column(JSON)


async def rows(db: Database) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        result = await conn.execute(select(Gauge.__table__).order_by(Gauge.__table__.c.id))
        return [tuple(r) for r in result]


@pytest.fixture
async def gauges(db: Database) -> Database:
    await Gauge.objects.create(n=1, label="one", flag=True, at=datetime(2026, 1, 1, tzinfo=UTC))
    await Gauge.objects.create(n=2, label="two", note="x", ratio=0.5)
    return db


BAD_FILTERS: list[tuple[dict[str, Any], str]] = [
    ({"flag": "yes"}, "Gauge.flag expects True or False, not str"),
    ({"flag": 1}, "Gauge.flag expects True or False, not int"),
    ({"n": "3"}, "Gauge.n expects an integer, not str"),
    ({"n": True}, "Gauge.n expects an integer, not bool"),
    ({"n": 1.5}, "Gauge.n expects an integer, not float"),
    ({"n": 2**31}, "from -2147483648 to 2147483647"),
    ({"small": 40000}, "from -32768 to 32767"),
    ({"big": 2**64}, "from -9223372036854775808"),
    ({"n__gt": -(2**70)}, "Gauge.n expects an integer from"),
    ({"ratio": float("nan")}, "NaN"),
    # found by the hostile-input fuzzer: 2**63 was stored as another float
    ({"ratio": 2**53 + 1}, "an int from -2\\*\\*53 to 2\\*\\*53"),
    ({"price": Decimal("NaN")}, "a finite number"),
    ({"label": 123}, "Gauge.label expects a str, not int"),
    ({"label": "a\x00b"}, "NUL"),
    ({"label": "\udc80"}, "lone surrogates"),
    ({"label": b"bytes"}, "not bytes"),
    ({"at": datetime(2026, 1, 1)}, "timezone-aware datetime"),
    ({"wall": datetime(2026, 1, 1, tzinfo=UTC)}, "naive datetime"),
    ({"day": datetime(2026, 1, 1)}, "a date (not a datetime)"),
    ({"at__gte": date(2026, 1, 1)}, "timezone-aware datetime, not date"),
    ({"token": "not-a-uuid"}, "a UUID"),
    ({"token": 5}, "a UUID"),
    ({"n__in": [1, "2"]}, "Gauge.n expects an integer, not str"),
    ({"n__in": "12"}, "needs a list"),
    ({"n__in": {"a": 1}}, "needs a list"),
    ({"n__range": (1,)}, "needs a pair"),
    ({"n__range": (1, None)}, "two bounds"),
    ({"n__isnull": "no"}, "takes True or False"),
    ({"label__contains": 5}, "Gauge.label expects a str, not int"),
    ({"at__year": "2026"}, "Gauge.at__year expects an integer, not str"),
    ({"at__date": datetime(2026, 1, 1, tzinfo=UTC)}, "a date (not a datetime)"),
    ({"n__gt": F("label")}, "compares number with text"),
    ({"label__contains": F("n")}, "compares text"),
    ({"n__in": F("n")}, "needs a list"),
    ({"n__range": F("n")}, "needs a pair"),
]


@pytest.mark.parametrize(("lookups", "message"), BAD_FILTERS, ids=lambda v: repr(v)[:40])
async def test_values_that_do_not_fit_the_column_are_refused(
    gauges: Database, lookups: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await Gauge.objects.filter(**lookups)
    with pytest.raises(ValidationError):
        await Gauge.objects.exclude(**lookups).count()


# A value of the right type that is still refused: the message says what is wrong with it
# (never the value itself), instead of "expects a str of at most 10 characters, not str".
WHOLE_MESSAGES: list[tuple[str, dict[str, Any], str]] = [
    (
        "create",
        {"label": "x" * 12},
        "Gauge.label expects a str of at most 10 characters, not a str of 12 characters",
    ),
    (
        "filter",
        {"n": 2**31},
        "Gauge.n expects an integer from -2147483648 to 2147483647 (Integer), not an int "
        "outside that range",
    ),
    ("filter", {"ratio": float("nan")}, "not NaN"),
    ("filter", {"ratio": 2**53 + 1}, "not an int beyond 2**53"),
    ("filter", {"price": Decimal("Infinity")}, "not an infinite number or NaN"),
    ("create", {"price": Decimal("1.234")}, "not a number with 3 digits after it"),
    ("create", {"price": Decimal("12345")}, "not a number with 5 digits before it"),
    (
        "filter",
        {"label": "a\x00b"},
        "Gauge.label expects text without NUL characters, not text with one",
    ),
    ("filter", {"at": datetime(2026, 1, 1)}, "not a naive datetime"),
    ("filter", {"wall": datetime(2026, 1, 1, tzinfo=UTC)}, "not an aware datetime"),
]


@pytest.mark.parametrize(("call", "values", "message"), WHOLE_MESSAGES, ids=lambda v: repr(v)[:30])
async def test_a_refused_value_of_the_right_type_says_what_is_wrong_with_it(
    gauges: Database, call: str, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        if call == "create":
            await Gauge.objects.create(**values)
        else:
            await Gauge.objects.filter(**values).count()
    assert message in str(raised.value)
    assert ", not str;" not in str(raised.value) and ", not int;" not in str(raised.value)
    assert await Gauge.objects.count() == 2


@pytest.mark.parametrize(
    "key", ["flag__icontains", "n__startswith", "doc__gt", "day__hour", "n__year", "label__date"]
)
async def test_lookups_that_do_not_apply_to_the_type_are_refused(
    gauges: Database, key: str
) -> None:
    with pytest.raises(InvalidLookupError, match=r"Valid lookups|JSON column"):
        Gauge.objects.filter(**{key: 1})


async def test_accepted_values(gauges: Database) -> None:
    token = uuid.uuid4()
    await Gauge.objects.filter(n=1).update(token=token)
    # A UUID's string form is accepted and converted; a longer lookup string is fine.
    assert await Gauge.objects.filter(token=str(token)).count() == 1
    assert await Gauge.objects.filter(label="x" * 50).count() == 0
    # Integral floats are not ints; ints are valid floats.
    assert await Gauge.objects.filter(ratio=0).count() == 0
    assert await Gauge.objects.filter(ratio__lt=1).count() == 1
    assert await Gauge.objects.filter(ratio__lt=2**53).count() == 1  # still exact
    plus5 = datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=5)))  # == 00:00 UTC
    assert await Gauge.objects.filter(at=plus5).count() == 1
    # A regex on a non-text column matches its text form, as in Django.
    assert await Gauge.objects.filter(n__regex="^2$").count() == 1
    # None in an `in` list matches nothing (Django drops it).
    assert await Gauge.objects.filter(n__in=[None, 2]).count() == 1


BAD_WRITES: list[dict[str, Any]] = [
    {"label": 123},
    {"label": "x" * 11},
    {"n": 2**40},
    {"flag": "yes"},
    {"ratio": float("nan")},
    {"price": Decimal("12345.6")},
    {"at": datetime(2026, 1, 1)},
    {"note": "\x00"},
    {"token": "nope"},
    {"doc": {"bad": float("nan")}},
    {"doc": {"bad": {1, 2}}},
    {"doc": {"k": (1, 2)}},  # found by the hostile-input fuzzer: it read back as a list
    {"doc": "\udc80"},
]


@pytest.mark.parametrize("values", BAD_WRITES, ids=lambda v: repr(v)[:40])
async def test_writes_that_do_not_fit_change_nothing(
    gauges: Database, values: dict[str, Any]
) -> None:
    before = await rows(gauges)
    with pytest.raises(ValidationError, match="Gauge"):
        await Gauge.objects.create(**values)
    with pytest.raises(ValidationError, match="Gauge"):
        await Gauge.objects.filter(n=1).update(**values)
    with pytest.raises(ValidationError, match="Gauge"):
        await Gauge.objects.bulk_create([Gauge(n=7), Gauge(**values)])
    obj = await Gauge.objects.get(n=2)
    with pytest.raises(ValidationError, match="Gauge"):
        await obj.update(**values).save()
    with pytest.raises(ValidationError, match="Gauge"):
        await Gauge(**values).save()
    with pytest.raises(ValidationError, match="Gauge"):
        async with gauges.session():
            await Gauge.objects.create(**values)
    fresh = await Gauge.objects.get(n=2)
    for key, value in values.items():
        setattr(fresh, key, value)
    with pytest.raises(ValidationError, match="Gauge"):
        await Gauge.objects.bulk_update([fresh], list(values))
    assert await rows(gauges) == before


async def test_written_values_come_back_as_given(db: Database) -> None:
    token = uuid.uuid4()
    values: dict[str, Any] = {
        "n": -(2**31),
        "small": 32767,
        "big": 2**63 - 1,
        "ratio": 1e10,
        "price": Decimal("999.99"),
        "label": "é中%_\\'\"",
        "note": "x" * 1000,
        "flag": True,
        "at": datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
        "wall": datetime(2026, 3, 1, 23, 30),
        "day": date(2026, 3, 1),
        "token": token,
        "doc": {"a": [1, "b", None], "c": {"d": 1.5}},
    }
    made = await Gauge.objects.create(**values)
    got = await Gauge.objects.get(id=made.id)
    for key, value in values.items():
        assert getattr(got, key) == value, key
        # Same type (asyncpg returns its own uuid.UUID subclass, which SQLAlchemy keeps).
        assert isinstance(getattr(got, key), type(value)), key
        assert not isinstance(value, int) or type(getattr(got, key)) is type(value), key
    # id=None means "not set" on every backend.
    again = await Gauge.objects.create(id=None, n=5)
    assert again.id is not None and again.id != made.id


async def test_constructor_refuses_private_and_unknown_names(db: Database) -> None:
    for payload in ({"_sa_instance_state": 1}, {"objects": 1}, {"metadata": 1}, {"nope": 1}):
        with pytest.raises(ValidationError, match="is not a field of Gauge"):
            Gauge(**payload)
    with pytest.raises(ValidationError, match="Gauge has no field"):
        await Gauge.objects.create(**{"__class__": 1})
    assert await Gauge.objects.count() == 0


@pytest.mark.parametrize(
    "name", ["x; DROP TABLE gauge", "a b", "_private", "pk", "save", "n", "1x"]
)
async def test_annotation_and_aggregate_names_are_identifiers(gauges: Database, name: str) -> None:
    with pytest.raises(ValidationError):
        Gauge.objects.annotate(**{name: F("n") + 1})
    if name not in ("pk", "save", "n"):  # fine as aggregate keys
        with pytest.raises(ValidationError):
            await Gauge.objects.aggregate(**{name: Count("id")})
    assert await Gauge.objects.count() == 2


async def test_aggregate_and_annotate_arguments_are_checked(gauges: Database) -> None:
    with pytest.raises(ValidationError, match="takes a field name"):
        await Gauge.objects.aggregate(n=Count(123))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="takes Count"):
        await Gauge.objects.aggregate("n")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="takes an F"):
        Gauge.objects.annotate(total=5)
    with pytest.raises(ValidationError, match="number \\+ text"):
        await Gauge.objects.annotate(total=F("n") + F("label"))
    with pytest.raises(ValidationError, match="arithmetic takes"):
        await Gauge.objects.filter(n=F("n") + [1])  # noqa: RUF005 - a list on purpose
    assert await Gauge.objects.filter(n__lt=F("n") + 1).count() == 2
