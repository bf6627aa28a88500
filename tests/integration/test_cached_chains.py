"""A cached filter followed by ``order_by()`` of fields, a slice, ``first()``, ``last()``,
``exists()``, a count or a write returns and writes exactly what the general path does,
on every backend.

Each case runs in one process with warm caches on the cached path (a spy proves the
cached statement ran) and again with ``prepared.CACHED`` off, where SQLAlchemy compiles the
general path's statement; both must be equal value for value and type for type, and
equal to rows computed by hand. Orderings are total (``id`` breaks ties), slices take
windows that differ from their neighbours', and some rows are soft-deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, F, Model, NotFoundError, ORMKitError
from orm_kit.mixins import SoftDeleteMixin
from orm_kit.query import prepared
from orm_kit.query.meta import get_model_info
from tests.integration.typed_values import typed


class ChainRow(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[int]
    name: Mapped[str] = mapped_column(String(40))
    rank: Mapped[int | None]


def _row(i: int) -> dict[str, Any]:
    return {"id": i, "level": i % 3, "name": f"n{(7 * i) % 10}", "rank": None if i % 4 == 3 else -i}


ROWS = 15
DELETED = {2, 5, 9}
LIVE = [i for i in range(ROWS) if i not in DELETED]
ROW = {i: _row(i) for i in range(ROWS)}


@pytest.fixture
async def seeded(db: Database) -> Database:
    await ChainRow.objects.bulk_create([ChainRow(**ROW[i]) for i in range(ROWS)])
    for i in sorted(DELETED):
        await (await ChainRow.objects.get(id=i)).delete()
    return db


async def outcome(run: Callable[[], Awaitable[Any]]) -> Any:
    """What ``run()`` returns (``typed``), or the kind and message of its orm_kit error."""
    try:
        return typed(await run())
    except (ORMKitError, IndexError) as exc:  # qs[i] past the end: IndexError, as in Django
        kind = "NotFoundError" if isinstance(exc, NotFoundError) else type(exc).__name__
        return ("raised", kind, str(exc))


async def both(
    monkeypatch: pytest.MonkeyPatch, cached: list[Any], run: Callable[[], Awaitable[Any]]
) -> Any:
    """``run()`` on the cached path and on the general path: equal, each path taken."""
    before = len(cached)
    fast = await outcome(run)
    assert len(cached) > before, "the cached statement was not used"
    with monkeypatch.context() as m:
        m.setattr(prepared, "CACHED", False)
        taken = len(cached)
        plain = await outcome(run)
        assert len(cached) == taken, "the general path used a cached statement"
    assert fast == plain
    return fast


def ids(result: Any) -> list[int]:
    """The ids of a ``typed`` list of instances, in its order."""
    return [obj["id"][1] for obj in result[1]]


FILTERS: list[dict[str, Any]] = [{"level": 1}, {"level__lte": 1}, {"id__gte": 4, "level__lt": 2}]


def matching(kwargs: dict[str, Any]) -> list[int]:
    def holds(i: int, key: str, value: Any) -> bool:
        field, _, lookup = key.partition("__")
        have = ROW[i][field]
        return {
            "": have == value,
            "lt": have < value,
            "lte": have <= value,
            "gt": have > value,
            "gte": have >= value,
        }[lookup]

    return [i for i in LIVE if all(holds(i, k, v) for k, v in kwargs.items())]


def ordered(rows: list[int], *fields: str) -> list[int]:
    for field in reversed(fields):
        name = field.lstrip("-")
        rows = sorted(rows, key=lambda i, n=name: ROW[i][n], reverse=field.startswith("-"))
    return rows


@pytest.mark.parametrize("kwargs", FILTERS)
async def test_ordered_and_sliced_reads_match_the_general_path(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, cached: list[Any], kwargs: dict[str, Any]
) -> None:
    rows = matching(kwargs)
    assert len(rows) >= 4
    qs = lambda: ChainRow.objects.filter(**kwargs)  # noqa: E731
    for _ in range(2):  # the second round is served warm
        for fields in (("id",), ("-id",), ("name", "id"), ("-level", "-name", "id")):
            expected = ordered(rows, *fields)
            got = await both(monkeypatch, cached, lambda f=fields: qs().order_by(*f))
            assert ids(got) == expected, fields
            for window in (slice(None, 2), slice(1, 3), slice(2, None), slice(3, 3)):
                got = await both(
                    monkeypatch, cached, lambda f=fields, w=window: qs().order_by(*f)[w]
                )
                assert ids(got) == expected[window], (fields, window)
                if window.start == window.stop:  # an empty window: no statement at all
                    assert await qs().order_by(*fields)[window].count() == 0
                    continue
                count = await both(
                    monkeypatch, cached, lambda f=fields, w=window: qs().order_by(*f)[w].count()
                )
                assert count == ("int", len(expected[window]))
            one = await both(monkeypatch, cached, lambda f=fields: qs().order_by(*f)[1])
            assert one["id"] == ("int", expected[1])
            first = await both(monkeypatch, cached, lambda f=fields: qs().order_by(*f).first())
            last = await both(monkeypatch, cached, lambda f=fields: qs().order_by(*f).last())
            assert (first["id"], last["id"]) == (("int", expected[0]), ("int", expected[-1]))
        latest = await both(monkeypatch, cached, lambda: qs().latest("name", "id"))
        earliest = await both(monkeypatch, cached, lambda: qs().earliest("level", "-id"))
        assert latest["id"] == ("int", ordered(rows, "-name", "-id")[0])
        assert earliest["id"] == ("int", ordered(rows, "level", "-id")[0])
        first = await both(monkeypatch, cached, lambda: qs().first())  # by primary key
        last = await both(monkeypatch, cached, lambda: qs().last())
        assert (first["id"], last["id"]) == (("int", min(rows)), ("int", max(rows)))
        assert await both(monkeypatch, cached, lambda: qs().exists()) == ("bool", True)
        window = await both(monkeypatch, cached, lambda: qs().order_by("id")[len(rows) :].exists())
        assert window == ("bool", False)
        beyond = await both(
            monkeypatch, cached, lambda: qs().order_by("id")[len(rows) - 1 :].exists()
        )
        assert beyond == ("bool", True)
        assert await both(monkeypatch, cached, lambda: qs()[:2].count()) == ("int", 2)


async def test_nothing_found_and_nulls_match_the_general_path(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, cached: list[Any]
) -> None:
    none = lambda: ChainRow.objects.filter(level__gt=5)  # noqa: E731
    assert await both(monkeypatch, cached, lambda: none().order_by("id")) == ("list", [])
    assert await both(monkeypatch, cached, lambda: none().first()) == ("NoneType", None)
    assert await both(monkeypatch, cached, lambda: none().exists()) == ("bool", False)
    missing = await both(monkeypatch, cached, lambda: none().order_by("id")[0])
    assert missing[:2] == ("raised", "IndexError")
    # A nullable column: where NULLs sort is the backend's, the same on both paths.
    by_rank = await both(
        monkeypatch, cached, lambda: ChainRow.objects.filter(level=0).order_by("rank", "id")
    )
    assert sorted(ids(by_rank)) == matching({"level": 0})


async def test_orderings_that_are_not_plain_fields_take_the_general_path(
    seeded: Database, cached: list[Any]
) -> None:
    base = ChainRow.objects.filter(level=1)
    assert base.order_by("id")._state.exact is not None
    assert base.order_by("-name", "id")[1:3]._state.exact is not None
    for qs in (
        base.order_by(F("rank").desc()),
        base.order_by("pk"),
        base.annotate(twice=F("level") * 2).order_by("twice"),
        base.order_by("id").values("id"),
        base.order_by("id").distinct(),
        base.exclude(id=1).order_by("id"),
    ):
        assert qs._state.exact is None
        before = len(cached)
        await qs
        assert len(cached) == before
    by_expression = await base.order_by(F("rank").desc(), "id")
    assert sorted(o.id for o in by_expression) == matching({"level": 1})


async def test_writes_through_an_ordered_filter_match_the_general_path(
    seeded: Database, monkeypatch: pytest.MonkeyPatch, cached: list[Any]
) -> None:
    expected = matching({"level__lte": 0})
    for mark, general in (("cached", False), ("general", True)):
        with monkeypatch.context() as m:
            if general:
                m.setattr(prepared, "CACHED", False)
            before = len(cached)
            done = await ChainRow.objects.filter(level__lte=0).order_by("id").update(name=mark)
            assert (len(cached) > before) is not general
        assert done == len(expected)
        assert sorted(await ChainRow.objects.filter(name=mark).values_list("id", flat=True)) == (
            expected
        )
    refused = []
    for general in (False, True):
        with monkeypatch.context() as m:
            if general:
                m.setattr(prepared, "CACHED", False)
            refused.append(
                await outcome(lambda: ChainRow.objects.filter(level=1)[:2].update(name="x"))
            )
    assert refused[0] == refused[1] and refused[0][0] == "raised"


async def test_the_statement_cache_of_a_model_stays_bounded(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = get_model_info(ChainRow)
    await ChainRow.objects.filter(level=1).order_by("id")[:1]
    held = len(info.statements)
    monkeypatch.setattr(prepared, "MAX_STATEMENTS", held + 3)
    rows = ordered(matching({"level__gte": 0}), "id")
    for start in range(len(rows)):  # a window per page: more shapes than the cache keeps
        page = await ChainRow.objects.filter(level__gte=0).order_by("id")[start : start + 2]
        assert [o.id for o in page] == rows[start : start + 2]
        assert await ChainRow.objects.filter(level__gte=0).order_by("id")[start:].count() == (
            len(rows) - start
        )
    assert len(info.statements) == held + 3
