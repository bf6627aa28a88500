"""orm_kit.testing's count_queries / assert_num_queries: an N+1 loop against prefetch_related."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orm_kit import Database, Model, transaction
from orm_kit.testing import assert_num_queries, count_queries, rolled_back
from tests.models import Post, Tag, User

POSTS = 4


async def make_blog() -> None:
    ann = await User.objects.create(email="ann@x.io", name="Ann")
    python = await Tag.objects.create(name="python")
    sql = await Tag.objects.create(name="sql")
    async with transaction() as session:
        for i in range(POSTS):
            post = Post(author_id=ann.id, title=f"Post {i}")
            post.tags = [python] if i % 2 else [python, sql]
            session.add(post)


@pytest.fixture(params=["emptied", "rolled_back"])
async def any_db(request: pytest.FixtureRequest, connected: Database) -> AsyncIterator[Database]:
    """Both ways the suite isolates tests: the counts must not depend on which (the
    rolled-back connection's SAVEPOINTs are not counted)."""
    if request.param == "rolled_back":
        async with rolled_back(connected):
            yield connected
        return
    yield connected
    async with connected.engine.begin() as conn:
        for table in reversed(Model.metadata.sorted_tables):
            await conn.execute(table.delete())


async def test_a_loop_of_fetches_is_n_plus_one_and_prefetch_is_two(any_db: Database) -> None:
    await make_blog()
    with count_queries() as lazy:
        posts = await Post.objects.order_by("id")
        names = [
            sorted(await Tag.objects.filter(posts__id=p.id).values_list("name", flat=True))
            for p in posts
        ]
    assert lazy.count == 1 + POSTS  # the N+1 pattern
    assert all(sql.lstrip().upper().startswith("SELECT") for sql in lazy.statements)

    with assert_num_queries(2) as prefetched:  # the posts, then all their tags at once
        posts = await Post.objects.prefetch_related("tags").order_by("id")
        assert [sorted(t.name for t in p.tags) for p in posts] == names
    assert len(prefetched) == 2
    assert "post_tag" in prefetched.statements[1]


async def test_a_wrong_count_fails_listing_the_statements(any_db: Database) -> None:
    with pytest.raises(AssertionError) as caught, assert_num_queries(1):
        await User.objects.create(email="secret-value@x.io")
        await User.objects.filter(email="secret-value@x.io").count()
    message = str(caught.value)
    assert message.startswith("Expected 1 query, 2 ran:")
    assert "1. INSERT INTO" in message and "2. SELECT count(" in message
    assert "secret-value" not in message  # the SQL, never the bound values


async def test_writes_in_a_transaction_count_without_begin_or_commit(any_db: Database) -> None:
    with count_queries() as counted:
        async with any_db.transaction():
            await User.objects.create(email="a@x.io")
            async with any_db.transaction():  # a SAVEPOINT: not counted
                await User.objects.create(email="b@x.io")
    assert counted.count == 2
    assert all(sql.lstrip().upper().startswith("INSERT") for sql in counted.statements)


async def test_counts_only_this_task_and_the_tasks_it_starts(db: Database) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def elsewhere() -> None:  # started before the block: not counted
        started.set()
        await release.wait()
        await User.objects.count()

    other = asyncio.create_task(elsewhere())
    await started.wait()
    with count_queries() as counted:
        release.set()
        await other
        await asyncio.gather(User.objects.count(), Post.objects.count())  # child tasks
    assert counted.count == 2
    with count_queries() as outer:
        await User.objects.count()
        with count_queries() as inner:
            await Post.objects.count()
    assert (outer.count, inner.count) == (2, 1)
