"""QuerySet chaining and reading: laziness, ordering, slicing, shapes, iteration, paging."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect

from orm_kit import Avg, Count, Database, F, Max, Min, Q, QuerySet, Sum, ValidationError
from orm_kit.query.state import QueryState
from tests.models import Invoice, Shop, User


@pytest.fixture
async def ten(db: Database) -> Database:
    await User.objects.bulk_create(
        [
            User(email=f"u{i}@x.io", name=f"U{i}", age=i % 4, score=i, is_active=i % 3 != 0)
            for i in range(10)
        ]
    )
    return db


async def test_querysets_are_lazy_and_immutable(ten: Database) -> None:
    base = User.objects.filter(age__gte=1)
    narrowed = base.filter(age__lte=2)
    assert isinstance(base, QuerySet)
    assert base.query_state is not narrowed.query_state
    assert isinstance(base.query_state, QueryState)
    assert await base.count() == 7
    assert await narrowed.count() == 5


async def test_order_by_and_reverse(ten: Database) -> None:
    got = await User.objects.order_by("-age", "name").values_list("name", flat=True)
    assert got[:3] == ["U3", "U7", "U2"]
    assert await User.objects.order_by(F("score").desc()).values_list("score", flat=True) == list(
        range(9, -1, -1)
    )


async def test_slicing_sets_limit_and_offset(ten: Database) -> None:
    qs = User.objects.order_by("score")
    assert [u.score for u in await qs[2:5]] == [2, 3, 4]
    assert [u.score for u in await qs[2:5][1:]] == [3, 4]
    assert [u.score for u in await qs[8:]] == [8, 9]
    assert (await qs[3]).score == 3
    with pytest.raises(IndexError):
        await qs[50]
    assert "LIMIT" in qs[:3].sql().upper()


@pytest.mark.parametrize("key", [-1, slice(-3, None), slice(None, -1), slice(0, 5, 2)])
def test_negative_or_stepped_slices_raise(key: object) -> None:
    with pytest.raises(ValueError, match="not supported"):
        User.objects.all()[key]  # type: ignore[index]


async def test_first_last_latest_earliest(ten: Database) -> None:
    first = await User.objects.first()
    last = await User.objects.last()
    assert first is not None and last is not None
    assert first.id < last.id
    assert (await User.objects.order_by("-score").first()).score == 9  # type: ignore[union-attr]
    assert (await User.objects.order_by("-score").last()).score == 0  # type: ignore[union-attr]
    assert (await User.objects.latest("score")).score == 9
    assert (await User.objects.earliest("age", "-score")).score == 8
    assert await User.objects.filter(age=99).first() is None
    with pytest.raises(User.DoesNotExist):
        await User.objects.filter(age=99).latest("score")


async def test_count_exists_distinct(ten: Database) -> None:
    assert await User.objects.count() == 10
    assert await User.objects.filter(age=3).exists()
    assert not await User.objects.filter(age=30).exists()
    assert sorted(await User.objects.values_list("age", flat=True).distinct()) == [0, 1, 2, 3]
    assert await User.objects.values("age").distinct().count() == 4
    assert await User.objects.order_by("score")[2:6].count() == 4


async def test_values_and_values_list_shapes(ten: Database) -> None:
    rows = await User.objects.filter(score__lt=2).order_by("score").values("name", "score")
    assert rows == [{"name": "U0", "score": 0}, {"name": "U1", "score": 1}]
    full = await User.objects.filter(score=0).values()
    assert set(full[0]) >= {"id", "email", "name", "age", "score"}
    tuples = await User.objects.filter(score__lt=2).order_by("score").values_list("name", "age")
    assert tuples == [("U0", 0), ("U1", 1)]
    named = await User.objects.filter(score=1).values_list("name", "age", named=True)
    assert named[0].name == "U1" and named[0].age == 1
    with pytest.raises(ValidationError):
        User.objects.values_list("name", "age", flat=True)


async def test_only_and_defer(ten: Database) -> None:
    user = await User.objects.only("name").get(score=3)
    assert user.name == "U3"
    assert "email" not in user.__dict__
    deferred = await User.objects.defer("email", "data").get(score=3)
    assert "email" not in deferred.__dict__ and deferred.age == 3


async def test_annotate_adds_attributes_and_values(ten: Database) -> None:
    users = await User.objects.annotate(double=F("score") * 2).filter(score__lt=3).order_by("score")
    assert [u.double for u in users] == [0, 2, 4]  # type: ignore[attr-defined]
    rows = await User.objects.annotate(next=F("score") + 1).order_by("-next").values("name", "next")
    assert rows[0] == {"name": "U9", "next": 10}
    with pytest.raises(ValidationError, match="conflicts"):
        User.objects.annotate(name=F("score"))


async def test_aggregate(ten: Database) -> None:
    got = await User.objects.filter(age__gte=1).aggregate(
        n=Count("id"), total=Sum("score"), low=Min("score"), high=Max("score"), avg=Avg("age")
    )
    assert got == {"n": 7, "total": 33, "low": 1, "high": 9, "avg": pytest.approx(13 / 7)}
    # A sum of integers is an int on every backend (MariaDB's SUM() gives a DECIMAL).
    assert type(got["total"]) is int
    filtered = await User.objects.aggregate(t=Sum("score", filter=Q(age__gte=1)))
    annotated = await User.objects.values("is_active").annotate(t=Sum("score")).order_by("t")
    assert [type(v) for v in (filtered["t"], *(r["t"] for r in annotated))] == [int, int, int]
    assert await User.objects.aggregate(Count("age", distinct=True)) == {"age__count": 4}
    assert await User.objects.aggregate(active=Count("id", filter=Q(is_active=True))) == {
        "active": 6
    }
    assert (await User.objects.none().aggregate(n=Count("id")))["n"] == 0


async def test_in_bulk(ten: Database) -> None:
    ids = await User.objects.filter(score__lt=3).values_list("id", flat=True)
    by_id = await User.objects.in_bulk(ids)
    assert sorted(u.score for u in by_id.values()) == [0, 1, 2]
    by_email = await User.objects.in_bulk(["u4@x.io"], field_name="email")
    assert by_email["u4@x.io"].score == 4
    assert await User.objects.in_bulk([]) == {}


async def test_none_matches_nothing_without_querying(ten: Database) -> None:
    qs = User.objects.none()
    assert await qs == []
    assert await qs.count() == 0
    assert not await qs.exists()
    assert await qs.update(score=1) == 0
    assert await User.objects.count() == 10


async def test_async_for_and_iterator_stream_everything(ten: Database) -> None:
    seen = [u.score async for u in User.objects.order_by("score")]
    assert seen == list(range(10))
    chunked = [row async for row in User.objects.values("score").iterator(chunk_size=3)]
    assert len(chunked) == 10
    async with ten.session():
        inside = [u.score async for u in User.objects.filter(score__gte=5).iterator(chunk_size=2)]
    assert sorted(inside) == [5, 6, 7, 8, 9]


async def test_offset_pagination(ten: Database) -> None:
    page = await User.objects.order_by("score").paginate(page=2, size=4)
    assert [u.score for u in page.items] == [4, 5, 6, 7]
    assert (page.total, page.page, page.size, page.pages) == (10, 2, 4, 3)
    last = await User.objects.order_by("score").paginate(page=3, size=4)
    assert [u.score for u in last.items] == [8, 9]
    assert not last.has_next


async def test_keyset_pagination_mixed_directions(ten: Database) -> None:
    qs = User.objects.order_by("age", "-score")
    expected = [u.score for u in await qs]
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await qs.paginate(after=cursor, size=3)
        seen.extend(u.score for u in page.items)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    assert pages == 4
    with pytest.raises(ValidationError, match="cursor"):
        await qs.paginate(after="not-a-cursor", size=3)


def _forged(values: list[object]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_a_forged_cursor_of_the_wrong_types_is_refused(ten: Database) -> None:
    # A client can edit a cursor (base64 JSON): ["x"] for an integer key failed in
    # PostgreSQL's driver (a 500 in FastAPI) and on SQLite silently gave the first page.
    qs = User.objects.order_by("-id")
    for values in (["x"], [1.5], [True], [{"dt": "2026-01-01T00:00:00"}], [[1]], [{"x": 1}]):
        with pytest.raises(ValidationError, match="cursor is not valid for this query"):
            await qs.paginate(after=_forged(values), size=3)
    first = await qs.paginate(after=None, size=3)
    assert first.next_cursor is not None
    again = await qs.paginate(after=first.next_cursor, size=3)  # a genuine one still works
    assert len(again.items) == 3
    assert again.items[0].id < first.items[-1].id
    dated = User.objects.order_by("name")
    with pytest.raises(ValidationError, match="cursor is not valid for this query"):
        await dated.paginate(after=_forged([7, 1]), size=3)


async def test_custom_manager_get_queryset(ten: Database) -> None:
    assert await User.active.count() == 6
    assert await User.active.filter(age=0).count() == 2
    assert all(u.is_active for u in await User.active.all())


async def test_select_for_update_needs_a_transaction(ten: Database) -> None:
    with pytest.raises(ValidationError, match="transaction"):
        await User.objects.select_for_update().filter(score=1)
    async with ten.transaction():
        locked = await User.objects.select_for_update(skip_locked=True).filter(score=1)
        assert [u.score for u in locked] == [1]


async def test_sql_shows_bound_parameters_not_values(ten: Database) -> None:
    sql = User.objects.filter(name="Robert'); DROP TABLE user;--").sql()
    assert "DROP" not in sql
    assert "WHERE" in sql


async def test_get_by_one_column_reuses_one_statement(ten: Database) -> None:
    """get(column=value) on a plain manager runs one cached statement with the value as a
    parameter, and answers exactly as the general path does."""
    seen: list[object] = []

    def record(conn: object, clause: object, *args: object) -> None:
        seen.append(clause)

    event.listen(ten.engine.sync_engine, "before_execute", record)
    try:
        first = await User.objects.get(email="u3@x.io")
        second = await User.objects.get(email="u4@x.io")
        by_pk = await User.objects.get(pk=first.id)
        with pytest.raises(User.DoesNotExist, match=r"filters: email"):
            await User.objects.get(email="nobody@x.io")
        with pytest.raises(User.MultipleObjectsReturned, match=r"filters: age"):
            await User.objects.get(age=1)
    finally:
        event.remove(ten.engine.sync_engine, "before_execute", record)
    assert (first.score, second.score, by_pk.email) == (3, 4, "u3@x.io")
    assert seen[0] is seen[1]  # the same statement object, values bound per call
    assert sa_inspect(first).detached and sa_inspect(first).identity == (first.id,)
    assert (await User.objects.get(age=2, is_active=True)).score == 2  # two lookups: general path
    # Inside a session get() goes through the session (its identity map).
    async with ten.session() as session:
        loaded = await User.objects.get(email="u5@x.io")
        assert loaded in session
        assert await User.objects.get(id=loaded.id) is loaded


async def test_get_hides_soft_deleted_rows(db: Database) -> None:
    kept, gone = await Shop.objects.bulk_create([Shop(name="kept"), Shop(name="gone")])
    await gone.delete()
    assert (await Shop.objects.get(id=kept.id)).name == "kept"
    with pytest.raises(Shop.DoesNotExist):
        await Shop.objects.get(id=gone.id)
    assert (await Shop.all_objects.get(id=gone.id)).is_deleted


async def test_simple_filters_reuse_statements_and_match_the_general_path(
    ten: Database,
) -> None:
    """filter(column=value, ...) straight off a manager runs cached statements for reading,
    counting, updating and deleting; chained QuerySets take the general path. Both agree."""
    seen: list[object] = []

    def record(conn: object, clause: object, *args: object) -> None:
        seen.append(clause)

    event.listen(ten.engine.sync_engine, "before_execute", record)
    try:
        ages = [[u.score for u in await User.objects.filter(age=a)] for a in (1, 2)]
        counts = [await User.objects.filter(age=a, is_active=True).count() for a in (1, 2)]
        updated = [
            await User.objects.filter(email=e).update(name="X") for e in ("u1@x.io", "u2@x.io")
        ]
    finally:
        event.remove(ten.engine.sync_engine, "before_execute", record)
    assert [sorted(s) for s in ages] == [[1, 5, 9], [2, 6]]
    assert counts == [2, 1]  # age 1: u1, u5 (u9 inactive); age 2: u2 (u6 inactive)
    assert updated == [1, 1]
    assert seen[0] is seen[1] and seen[2] is seen[3] and seen[4] is seen[5]
    # The general path gives the same answers.
    assert sorted(u.score for u in await User.objects.filter(age__exact=1)) == [1, 5, 9]
    assert await User.objects.filter(age=1).filter(is_active=True).count() == 2
    assert [u.score for u in await User.objects.filter(age=1).order_by("-score")[:2]] == [9, 5]
    assert await User.objects.filter(age=1).exclude(score=5).count() == 2
    assert await User.objects.filter(age=1).values_list("score", flat=True).order_by("score") == [
        1,
        5,
        9,
    ]
    assert await User.objects.filter(name="X").count() == 2
    assert await User.objects.filter(age=None).count() == 0  # None: IS NULL, general path
    # An F() value takes the general UPDATE; a plain one the cached UPDATE.
    assert await User.objects.filter(age=3).update(score=F("score") + 100) == 2
    assert sorted(await User.objects.filter(age=3).values_list("score", flat=True)) == [103, 107]
    assert await User.objects.filter(age=3).delete() == 2
    assert await User.objects.filter(age=0).delete() == 3
    assert await User.objects.count() == 5


async def test_simple_filters_on_soft_deleted_and_timestamped_models(db: Database) -> None:
    """The cached statements keep soft-delete filtering and per-call column defaults."""
    shops = await Shop.objects.bulk_create([Shop(name="a"), Shop(name="b")])
    assert await Shop.objects.filter(name="a").delete() == 1  # soft: an UPDATE
    assert await Shop.objects.filter(name="a").count() == 0
    assert await Shop.all_objects.filter(name="a").count() == 1
    assert await Shop.objects.filter(name="b").delete() == 1
    assert {s.name for s in await Shop.all_objects.all()} == {"a", "b"}
    assert all(s.is_deleted for s in await Shop.all_objects.filter(id=shops[0].id))

    invoice = await Invoice.objects.create(number="1")
    stamps = []
    for amount in (1, 2):
        await Invoice.objects.filter(number="1").update(amount=amount)
        stamps.append((await Invoice.objects.get(id=invoice.id)).updated_at)
    assert stamps[0] < stamps[1]  # onupdate evaluated on each run, not cached
