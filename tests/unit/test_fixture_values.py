"""Fixture values: every column type orm_kit maps survives JSON unchanged (no database)."""

from __future__ import annotations

import enum
import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    String,
    Time,
    Uuid,
)
from sqlalchemy.types import TypeEngine

from orm_kit.fixtures import decode, encode
from orm_kit.types import UTCDateTime


class Colour(enum.Enum):
    red = "R"
    blue = "B"


CASES: list[tuple[TypeEngine[Any], object]] = [
    (UTCDateTime(), datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)),
    (DateTime(timezone=True), datetime(2024, 1, 1, 8, tzinfo=timezone(timedelta(hours=5)))),
    (DateTime(), datetime(2024, 1, 1, 8, 0, 0, 1)),
    (Date(), date(1999, 12, 31)),
    (Time(), time(23, 1, 2, 3)),
    (Interval(), timedelta(days=-1, seconds=5, microseconds=9)),
    (Uuid(), UUID("0190f0e4-8a1b-7c3d-9e4f-0123456789ab")),
    (Numeric(30, 10), Decimal("12345678901234567890.0123456789")),
    (LargeBinary(), b"\x00\xff\x10binary"),
    (Enum(Colour), Colour.blue),
    (JSON(), {"nested": [1, 2.5, "2024-01-01", None, {"k": True}]}),
    (JSON(), "a JSON string that looks like 2024-01-01"),
    (Integer(), 2**62),
    (Float(), 0.1),
    (Boolean(), False),
    (String(), "émile ✓"),
]


@pytest.mark.parametrize(("type_", "value"), CASES, ids=[type(t).__name__ for t, _ in CASES])
def test_round_trip(type_: TypeEngine[Any], value: object) -> None:
    through_json = json.loads(json.dumps(encode(value, type_)))
    back = decode(through_json, type_)
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, datetime):
        assert back.utcoffset() == value.utcoffset()


@pytest.mark.parametrize("type_", [t for t, _ in CASES], ids=[type(t).__name__ for t, _ in CASES])
def test_none_is_null(type_: TypeEngine[Any]) -> None:
    assert encode(None, type_) is None
    assert decode(None, type_) is None


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        (String(), 7, "a string"),
        (Integer(), "12", "an integer"),
        (Integer(), True, "an integer"),
        (Integer(), 1.5, "an integer"),
        (Boolean(), 1, "true or false"),
        (Float(), "0.1", "a number"),
        (Float(), False, "a number"),
    ],
)
def test_a_value_of_the_wrong_json_kind_is_refused(
    type_: TypeEngine[Any], value: object, expected: str
) -> None:
    # The same on every backend: SQLite would store 7 in a VARCHAR column as it is.
    with pytest.raises(TypeError, match=f"^expected {expected}, not {type(value).__name__}$"):
        decode(value, type_)
