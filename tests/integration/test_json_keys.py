"""JSON key lookups compare a key only when it holds the kind of JSON value the lookup's
value is: a number for an int / float, a string for a str, true / false for a bool.

The rows tell the cases apart: every key holds each JSON kind in some row, with values
whose text forms collide ("1", 1, 1.0, true), so a comparison that casts or reads text
returns rows a kind-aware one does not — and on PostgreSQL a cast of "abc" would fail.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model


@pytest.fixture
def db(rolled_back_db: Database) -> Database:
    """Isolation by rollback (orm_kit.testing's orm_session) instead of emptying tables."""
    return rolled_back_db


class JsonKeyDoc(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


ROWS = {
    "int1": {"v": 1},
    "float1": {"v": 1.0},
    "float15": {"v": 1.5},
    "str1": {"v": "1"},
    "strabc": {"v": "abc"},
    "true": {"v": True},
    "false": {"v": False},
    "zero": {"v": 0},
    "null": {"v": None},
    "missing": {"w": 1},
    "nested": {"v": {"x": 1}},
}


async def _names(**lookups: Any) -> list[str]:
    rows = (
        await JsonKeyDoc.objects.filter(**lookups).order_by("name").values_list("name", flat=True)
    )
    return list(rows)


async def _excluded(**lookups: Any) -> list[str]:
    rows = (
        await JsonKeyDoc.objects.exclude(**lookups).order_by("name").values_list("name", flat=True)
    )
    return list(rows)


@pytest.fixture
async def docs(db: Database) -> None:
    await JsonKeyDoc.objects.bulk_create(
        [JsonKeyDoc(name=name, data=data) for name, data in ROWS.items()]
    )


@pytest.mark.usefixtures("docs")
async def test_numbers_compare_with_json_numbers_only() -> None:
    assert await _names(data__v=1) == ["float1", "int1"]
    assert await _names(data__v=1.0) == ["float1", "int1"]
    assert await _names(data__v__gt=0) == ["float1", "float15", "int1"]
    assert await _names(data__v__lt=1) == ["zero"]  # not "abc", not false
    assert await _names(data__v__in=[0, 1]) == ["float1", "int1", "zero"]
    assert await _names(data__v__range=(1, 2)) == ["float1", "float15", "int1"]


@pytest.mark.usefixtures("docs")
async def test_strings_compare_with_json_strings_only() -> None:
    assert await _names(data__v="1") == ["str1"]
    assert await _names(data__v__contains="1") == ["str1"]
    assert await _names(data__v__icontains="B") == ["strabc"]
    assert await _names(data__v__in=["1", "abc"]) == ["str1", "strabc"]


@pytest.mark.usefixtures("docs")
async def test_booleans_compare_with_json_booleans_only() -> None:
    assert await _names(data__v=True) == ["true"]
    assert await _names(data__v=False) == ["false"]  # not the number 0


@pytest.mark.usefixtures("docs")
async def test_exclude_is_the_complement() -> None:
    everything = sorted(ROWS)
    for lookups in ({"data__v": 1}, {"data__v": "1"}, {"data__v": True}, {"data__v__gt": 0}):
        kept = await _names(**lookups)
        assert sorted(kept + await _excluded(**lookups)) == everything, lookups


@pytest.mark.usefixtures("docs")
async def test_isnull_means_the_key_is_missing_or_null() -> None:
    assert await _names(data__v__isnull=True) == ["missing", "null"]
    assert await _names(data__w=1) == ["missing"]
