"""Named regression tests for what the differential oracle (tests/oracle) found, each on
every backend with data that tells the right answer from the wrong one."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orm_kit import Avg, Count, Database, F, InvalidLookupError, Q, ValidationError
from tests.models import Post, User


@pytest.fixture
def db(rolled_back_db: Database) -> Database:
    """Isolation by rollback (orm_kit.testing's orm_session) instead of emptying tables."""
    return rolled_back_db


async def test_week_day_in_the_last_microsecond_of_a_day(db: Database) -> None:
    # NOTE(sqlite): its date functions rounded 23:59:59.999999 up to the next day.
    last = datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)  # a Tuesday
    await User.objects.create(
        email="a@example.com", seen_at=last, last_login=last.replace(tzinfo=None)
    )
    assert await User.objects.filter(seen_at__week_day=3).count() == 1
    assert await User.objects.filter(seen_at__day=31, seen_at__year=2024).count() == 1
    assert await User.objects.filter(seen_at__date=last.date()).count() == 1
    assert await User.objects.filter(last_login__week_day=3, last_login__minute=59).count() == 1


async def test_endswith_empty_string_does_not_match_null(db: Database) -> None:
    await User.objects.create(email="a@example.com", name="x")
    await User.objects.create(email="b@example.com", name="y", data=None)
    # name is NOT NULL; the JSON key path and a nullable text column can be NULL.
    await Post.objects.create(author_id=(await User.objects.get(name="x")).id, title="t")
    for lookup in ("endswith", "iendswith", "startswith", "istartswith", "contains", "icontains"):
        assert await User.objects.filter(**{f"data__k__{lookup}": ""}).count() == 0, lookup
        assert await User.objects.filter(**{f"name__{lookup}": ""}).count() == 2, lookup
        assert await User.objects.exclude(**{f"data__k__{lookup}": ""}).count() == 2, lookup


async def test_boolean_columns_order_false_before_true(db: Database) -> None:
    await User.objects.create(email="a@example.com", is_active=False)
    await User.objects.create(email="b@example.com", is_active=True)
    assert await User.objects.filter(is_active__lt=True).values_list("email", flat=True) == [
        "a@example.com"
    ]
    assert await User.objects.filter(is_active__gte=False).count() == 2


@pytest.fixture
async def blog(db: Database) -> list[User]:
    ann = await User.objects.create(email="ann@example.com", name="Ann", score=4)
    bob = await User.objects.create(email="bob@example.com", name="Bob", score=8)
    await Post.objects.create(author_id=ann.id, title="a", views=10)
    await Post.objects.create(author_id=bob.id, title="b", views=30)
    return [ann, bob]


async def test_avg_with_a_filter(blog: list[User]) -> None:
    # Avg casts its result; the cast came before FILTER, which failed.
    got = await User.objects.aggregate(a=Avg("score", filter=Q(name="Bob")))
    assert got == {"a": 8.0}


async def test_aggregate_filter_through_a_relations_primary_key(blog: list[User]) -> None:
    ann, _ = blog
    got = await Post.objects.aggregate(n=Count("id", filter=Q(author__in=[ann.id])))
    assert got == {"n": 1}


async def test_isnull_through_a_relation_matches_rows_without_related_rows(
    blog: list[User],
) -> None:
    # Django's rule (a LEFT JOIN): no related row means the related field is NULL too.
    carl = await User.objects.create(email="carl@example.com", name="Carl", age=None)
    ann, bob = blog
    await User.objects.filter(id=bob.id).update(age=30)
    # Ann and Carl have age NULL; Carl has no posts.
    assert await Post.objects.filter(author__age__isnull=True).count() == 1
    authors = User.objects.filter(posts__rating__isnull=True).order_by("id")
    assert [u.name for u in await authors] == ["Ann", "Bob", "Carl"]
    some_rating = User.objects.filter(posts__rating__isnull=True, posts__views__gt=20)
    assert [u.name for u in await some_rating] == ["Bob"]  # one post must match both
    assert [u.name for u in await User.objects.filter(posts__isnull=True)] == [carl.name]
    excluded = User.objects.exclude(posts__rating__isnull=True)
    assert await excluded.count() == 0
    assert ann.id is not None


