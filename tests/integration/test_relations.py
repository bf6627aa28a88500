"""Lookups across relationships, eager loading, and the not-loaded error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import ForeignKey, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_kit import (
    Avg,
    Count,
    Database,
    DatabaseUnavailableError,
    InvalidLookupError,
    Max,
    Model,
    Q,
    RelationNotLoadedError,
    Sum,
    get_database,
)
from tests.models import Comment, Post, Tag, User


@pytest.fixture
def db(rolled_back_db: Database) -> Database:
    """Isolation by rollback (orm_kit.testing's orm_session) instead of emptying tables."""
    return rolled_back_db


class Shelf(Model):
    """A relationship declared eager (lazy="selectin"): loaded on every query."""

    id: Mapped[int] = mapped_column(primary_key=True)
    books: Mapped[list[ShelfBook]] = relationship(lazy="selectin", back_populates="shelf")


class ShelfBook(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("shelf.id"))
    shelf: Mapped[Shelf] = relationship(back_populates="books")


@pytest.fixture
async def blog(db: Database) -> Database:
    ann = await User.objects.create(email="ann@x.io", name="Ann")
    bob = await User.objects.create(email="bob@x.io", name="Bob")
    await User.objects.create(email="cy@x.io", name="Cy")  # no posts
    python = await Tag.objects.create(name="python", color="red")
    sql = await Tag.objects.create(name="sql", color="blue")
    await Tag.objects.create(name="rust", color="red")
    async with db.session() as session:
        tags = await Tag.objects.in_bulk([python.id, sql.id])
        py, sq = tags[python.id], tags[sql.id]
        p1 = Post(author_id=ann.id, title="Async Python", views=10)
        p2 = Post(author_id=ann.id, title="SQL joins", views=3)
        p3 = Post(author_id=bob.id, title="Python tips", views=7)
        session.add_all([p1, p2, p3])  # in the session before relating them to its tags
        p1.tags, p2.tags, p3.tags = [py, sq], [sq], [py]
        for post in (p1, p2, p3):
            await post.save()
        for post, author in ((p1, bob), (p1, ann), (p3, ann)):
            await Comment.objects.create(post_id=post.id, author_id=author.id, body="hi")
    return db


async def titles(qs: object) -> list[str]:
    return sorted(p.title for p in await qs)  # type: ignore[attr-defined]


async def test_many_to_one_lookups(blog: Database) -> None:
    assert await titles(Post.objects.filter(author__name="Ann")) == ["Async Python", "SQL joins"]
    assert await titles(Post.objects.filter(author__name__icontains="B")) == ["Python tips"]
    ann = await User.objects.get(name="Ann")
    assert await Post.objects.filter(author=ann).count() == 2
    assert await Post.objects.filter(author=ann.id).count() == 2
    assert await Post.objects.filter(author__in=[ann.id]).count() == 2


async def test_one_to_many_filter_never_duplicates(blog: Database) -> None:
    users = await User.objects.filter(posts__views__gt=1).order_by("name")
    assert [u.name for u in users] == ["Ann", "Bob"]  # Ann has two matching posts
    assert await User.objects.filter(posts__views__gt=1).count() == 2
    assert [u.name for u in await User.objects.filter(posts__isnull=True)] == ["Cy"]


async def test_many_to_many_and_nested_lookups(blog: Database) -> None:
    assert await titles(Post.objects.filter(tags__name="python")) == ["Async Python", "Python tips"]
    names = await User.objects.filter(posts__tags__name="sql").values_list("name", flat=True)
    assert names == ["Ann"]
    bodies = await Comment.objects.filter(post__author__name="Ann").count()
    assert bodies == 2


async def test_lookups_on_one_relation_match_the_same_row(blog: Database) -> None:
    # "python" is red, "sql" is blue: no single tag is both "sql" and red.
    assert await Post.objects.filter(tags__name="sql", tags__color="red").count() == 0
    assert await Post.objects.filter(tags__name="python", tags__color="red").count() == 2
    # Separate filter() calls may match different rows, as in Django.
    two_calls = Post.objects.filter(tags__name="sql").filter(tags__color="red")
    assert await two_calls.count() == 1


async def test_exclude_across_to_many_means_no_related_row_matches(blog: Database) -> None:
    rest = await User.objects.exclude(posts__title__icontains="python").order_by("name")
    assert [u.name for u in rest] == ["Cy"]
    got = await Post.objects.filter(~Q(tags__name="python")).values_list("title", flat=True)
    assert got == ["SQL joins"]


async def test_unknown_relation_lists_the_relationships(blog: Database) -> None:
    with pytest.raises(InvalidLookupError, match="Relationships: author, comments, tags"):
        Post.objects.filter(writer__name="x")
    with pytest.raises(InvalidLookupError, match="has no field 'nick'"):
        Post.objects.filter(author__nick="x")
    with pytest.raises(InvalidLookupError, match="Its relationships: author, comments, tags"):
        Post.objects.prefetch_related("autor")
    with pytest.raises(InvalidLookupError, match="to-many"):
        Post.objects.select_related("tags")


async def test_select_related_loads_to_one_and_survives_the_session(blog: Database) -> None:
    posts = await Post.objects.select_related("author").order_by("title")
    assert [p.author.name for p in posts] == ["Ann", "Bob", "Ann"]
    comments = await Comment.objects.select_related("post__author", "author").order_by("id")
    assert [(c.post.author.name, c.author.name) for c in comments] == [  # type: ignore[union-attr]
        ("Ann", "Bob"),
        ("Ann", "Ann"),
        ("Bob", "Ann"),
    ]


@contextmanager
def count_selects(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_prefetch_related_issues_one_query_per_level(blog: Database) -> None:
    ann = await User.objects.get(name="Ann")
    tag = await Tag.objects.get(name="python")
    async with blog.session() as session:
        python = await Tag.objects.get(id=tag.id)
        extra = [Post(author_id=ann.id, title=f"Post {i}", views=i) for i in range(100)]
        session.add_all(extra)
        for post in extra:
            post.tags = [python]
        await session.flush()
        for post in extra[:50]:
            await Comment.objects.create(post_id=post.id, author_id=ann.id)
    with count_selects(blog) as selects:
        posts = await Post.objects.prefetch_related("tags", "comments__author").order_by("id")
    assert len(posts) == 103
    assert len(selects) == 4  # posts, tags, comments, comment authors
    assert sum(len(p.comments) for p in posts) == 53
    assert all(c.author is not None and c.author.name for p in posts for c in p.comments)
    assert {t.name for p in posts for t in p.tags} == {"python", "sql"}


async def test_touching_an_unloaded_relation_raises_a_clear_error(blog: Database) -> None:
    post = await Post.objects.get(title="SQL joins")
    with pytest.raises(RelationNotLoadedError) as info:
        _ = post.tags
    message = str(info.value)
    # To-many: select_related() follows only to-one relations, so it is not suggested.
    for part in ("Post.tags", ".prefetch_related('tags')", ".fetch_related('tags')"):
        assert part in message
    assert "select_related" not in message
    with pytest.raises(RelationNotLoadedError) as info:
        _ = post.author
    message = str(info.value)
    for part in ("Post.author", ".select_related('author')", ".fetch_related('author')"):
        assert part in message
    async with blog.session():
        inside = await Post.objects.get(title="SQL joins")
        with pytest.raises(RelationNotLoadedError, match=r"Post\.author"):
            _ = inside.author


def test_not_connected_messages_point_at_what_exists() -> None:
    with pytest.raises(DatabaseUnavailableError) as info:
        get_database("nowhere")
    message = str(info.value)
    assert "No database named 'nowhere' is connected" in message
    assert "await Database(url).connect()" in message and "init_database()" in message
    assert "lifespan" not in message


async def test_fetch_related_on_an_instance(blog: Database) -> None:
    ann = await User.objects.get(name="Ann")
    await ann.fetch_related("posts__tags", "posts__comments")
    assert sorted(p.title for p in ann.posts) == ["Async Python", "SQL joins"]
    assert {t.name for p in ann.posts for t in p.tags} == {"python", "sql"}
    assert sum(len(p.comments) for p in ann.posts) == 2


async def test_order_by_and_values_across_relations(blog: Database) -> None:
    posts = await Post.objects.order_by("author__name", "-views")
    assert [p.title for p in posts] == ["Async Python", "SQL joins", "Python tips"]
    rows = await Post.objects.order_by("-author__name", "title").values("title", "author__name")
    assert rows == [
        {"title": "Python tips", "author__name": "Bob"},
        {"title": "Async Python", "author__name": "Ann"},
        {"title": "SQL joins", "author__name": "Ann"},
    ]
    pairs = await Comment.objects.order_by("id").values_list("author__name", "post__author__name")
    assert pairs == [("Bob", "Ann"), ("Ann", "Ann"), ("Ann", "Bob")]  # two aliases of "user"
    # To-many values repeat the parent per related row, as Django's do.
    tagged = await Post.objects.filter(title="Async Python").values_list("tags__name", flat=True)
    assert sorted(tagged) == ["python", "sql"]
    assert await Post.objects.values("tags__name").count() == 4


async def test_annotate_with_aggregates_across_relations(blog: Database) -> None:
    users = await User.objects.annotate(n_posts=Count("posts"), views=Sum("posts__views")).order_by(
        "-n_posts", "name"
    )
    assert [(u.name, u.n_posts, u.views) for u in users] == [  # type: ignore[attr-defined]
        ("Ann", 2, 13),
        ("Bob", 1, 7),
        ("Cy", 0, None),
    ]
    busy = User.objects.annotate(n_posts=Count("posts")).filter(n_posts__gte=1)
    assert sorted(await busy.values_list("name", flat=True)) == ["Ann", "Bob"]
    assert await busy.count() == 2
    # Two to-many aggregates never multiply each other (one subquery each).
    posts = await Post.objects.annotate(
        n_tags=Count("tags"), n_comments=Count("comments")
    ).order_by("title")
    assert [(p.n_tags, p.n_comments) for p in posts] == [(2, 2), (1, 1), (1, 0)]  # type: ignore[attr-defined]
    nested = await User.objects.annotate(n=Count("posts__comments")).order_by("name")
    assert [u.n for u in nested] == [2, 1, 0]  # type: ignore[attr-defined]


async def test_aggregate_across_relations(blog: Database) -> None:
    got = await User.objects.filter(name="Ann").aggregate(
        posts=Count("posts"), avg_views=Avg("posts__views"), top=Max("posts__views")
    )
    assert got == {"posts": 2, "avg_views": pytest.approx(6.5), "top": 10}
    assert await Post.objects.aggregate(tags=Count("tags", distinct=True)) == {"tags": 2}


async def test_values_annotate_groups_rows(blog: Database) -> None:
    rows = await Post.objects.values("author__name").annotate(n=Count("id"), total=Sum("views"))
    assert sorted(rows, key=lambda r: r["author__name"]) == [
        {"author__name": "Ann", "n": 2, "total": 13},
        {"author__name": "Bob", "n": 1, "total": 7},
    ]
    having = Post.objects.values("author_id").annotate(n=Count("id")).filter(n__gt=1)
    assert len(await having) == 1
    by_tag = await Post.objects.values("tags__name").annotate(n=Count("id")).order_by("tags__name")
    assert by_tag == [
        {"tags__name": "python", "n": 2},
        {"tags__name": "sql", "n": 2},
    ]


async def test_relationships_declared_eager_load_outside_a_session(db: Database) -> None:
    shelf = await Shelf.objects.create()
    await ShelfBook.objects.create(shelf_id=shelf.id)
    loaded = await Shelf.objects.get(id=shelf.id)
    assert len(loaded.books) == 1  # lazy="selectin" ran, though no session was open
    assert [len(s.books) async for s in Shelf.objects.all()] == [1]


async def test_aggregate_filters_and_q_on_annotations(blog: Database) -> None:
    users = await User.objects.annotate(
        popular=Count("posts", filter=Q(posts__views__gte=7)),
        views_of_popular=Sum("posts__views", filter=Q(posts__views__gte=7)),
    ).order_by("name")
    assert [(u.name, u.popular, u.views_of_popular) for u in users] == [  # type: ignore[attr-defined]
        ("Ann", 1, 10),
        ("Bob", 1, 7),
        ("Cy", 0, None),
    ]
    got = await Post.objects.aggregate(red=Count("tags", filter=Q(tags__color="red")))
    assert got == {"red": 2}
    either = User.objects.annotate(n=Count("posts")).filter(Q(n__gte=2) | Q(name="Cy"))
    assert sorted(await either.values_list("name", flat=True)) == ["Ann", "Cy"]
    grouped = Post.objects.values("author_id").annotate(n=Count("id")).filter(Q(n__gte=2))
    assert [row["n"] for row in await grouped] == [2]
