"""Posts: CRUD with tags, soft delete, keyset pages and the filter allow-list."""

from __future__ import annotations

import httpx

from app.models import Post, User
from tests.factories import PostFactory, UserFactory


async def test_write_a_post_and_tag_it(client: httpx.AsyncClient) -> None:
    author = await UserFactory.create_async()
    created = await client.post(
        "/posts", json={"author_id": author.id, "title": "Hello"}, headers={"x-user": "ann"}
    )
    assert created.status_code == 201
    post = created.json()
    assert (post["body"], post["published"], post["tags"]) == ("", False, [])  # defaults
    assert post["created_by"] == "ann"

    tagged = await client.put(f"/posts/{post['id']}/tags", json=["intro", "news", "intro"])
    assert tagged.status_code == 200
    assert sorted(t["name"] for t in tagged.json()["tags"]) == ["intro", "news"]
    news = next(t for t in tagged.json()["tags"] if t["name"] == "news")
    retagged = await client.put(f"/posts/{post['id']}/tags", json=["news"])
    assert retagged.json()["tags"] == [news]  # the same tag row, not a new one

    updated = await client.patch(
        f"/posts/{post['id']}", json={"published": True}, headers={"x-user": "bob"}
    )
    assert updated.status_code == 200
    body = updated.json()
    assert (body["title"], body["published"], body["updated_by"]) == ("Hello", True, "bob")
    assert [t["name"] for t in body["tags"]] == ["news"]
    assert (await client.get(f"/posts/{post['id']}")).json() == body


async def test_a_post_of_no_author_is_409(client: httpx.AsyncClient) -> None:
    response = await client.post("/posts", json={"author_id": 999, "title": "Orphan"})
    assert response.status_code == 409
    assert response.json()["kind"] == "foreign_key"


async def test_bad_post_payloads_are_422(client: httpx.AsyncClient) -> None:
    author = await UserFactory.create_async()
    long_title = await client.post("/posts", json={"author_id": author.id, "title": "t" * 201})
    assert long_title.json()["detail"][0]["type"] == "string_too_long"
    assert (await client.post("/posts", json={"title": "No author"})).status_code == 422
    post = await PostFactory.create_async(author_id=author.id)
    bad_tag = await client.put(f"/posts/{post.id}/tags", json=["x" * 51])
    assert bad_tag.status_code == 422


# --8<-- [start:soft_delete]
async def test_deleting_a_post_hides_it_and_keeps_the_row(client: httpx.AsyncClient) -> None:
    author = await UserFactory.create_async()
    post = await PostFactory.create_async(author_id=author.id)
    assert (await client.delete(f"/posts/{post.id}")).status_code == 204

    assert (await client.get(f"/posts/{post.id}")).status_code == 404
    assert (await client.delete(f"/posts/{post.id}")).status_code == 404
    assert (await client.get("/posts")).json()["items"] == []
    kept = await Post.objects.with_deleted().get(id=post.id)
    assert kept.is_deleted


# --8<-- [end:soft_delete]


# --8<-- [start:keyset]
async def test_posts_come_in_keyset_pages_newest_first(client: httpx.AsyncClient) -> None:
    author = await UserFactory.create_async()
    posts = [await PostFactory.create_async(author_id=author.id) for _ in range(5)]
    seen: list[int] = []
    after = None
    for expected_size in (2, 2, 1):
        params = {"size": 2} | ({"after": after} if after else {})
        page = (await client.get("/posts", params=params)).json()
        assert len(page["items"]) == expected_size
        seen += [p["id"] for p in page["items"]]
        after = page["next_cursor"]
    assert after is None  # the last page
    assert seen == [p.id for p in reversed(posts)]
    assert (await client.get("/posts", params={"after": "not-a-cursor"})).status_code == 422


# --8<-- [end:keyset]


# --8<-- [start:filters]
async def test_posts_are_filtered_by_the_allowed_filters_only(client: httpx.AsyncClient) -> None:
    ann, bob = await UserFactory.create_batch_async(2)
    await client.post("/posts", json={"author_id": ann.id, "title": "SQL tips", "published": True})
    draft = (await client.post("/posts", json={"author_id": ann.id, "title": "sql draft"})).json()
    await client.post("/posts", json={"author_id": bob.id, "title": "Cooking", "published": True})
    await client.put(f"/posts/{draft['id']}/tags", json=["sql"])

    async def titles(**params: object) -> list[str]:
        response = await client.get("/posts", params=params)
        assert response.status_code == 200, response.text
        return sorted(p["title"] for p in response.json()["items"])

    assert await titles(title__icontains="SQL") == ["SQL tips", "sql draft"]
    assert await titles(author_id=ann.id, published=True) == ["SQL tips"]
    assert await titles(tag="sql") == ["sql draft"]
    assert await titles(created_at__gte="2000-01-01T00:00:00Z") == [
        "Cooking",
        "SQL tips",
        "sql draft",
    ]

    refused = await client.get("/posts", params={"body__icontains": "secret"})
    assert refused.status_code == 422
    assert "allowed filters" in refused.json()["detail"][0]["msg"]
    assert (await client.get("/posts", params={"title": "SQL tips"})).status_code == 422


# --8<-- [end:filters]


async def test_audit_fields_follow_the_acting_user(client: httpx.AsyncClient) -> None:
    author = await User.objects.create(email="ann@example.com", name="Ann")
    created = await client.post(
        "/posts", json={"author_id": author.id, "title": "Audit"}, headers={"x-user": "ann"}
    )
    post_id = created.json()["id"]
    await client.patch(f"/posts/{post_id}", json={"title": "Audited"}, headers={"x-user": "eve"})
    post = await Post.objects.get(id=post_id)
    assert (post.created_by, post.updated_by, post.title) == ("ann", "eve", "Audited")
