"""Every pair of registered lookups on one column differs in cache key and in SQL.

SQLAlchemy serves a compiled statement by cache key; two lookups whose keys matched
would share one statement and return each other's rows. This walks the registry, so a
lookup or transform added later is covered too.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Integer, String, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

from orm_kit.query.clauses import resolve_lookup
from orm_kit.query.lookups import lookups
from tests.models import User

DIALECTS: list[Dialect] = [sqlite.dialect(), postgresql.dialect(), mysql.dialect()]

# A value each built-in lookup accepts, per column: (field, {lookup: value}).
TEXT = "name"
TEXT_VALUES: dict[str, Any] = {
    "exact": "ab",
    "iexact": "ab",
    "contains": "ab",
    "icontains": "ab",
    "startswith": "ab",
    "istartswith": "ab",
    "endswith": "ab",
    "iendswith": "ab",
    "in": ["ab"],
    "gt": "ab",
    "gte": "ab",
    "lt": "ab",
    "lte": "ab",
    "range": ("a", "b"),
    "isnull": True,
    "regex": "ab",
    "iregex": "ab",
}
INT_VALUES: dict[str, Any] = {
    "exact": 3,
    "in": [3],
    "gt": 3,
    "gte": 3,
    "lt": 3,
    "lte": 3,
    "range": (1, 3),
    "isnull": True,
    "regex": "3",
    "iregex": "3",
}


def _statement(key: str, value: Any) -> Any:
    return select(User.id).where(resolve_lookup(User, key, value).clause)


def _pairs(field: str, values: dict[str, Any], type_: Any) -> list[tuple[str, str]]:
    names = [n for n in lookups.names(type_) if lookups.entry(n, type_) is not None]
    assert set(names) == set(values), "give the new lookup a value in this test"
    return list(itertools.combinations(sorted(names), 2))


def _check_pair(field: str, values: dict[str, Any], a: str, b: str) -> None:
    first = _statement(f"{field}__{a}", values[a])
    second = _statement(f"{field}__{b}", values[b])
    key_a, key_b = first._generate_cache_key(), second._generate_cache_key()
    assert key_a is not None and key_b is not None
    assert key_a.key != key_b.key, f"{a} and {b} share a cache key"
    for dialect in DIALECTS:
        sql_a = str(first.compile(dialect=dialect))
        sql_b = str(second.compile(dialect=dialect))
        assert sql_a != sql_b, f"{a} and {b} compile alike on {dialect.name}"


@pytest.mark.parametrize(("a", "b"), _pairs(TEXT, TEXT_VALUES, String()))
def test_text_lookup_pairs_differ(a: str, b: str) -> None:
    _check_pair(TEXT, TEXT_VALUES, a, b)


@pytest.mark.parametrize(("a", "b"), _pairs("score", INT_VALUES, Integer()))
def test_integer_lookup_pairs_differ(a: str, b: str) -> None:
    _check_pair("score", INT_VALUES, a, b)


def _transforms(type_: Any) -> list[str]:
    return [n for n in lookups.names(type_) if lookups.transform(n, type_) is not None]


@pytest.mark.parametrize(
    ("a", "b"), list(itertools.combinations(_transforms(User.seen_at.type), 2))
)
def test_transform_pairs_differ(a: str, b: str) -> None:
    def value(name: str) -> Any:
        return date(2026, 1, 1) if name == "date" else 3

    first = _statement(f"seen_at__{a}", value(a))
    second = _statement(f"seen_at__{b}", value(b))
    assert first._generate_cache_key().key != second._generate_cache_key().key  # type: ignore[union-attr]
    for dialect in DIALECTS:
        assert str(first.compile(dialect=dialect)) != str(second.compile(dialect=dialect))


def test_same_lookup_with_other_values_shares_one_key() -> None:
    # The other half of the contract: values are parameters, so the cache does hit.
    a = _statement("name__startswith", "ab")._generate_cache_key()
    b = _statement("name__startswith", "zz")._generate_cache_key()
    assert a is not None and b is not None and a.key == b.key
    c = _statement("seen_at__year", 2020)._generate_cache_key()
    d = _statement("seen_at__year", 2021)._generate_cache_key()
    assert c is not None and d is not None and c.key == d.key
    e = _statement("seen_at__gt", datetime(2020, 1, 1, tzinfo=UTC))._generate_cache_key()
    assert e is not None
