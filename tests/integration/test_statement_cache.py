"""Statements served from SQLAlchemy's compiled cache return what the plain path returns.

Each test runs several queries of one shape, in one process on one warm engine, with data
that tells the lookups apart (a row ``contains`` matches and ``startswith`` does not).
"""

from __future__ import annotations

import pytest

from orm_kit import Database, Q
from tests.models import User

NAMES = ["abc", "zzabc", "abczz", "50% off", "ABC", "a_c", "axc"]


@pytest.fixture
async def named(db: Database) -> Database:
    for i, name in enumerate(NAMES):
        await User.objects.create(email=f"u{i}@example.com", name=name)
    return db


async def names(qs: object) -> list[str]:
    return sorted(u.name for u in await qs)  # type: ignore[attr-defined]


async def test_text_lookups_do_not_share_a_cached_statement(named: Database) -> None:
    # Each lookup twice, in both orders, so the second of a pair runs on a warm cache.
    for _ in range(2):
        assert await names(User.objects.filter(name__contains="abc")) == [
            "abc",
            "abczz",
            "zzabc",
        ]
        assert await names(User.objects.filter(name__startswith="abc")) == ["abc", "abczz"]
        assert await names(User.objects.filter(name__endswith="abc")) == ["abc", "zzabc"]
        assert await names(User.objects.filter(name__endswith="%")) == []
        assert await names(User.objects.filter(name__contains="%")) == ["50% off"]
        assert await names(User.objects.filter(name__startswith="a_")) == ["a_c"]


async def test_text_lookups_in_q_trees_and_writes(named: Database) -> None:
    assert await User.objects.filter(name__contains="abc").count() == 3
    assert await User.objects.filter(name__startswith="abc").count() == 2
    assert await User.objects.filter(Q(name__contains="abc") | Q(name="axc")).count() == 4
    assert await User.objects.filter(Q(name__startswith="abc") | Q(name="axc")).count() == 3
    assert await User.objects.filter(name__contains="zz").update(score=1) == 2
    assert await User.objects.filter(name__endswith="zz").update(score=7) == 1
    assert await names(User.objects.filter(score=7)) == ["abczz"]
    assert await User.objects.filter(name__startswith="zz").delete() == 1
    assert await User.objects.filter(name__contains="abc").count() == 2
