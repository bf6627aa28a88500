"""``exclude()`` and ``~Q`` return exactly the rows ``filter()`` with the same arguments does not.

Django's rule for NULL: a negated comparison with a NULL operand (a nullable column on
either side, an expression over one, a JSON key that is missing) keeps the row. Each test
checks filter + exclude == all rows, on data with NULLs where they change the answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, F, Model, Q


@pytest.fixture
def db(rolled_back_db: Database) -> Database:
    """Isolation by rollback (orm_kit.testing's orm_session) instead of emptying tables."""
    return rolled_back_db


class Sample(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    i: Mapped[int]
    ni: Mapped[int | None]
    ns: Mapped[str | None] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


ROWS: list[dict[str, Any]] = [
    {"i": 1, "ni": 1, "ns": "a", "data": {"k": "x"}},
    {"i": 2, "ni": 1, "ns": "A", "data": {"k": "y"}},
    {"i": 3, "ni": None, "ns": None, "data": {}},
    {"i": 4, "ni": None, "ns": "b", "data": {"k": "x"}},
    {"i": 5, "ni": 4, "ns": None, "data": {}},
]


@pytest.fixture
async def samples(db: Database) -> Database:
    await Sample.objects.bulk_create([Sample(**row) for row in ROWS])
    return db


async def ids(qs: Any) -> set[int]:
    return set(await qs.values_list("i", flat=True))


ALL = {1, 2, 3, 4, 5}

CASES: list[tuple[str, Q, set[int]]] = [
    # The fuzzer's finds: exclude(i=F("ni")) dropped the rows where ni is NULL.
    ("f_nullable_rhs", Q(i=F("ni")), {1}),
    ("f_arithmetic", Q(i__gt=F("ni") + 0), {2, 5}),
    ("nullable_lhs", Q(ni=1), {1, 2}),
    ("nullable_lhs_gt", Q(ni__lt=3), {1, 2}),
    # iexact None means IS NULL: exclude() must drop the NULL rows.
    ("iexact_none", Q(ns__iexact=None), {3, 5}),
    ("exact_none", Q(ns=None), {3, 5}),
    # None in an `in` list matches nothing, so exclude() keeps every row.
    ("in_none", Q(ni__in=[None]), set()),
    ("in_none_and_value", Q(ni__in=[None, 4]), {5}),
    ("text", Q(ns__icontains="a"), {1, 2}),
    ("json_key", Q(data__k="x"), {1, 4}),
    ("isnull", Q(ni__isnull=True), {3, 4}),
    ("or", Q(ni=1) | Q(ns="b"), {1, 2, 4}),
    ("and", Q(ni=1) & Q(ns="a"), {1}),
    ("nested_not", ~Q(ni=1) | Q(ns="b"), {3, 4, 5}),
    ("double_not", ~~Q(ni=1), {1, 2}),
]


@pytest.mark.parametrize(
    ("q", "expected"), [(q, e) for _, q, e in CASES], ids=[c[0] for c in CASES]
)
async def test_exclude_is_the_complement_of_filter(
    samples: Database, q: Q, expected: set[int]
) -> None:
    assert await ids(Sample.objects.filter(q)) == expected
    assert await ids(Sample.objects.exclude(q)) == ALL - expected
    assert await ids(Sample.objects.filter(~q)) == ALL - expected
    assert await Sample.objects.exclude(q).count() == len(ALL - expected)


async def test_exclude_with_keyword_lookups(samples: Database) -> None:
    assert await ids(Sample.objects.exclude(i=F("ni"))) == {2, 3, 4, 5}
    assert await ids(Sample.objects.exclude(ns__iexact=None)) == {1, 2, 4}
    assert await ids(Sample.objects.exclude(ni__in=[None])) == ALL
    assert await ids(Sample.objects.exclude(ni=1, ns="a")) == {2, 3, 4, 5}
    assert await ids(Sample.objects.exclude(ni=1).exclude(ns="b")) == {3, 5}
    # Updates and deletes see the same rows as the reads.
    assert await Sample.objects.exclude(i=F("ni")).update(i=F("i") + 10) == 4
    assert await ids(Sample.objects.all()) == {1, 12, 13, 14, 15}
    assert await Sample.objects.exclude(ni__lt=3).delete() == 3
    assert await ids(Sample.objects.all()) == {1, 12}