async def test_in_list_items_may_be_expressions(db: Database) -> None:
    # Found by the hostile-input fuzzer: id__in=[F("age")] was refused; Django resolves
    # expressions inside an `in` list. Rows tell the cases apart: score equals age for one,
    # equals 7 for another, neither for the third, and one age is NULL.
    await User.objects.bulk_create(
        [
            User(email="a@x.io", name="same", age=5, score=5),
            User(email="b@x.io", name="seven", age=1, score=7),
            User(email="c@x.io", name="neither", age=2, score=9),
            User(email="d@x.io", name="no age", age=None, score=3),
        ]
    )
    matched = User.objects.filter(score__in=[F("age"), 7]).order_by("name")
    assert await matched.values_list("name", flat=True) == ["same", "seven"]
    # exclude() is the complement: the NULL age makes F("age") unknown, 3 is not 7
    left = User.objects.exclude(score__in=[F("age"), 7]).order_by("name")
    assert await left.values_list("name", flat=True) == ["neither", "no age"]
    with pytest.raises(ValidationError, match=r"User.score \(in\)"):
        await User.objects.filter(score__in=[F("name")])


async def test_ordering_by_a_json_column_is_refused_before_sql(db: Database) -> None:
    # Found by the hostile-input fuzzer: PostgreSQL failed with "could not identify an
    # ordering operator for type json" while SQLite ordered by the text.
    with pytest.raises(InvalidLookupError, match="Cannot order User by 'data': it is a JSON"):
        User.objects.order_by("data")
    with pytest.raises(InvalidLookupError, match="Cannot order Post by 'author__data'"):
        Post.objects.order_by("-author__data")


async def test_aggregates_are_refused_as_filter_values(db: Database) -> None:
    # Found by the hostile-input fuzzer: filter(author=Count("id")) reached the database
    # ("misuse of aggregate function count()"); every lookup now refuses it before SQL.
    for lookups in (
        {"score": Count("id")},
        {"score__in": [Count("id"), 1]},
        {"score__range": (Count("id"), 3)},
        {"posts": Count("id")},
        {"posts__views__gt": Count("id")},
    ):
        with pytest.raises(ValidationError, match="cannot compare with an aggregate"):
            await User.objects.filter(**lookups)
    with pytest.raises(ValidationError, match="cannot set an aggregate"):
        await User.objects.update(score=Count("id"))


async def test_a_field_and_its_pk_alias_with_different_values_are_refused(db: Database) -> None:
    # Found by the hostile-input fuzzer: get_or_create(id=5000, defaults={"pk": None})
    # created a row with another id (pk=None won over id=5000).
    with pytest.raises(ValidationError, match=r"got both id=5000 and pk=None"):
        await User.objects.get_or_create(id=5000, email="p@x.io", defaults={"pk": None})
    with pytest.raises(ValidationError, match=r"got both id=1 and pk=2"):
        await User.objects.create(id=1, pk=2, email="q@x.io")
    # A value that cannot even be compared (a signalling NaN) raised decimal.InvalidOperation.
    with pytest.raises(ValidationError, match=r"got both id=Decimal\('sNaN'\) and pk=3"):
        await User.objects.create(id=Decimal("sNaN"), pk=3, email="s@x.io")
    user = await User.objects.create(id=7, pk=7, email="r@x.io")  # the same value is fine
    assert user.id == 7
    assert await User.objects.count() == 1


async def test_a_numeric_lookup_compares_the_value_as_given(db: Database) -> None:
    # NOTE(postgresql): bound as the column's NUMERIC(5, 2), the value was rounded by its
    # cast (rating=1.234 matched 1.23) or overflowed it (rating=123456 was a DatabaseError);
    # SQLite compared the value as given. Found by the hostile-input fuzzer.
    author = await User.objects.create(email="a@example.com")
    await Post.objects.create(author_id=author.id, title="t", rating=Decimal("1.23"))
    posts = Post.objects.all()
    assert await posts.filter(rating=Decimal("1.234")).count() == 0
    assert await posts.filter(rating=Decimal("1.23")).count() == 1
    assert await posts.filter(rating__gte=Decimal("1.234")).count() == 0
    assert await posts.filter(rating__lte=Decimal("1.226")).count() == 0
    assert await posts.filter(rating__gt=1.225).count() == 1
    assert await posts.filter(rating__in=[Decimal("1.234"), Decimal("1.226")]).count() == 0
    assert await posts.filter(rating__range=(Decimal("1.231"), Decimal("1.239"))).count() == 0
    assert await posts.filter(rating=123456).count() == 0  # more digits than the column holds
    assert await posts.filter(rating__lt=10**9).count() == 1
    assert [p.title for p in await posts.filter(rating=Decimal("1.234"))] == []
    assert await posts.filter(rating=Decimal("1.23")).first() is not None
