"""Edge cases of terminal methods: empty aggregates, slice windows in exists() / count(),
what a sliced QuerySet refuses, and Manager.clone_with()."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from orm_kit import Count, Database, Manager, QuerySet, Repository, ValidationError
from tests.models import User


@pytest.fixture
def db(rolled_back_db: Database) -> Database:
    """Isolation by rollback (orm_kit.testing's orm_session) instead of emptying tables."""
    return rolled_back_db


@pytest.fixture
async def ten(db: Database) -> Database:
    """Ten users: ids in insertion order, score 0..9, age = score % 4 (four distinct ages)."""
    await User.objects.bulk_create(
        [User(email=f"u{i}@x.io", name=f"U{i}", age=i % 4, score=i) for i in range(10)]
    )
    return db


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Collect the SQL statements sent to ``db`` inside the block."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


# --- aggregate() -------------------------------------------------------------------------


async def test_aggregate_without_arguments_is_an_empty_dict_without_a_query(
    ten: Database,
) -> None:
    with statements(ten) as sent:
        assert await User.objects.aggregate() == {}
        assert await User.objects.filter(score__gte=5).aggregate() == {}
    assert sent == []


# --- exists() and count() on slices ------------------------------------------------------


@pytest.mark.parametrize("window", [slice(5, 5), slice(None, 0), slice(3, 1), slice(10, 12)])
async def test_an_empty_slice_window_neither_exists_nor_counts(
    ten: Database, window: slice
) -> None:
    qs = User.objects.order_by("id")[window]
    assert await qs == []
    assert not await qs.exists()
    assert await qs.count() == 0
    # (defer: PostgreSQL's json type has no equality operator for DISTINCT)
    distinct = User.objects.defer("data").distinct().order_by("id")
    assert not await distinct[window].exists()
    assert await distinct[window].count() == 0


async def test_an_empty_window_by_its_bounds_sends_no_query(ten: Database) -> None:
    with statements(ten) as sent:
        assert not await User.objects.all()[5:5].exists()
        assert await User.objects.all()[:0].count() == 0
        assert not await User.objects.distinct()[1:1].exists()
    assert sent == []


async def test_exists_and_count_respect_offset_and_limit(ten: Database) -> None:
    qs = User.objects.order_by("id")
    assert await qs[2:4].exists() and await qs[2:4].count() == 2
    assert await qs[8:20].count() == 2
    assert await qs[9:].exists() and await qs[9:].count() == 1
    assert not await qs[10:].exists()
    live = User.objects.filter(score__gte=5).order_by("id")  # five rows
    assert await live[4:6].exists() and await live[4:6].count() == 1
    assert not await live[5:6].exists() and await live[5:6].count() == 0
    assert await live[1:3][1:].count() == 1  # a slice of a slice: rows 3 only
    # With exactly three rows [2:4] holds one of them; with two it is empty.
    await User.objects.filter(score__gte=3).delete()
    assert await qs[2:4].exists() and await qs[2:4].count() == 1
    await User.objects.filter(score=2).delete()
    assert not await qs[2:4].exists() and await qs[2:4].count() == 0


async def test_exists_and_count_of_a_distinct_slice_count_distinct_rows(ten: Database) -> None:
    ages = User.objects.values_list("age", flat=True).distinct()  # four distinct values
    assert await ages.count() == 4
    assert await ages[3:5].exists() and await ages[3:5].count() == 1
    assert not await ages[4:6].exists()  # four distinct ages, though ten rows
    assert await ages[4:6].count() == 0
    assert await ages[1:].count() == 3
    distinct = User.objects.defer("data").distinct().order_by("id")
    assert await distinct[8:].exists() and await distinct[8:].count() == 2
    assert not await distinct[10:].exists()


async def test_exists_and_count_of_grouped_values_see_the_groups(ten: Database) -> None:
    groups = User.objects.values("age").annotate(n=Count("id"))  # n: 3, 3, 2, 2
    assert await groups.count() == 4
    assert await groups.filter(n__gte=3).count() == 2
    assert await groups.filter(n__gte=3).exists()
    assert not await groups.filter(n__gt=3).exists()
    assert await groups.filter(n__gt=3).count() == 0
    assert await groups.order_by("age")[3:].count() == 1


# --- what a sliced QuerySet refuses ------------------------------------------------------


async def test_last_of_a_slice_is_refused(ten: Database) -> None:
    window = User.objects.order_by("score")[0:5]
    with pytest.raises(ValidationError, match="Cannot reverse a query once a slice"):
        await window.last()
    with pytest.raises(ValidationError, match="Cannot reverse a query once a slice"):
        await User.objects.all()[2:4].last()
    assert (await User.objects.order_by("score").last()).score == 9  # type: ignore[union-attr]


async def test_reordering_or_distinct_after_slicing_is_refused(ten: Database) -> None:
    window = User.objects.order_by("score")[0:5]
    with pytest.raises(ValidationError, match=r"Cannot reorder a query once a slice.*User"):
        window.order_by("-score")
    with pytest.raises(ValidationError, match="Cannot reorder"):
        window.order_by()
    with pytest.raises(ValidationError, match=r"distinct.*once a slice.*User"):
        window.distinct()
    # Before slicing both are fine.
    top = await User.objects.order_by("-score").distinct()[0:2].values_list("score", flat=True)
    assert top == [9, 8]


async def test_first_latest_earliest_of_a_slice(ten: Database) -> None:
    window = User.objects.order_by("-score")[3:6]  # scores 6, 5, 4
    first = await window.first()  # ordered: the first row of the slice
    assert first is not None and first.score == 6
    assert (await User.objects.order_by("score")[10:].first()) is None
    with pytest.raises(ValidationError, match=r"first\(\).*User.*unordered.*order_by"):
        await User.objects.all()[3:6].first()  # would be ordered by primary key
    with pytest.raises(ValidationError, match=r"latest.*once a slice"):
        await window.latest("score")
    with pytest.raises(ValidationError, match=r"earliest.*once a slice"):
        await window.earliest("score")


async def test_slices_still_page_and_serve_the_repository(ten: Database) -> None:
    window = User.objects.order_by("score")[2:9]  # scores 2..8
    page = await window.paginate(page=2, size=3)
    assert [u.score for u in page.items] == [5, 6, 7] and page.total == 7
    assert [u.score for u in (await window.paginate(page=3, size=3)).items] == [8]
    with pytest.raises(ValidationError, match=r"Keyset pagination.*slice"):
        await window.paginate(after=None, size=3)
    assert [u.score for u in await User.objects.get_all(skip=8, limit=5)] == [8, 9]
    repo = Repository(User)
    assert [u.score for u in await repo.get_all(skip=1, limit=2)] == [1, 2]
    assert [u.score for u in await repo.filter(age=1, skip=1, limit=1)] == [5]
    assert (await repo.get_by(score=4)) is not None


# --- clone_with() ------------------------------------------------------------------------


class ScoredQuerySet(QuerySet[Any, Any]):
    def high(self) -> QuerySet[Any, Any]:
        return self.filter(score__gte=5)


class ScoredManager(Manager[Any]):
    queryset_class = ScoredQuerySet


async def test_clone_with_on_managers_and_querysets(ten: Database) -> None:
    by_score = User.objects.order_by("-score").query_state.order_by
    plain = User.objects.clone_with(limit=3, order_by=by_score)
    assert [u.score for u in await plain] == [9, 8, 7]
    # A custom manager's get_queryset() filter (active: is_active=True) is kept.
    await User.objects.filter(score__in=[9, 8]).update(is_active=False)
    active = User.active.clone_with(limit=2)
    assert len(await active) == 2 and all(u.is_active for u in await active)
    assert await User.active.clone_with(defer=("data",), distinct=True).count() == 8
    qs = User.objects.filter(age=1).order_by("score").clone_with(offset=1)
    assert [u.score for u in await qs] == [5, 9]
    with pytest.raises(ValidationError, match=r"clone_with\(\).*User.*'limt'.*limit"):
        User.objects.clone_with(limt=3)


async def test_clone_with_keeps_a_custom_queryset_class(ten: Database) -> None:
    cloned = ScoredManager(User).clone_with(defer=("data",))
    assert isinstance(cloned, ScoredQuerySet)
    assert await cloned.high().count() == 5  # type: ignore[attr-defined]


async def test_get_first_or_raise_on_a_manager_raises_does_not_exist(db: Database) -> None:
    # Called on the manager itself (no chaining) it used to fail with AttributeError: the
    # manager has no state of its own, only its get_queryset()'s.
    with pytest.raises(User.DoesNotExist, match="User matching query does not exist"):
        await User.objects.get_first_or_raise()
    with pytest.raises(User.DoesNotExist):
        await User.objects.latest("id")
