"""Repository: the seeds' method names on the same CRUD core as the manager."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.engine import CursorResult

from orm_kit import Database, NotFoundError, Repository, get_session
from tests.models import User


class UserRepository(Repository[User]):
    def __init__(self, session: object = None) -> None:
        super().__init__(User, session)  # type: ignore[arg-type]

    async def get_by_email(self, email: str) -> User | None:
        return await self.get_by(email=email)


async def test_repository_crud_with_explicit_session(db: Database) -> None:
    async with get_session() as session:
        repo = Repository(User, session)
        user = await repo.create(name="John Doe", email="john@example.com")
        assert user.id is not None
        assert (await repo.get(user.id)) is user  # same session, identity map
        many = await repo.create_many(
            [{"name": "Jane", "email": "jane@example.com"}, {"name": "Jim", "email": "j@x.io"}]
        )
        assert all(u.id for u in many)
        assert await repo.count() == 3
        assert await repo.count(name="Jane") == 1
        assert await repo.exists(email="john@example.com")
        assert (await repo.get_by(name="Jim")).email == "j@x.io"  # type: ignore[union-attr]
        assert [u.name for u in await repo.get_all(skip=1, limit=1)] == ["Jane"]
        assert [u.name for u in await repo.filter(name__startswith="J", skip=0, limit=2)] == [
            "John Doe",
            "Jane",
        ]
        updated = await repo.update(user.id, name="Jane Doe", is_active=False)
        assert updated is not None and updated.name == "Jane Doe"
        assert await repo.update(999999, name="nobody") is None
        assert await repo.update_many(filters={"is_active": False}, name="Inactive User") == 1
        assert await repo.delete(many[1].id) is True
        assert await repo.delete(many[1].id) is False
        result = await repo.execute(select(User.name).order_by(User.id))
        assert list(result.scalars()) == ["Inactive User", "Jane"]
        await repo.execute(update(User).where(User.name == "Jane").values(age=40))
    assert await User.objects.filter(age=40).count() == 1
    assert await User.objects.count() == 2


async def test_repository_raising_variants(db: Database) -> None:
    repo = Repository(User)
    with pytest.raises(NotFoundError):
        await repo.get_or_raise(424242)
    with pytest.raises(User.DoesNotExist):
        await repo.get_by_or_raise(email="nonexistent@example.com")
    user = await repo.create(email="a@x.io")
    assert (await repo.get_or_raise(user.id)).email == "a@x.io"
    assert await repo.delete_many(email="a@x.io") == 1


async def test_repository_subclass_and_execute_outside_session(db: Database) -> None:
    users = UserRepository()
    await users.create(email="ann@example.com", name="Ann")
    found = await users.get_by_email("ann@example.com")
    assert found is not None and found.name == "Ann"
    result = await users.execute(select(User.email))
    assert result.scalars().all() == ["ann@example.com"]


async def test_manager_offers_the_non_clashing_repository_methods(db: Database) -> None:
    created = await User.objects.create_many([{"email": "a@x.io"}, {"email": "b@x.io"}])
    assert await User.objects.get_by(email="a@x.io") is not None
    assert (await User.objects.get_or_raise(created[0].id)).email == "a@x.io"
    assert (await User.objects.get_by_or_raise(email="b@x.io")).id == created[1].id
    assert [u.email for u in await User.objects.get_all(limit=1)] == ["a@x.io"]
    assert await User.objects.update_many(filters={"email": "a@x.io"}, name="A") == 1
    assert await User.objects.delete_many(email="b@x.io") == 1
    assert await User.objects.count() == 1


async def test_execute_outside_a_session_commits_writes_and_returns_the_result(
    db: Database,
) -> None:
    # Each statement kind commits on its own: the checks read through the direct path,
    # on another connection, so they only see committed rows.
    repo = Repository(User)
    await repo.create(email="a@x.io", score=1)
    await repo.create(email="b@x.io", score=1)
    await repo.create(email="c@x.io", score=2)

    changed = await repo.execute(update(User).where(User.score == 1).values(age=40))
    assert cast(CursorResult[Any], changed).rowcount == 2
    assert await User.objects.filter(age=40).count() == 2

    renamed = await repo.execute(
        text('UPDATE "user" SET name = :name WHERE score = :score').bindparams(name="Two", score=2)
    )
    assert cast(CursorResult[Any], renamed).rowcount == 1
    assert (await User.objects.get(email="c@x.io")).name == "Two"

    inserted = await repo.execute(insert(User).values(email="d@x.io", score=3))
    assert cast(CursorResult[Any], inserted).rowcount == 1
    assert await User.objects.filter(email="d@x.io").exists()

    removed = await repo.execute(delete(User).where(User.score == 3))
    assert cast(CursorResult[Any], removed).rowcount == 1
    assert not await User.objects.filter(email="d@x.io").exists()

    # Statements that return rows come back buffered, readable after the session closed.
    returned = await repo.execute(insert(User).values(email="e@x.io").returning(User.email))
    assert returned.scalars().all() == ["e@x.io"]
    assert await User.objects.filter(email="e@x.io").exists()
    emails = await repo.execute(select(User.email).order_by(User.email))
    assert emails.scalars().all() == ["a@x.io", "b@x.io", "c@x.io", "e@x.io"]
    users = (await repo.execute(select(User).order_by(User.email))).scalars().all()
    assert [(u.email, u.age) for u in users[:2]] == [("a@x.io", 40), ("b@x.io", 40)]
