"""``state.replaced`` is ``dataclasses.replace`` for QueryState, field by field."""

from __future__ import annotations

import dataclasses

import pytest

from orm_kit.query.state import QueryState, replaced
from tests.models import User

FIELDS = [f.name for f in dataclasses.fields(QueryState)]


@pytest.mark.parametrize("name", FIELDS)
def test_replaced_changes_exactly_one_field_as_dataclasses_replace(name: str) -> None:
    # Each field starts from a distinct marker, so a value put in the wrong slot shows.
    base = QueryState(*[object() for _ in FIELDS])
    new = object()
    got = replaced(base, **{name: new})
    assert type(got) is QueryState
    assert got == dataclasses.replace(base, **{name: new})
    for other in FIELDS:
        assert getattr(got, other) is (new if other == name else getattr(base, other))


def test_replaced_with_several_changes_and_none() -> None:
    base = QueryState(User, limit=5, filter_names=("a",))
    assert replaced(base) == base
    assert replaced(base) is not base
    changes = {"limit": 2, "exact": None, "offset": 3, "distinct": True}
    assert replaced(base, **changes) == dataclasses.replace(base, **changes)


def test_replaced_refuses_a_name_that_is_not_a_field() -> None:
    with pytest.raises(TypeError, match="no field 'limt'"):
        replaced(QueryState(User), limt=2)
