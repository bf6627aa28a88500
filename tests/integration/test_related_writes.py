"""Writing relationships: create with related objects, related() add/remove/set/clear,
and ON DELETE behaviour."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from orm_kit import ConflictError, Database, InvalidLookupError
from tests.models import Comment, Post, Tag, User


async def link_rows(db: Database) -> list[tuple[int, int]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT post_id, tag_id FROM post_tag ORDER BY tag_id"))
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_create_with_a_related_instance_or_its_id(db: Database) -> None:
    ann = await User.objects.create(email="ann@x.io", name="Ann")
    by_object = await Post.objects.create(author=ann, title="one")
    by_id = await Post.objects.create(author_id=ann.id, title="two")
    assert by_object.author_id == ann.id
    assert await Post.objects.filter(author__name="Ann").count() == 2
    assert by_id.id != by_object.id


async def test_many_to_many_add_remove_set_clear(db: Database) -> None:
    ann = await User.objects.create(email="ann@x.io")
    post = await Post.objects.create(author_id=ann.id, title="t")
    python, sql, rust = [await Tag.objects.create(name=n) for n in ("python", "sql", "rust")]
    tags = post.related("tags")
    await tags.add(python, sql)
    await tags.add(python)  # already linked: left alone
    assert await link_rows(db) == [(post.id, python.id), (post.id, sql.id)]
    assert sorted(await tags.all().values_list("name", flat=True)) == ["python", "sql"]
    await tags.remove(sql)
    assert await link_rows(db) == [(post.id, python.id)]
    await tags.set([sql, rust])
    assert await link_rows(db) == [(post.id, sql.id), (post.id, rust.id)]
    await tags.clear()
    assert await link_rows(db) == []
    assert await Tag.objects.count() == 3  # only links go, never the tags


async def test_related_writes_keep_a_loaded_collection_in_step(db: Database) -> None:
    ann = await User.objects.create(email="ann@x.io")
    post = await Post.objects.create(author_id=ann.id, title="t")
    python, sql = [await Tag.objects.create(name=n) for n in ("python", "sql")]
    await post.fetch_related("tags")
    assert post.tags == []
    await post.related("tags").add(python, sql)
    assert [t.name for t in post.tags] == ["python", "sql"]
    await post.related("tags").remove(python)
    assert [t.name for t in post.tags] == ["sql"]


async def test_one_to_many_add_and_remove_move_foreign_keys(db: Database) -> None:
    ann = await User.objects.create(email="ann@x.io")
    bob = await User.objects.create(email="bob@x.io")
    post = await Post.objects.create(author_id=ann.id, title="t")
    c1 = await Comment.objects.create(post_id=post.id, author_id=ann.id)
    c2 = await Comment.objects.create(post_id=post.id, author_id=ann.id)
    await bob.related("posts").add(post)
    assert (await Post.objects.get(id=post.id)).author_id == bob.id
    assert await ann.related("posts").all().count() == 0
    assert {c.id for c in await Comment.objects.filter(author=ann)} == {c1.id, c2.id}


async def test_related_rejects_wrong_names_and_types(db: Database) -> None:
    ann = await User.objects.create(email="ann@x.io")
    post = await Post.objects.create(author_id=ann.id, title="t")
    with pytest.raises(InvalidLookupError, match="To-many relationships: comments, tags"):
        post.related("author")
    with pytest.raises(Exception, match="holds Tag objects"):
        await post.related("tags").add(ann)


async def test_on_delete_cascade_and_restrict(db: Database) -> None:
    ann = await User.objects.create(email="ann@x.io")
    post = await Post.objects.create(author_id=ann.id, title="t")
    tag = await Tag.objects.create(name="python")
    await post.related("tags").add(tag)
    await Comment.objects.create(post_id=post.id, author_id=ann.id)
    with pytest.raises(ConflictError) as info:
        await ann.delete()  # post.author_id is ON DELETE RESTRICT
    assert info.value.kind == "foreign_key"
    assert await User.objects.count() == 1
    assert await post.delete() == 1  # comments and links are ON DELETE CASCADE
    assert await Comment.objects.count() == 0
    assert await link_rows(db) == []
    assert await Tag.objects.count() == 1
