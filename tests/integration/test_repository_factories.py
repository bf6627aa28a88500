"""Repository over a session factory (seed 004), and repositories of pydantic entities.

Each call on a factory repository opens its own session, commits and closes it; what it
returns is loaded and detached; a failure rolls the call back; no connection stays
checked out. With ``schema=`` the methods return entities and take pydantic payloads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orm_kit import ConflictError, Database, NotFoundError, Repository, ValidationError
from tests.models import Invoice, User


class UserEntity(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    is_active: bool


class UserCreate(BaseModel):
    email: str
    name: str = ""


class UserUpdate(BaseModel):
    name: str | None = None
    is_active: bool | None = None


class InvoiceEntity(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: str
    amount: int
    is_deleted: bool


async def emails(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text('SELECT email FROM "user" ORDER BY email'))
        return list(rows.scalars())


def checked_out(engine: AsyncEngine) -> int:
    count: int = engine.pool.checkedout()  # type: ignore[attr-defined]
    return count


KINDS = ["db.sessionmaker", "expire_on_commit", "context manager", "async function"]


@pytest.fixture(params=KINDS)
def factory(request: pytest.FixtureRequest, db: Database) -> Callable[[], Any]:
    """A session factory of each kind a repository takes."""
    if request.param == "db.sessionmaker":
        return db.sessionmaker
    expiring = async_sessionmaker(db.engine, expire_on_commit=True)
    if request.param == "expire_on_commit":
        return expiring
    if request.param == "context manager":

        @asynccontextmanager
        async def get_db_session() -> AsyncIterator[AsyncSession]:  # seed 004's shape
            async with expiring() as session:
                try:
                    yield session
                except Exception:
                    await session.rollback()
                    raise

        return get_db_session

    async def open_session() -> AsyncSession:
        return expiring()

    return open_session


async def test_each_call_commits_and_returns_detached_loaded_instances(
    db: Database, factory: Callable[[], Any]
) -> None:
    users = Repository(User, factory)
    ann = await users.create(email="ann@x.io", name="Ann")
    assert sa_inspect(ann).detached
    assert (ann.id, ann.email, ann.is_active) == (ann.id, "ann@x.io", True)
    assert await emails(db) == ["ann@x.io"]  # committed: seen from another connection
    assert checked_out(db.engine) == 0

    bob, cy = await users.create_many([{"email": "bob@x.io"}, UserCreate(email="cy@x.io")])
    assert bob.id and cy.id and cy.name == ""
    found = await users.get(ann.id)
    assert found is not None and found.name == "Ann" and sa_inspect(found).detached
    assert (await users.get_or_raise(bob.id)).email == "bob@x.io"
    assert (await users.get_by(email="cy@x.io")) is not None
    assert (await users.get_by_or_raise(email="cy@x.io")).id == cy.id
    assert [u.email for u in await users.get_all(limit=2)] == ["ann@x.io", "bob@x.io"]
    assert [u.email for u in await users.filter(email__endswith="x.io", skip=2)] == ["cy@x.io"]
    assert await users.count() == 3 and await users.exists(email="bob@x.io")

    renamed = await users.update(ann.id, name="Anne")
    assert renamed is not None and renamed.name == "Anne" and renamed.email == "ann@x.io"
    assert await users.update(424242, name="nobody") is None
    assert await users.update_many(filters={"email": "bob@x.io"}, name="Bob") == 1
    assert await users.delete(cy.id) is True and await users.delete(cy.id) is False
    assert await users.delete_many(email="bob@x.io") == 1
    result = await users.execute(select(User).order_by(User.id))
    assert [u.name for u in result.scalars()] == ["Anne"]
    changed = await users.execute(update(User).values(score=5))
    assert changed.rowcount == 1  # type: ignore[attr-defined]
    assert (await User.objects.get(id=ann.id)).score == 5
    assert checked_out(db.engine) == 0


async def test_generated_values_survive_expire_on_commit(db: Database) -> None:
    invoices = Repository(Invoice, async_sessionmaker(db.engine, expire_on_commit=True))
    invoice = await invoices.create(number="A-1", amount=10)
    assert invoice.id is not None and invoice.created_at is not None
    updated = await invoices.update(invoice.id, amount=20)
    assert updated is not None and updated.amount == 20
    assert updated.updated_at >= invoice.updated_at
    # A SQL expression is computed by the database: the flush expires the attribute, and
    # the repository loads it again before the session goes.
    users = Repository(User, async_sessionmaker(db.engine, expire_on_commit=True))
    ann = await users.create(email="ann@x.io", score=1)
    bumped = await users.update(ann.id, score=User.score + 1)
    assert bumped is not None and bumped.score == 2


async def test_a_conflict_rolls_the_call_back_and_closes_the_session(
    db: Database, factory: Callable[[], Any]
) -> None:
    users = Repository(User, factory)
    await users.create(email="dup@x.io")
    with pytest.raises(ConflictError):
        await users.create(email="dup@x.io")
    assert checked_out(db.engine) == 0
    with pytest.raises(ConflictError):
        async with users.transaction() as qs:
            await qs.create(email="new@x.io")
            await qs.create(email="dup@x.io")
    assert checked_out(db.engine) == 0
    assert await emails(db) == ["dup@x.io"]  # the transaction's first insert rolled back
    assert await users.count() == 1  # and the repository goes on working


async def test_transaction_runs_several_queries_in_one_session(
    db: Database, factory: Callable[[], Any]
) -> None:
    users = Repository(User, factory)
    async with users.transaction() as qs:
        ann = await qs.create(email="ann@x.io")
        await qs.filter(pk=ann.id).update(name="Ann")
        assert await qs.count() == 1
    assert ann.email == "ann@x.io" and sa_inspect(ann).detached
    assert await emails(db) == ["ann@x.io"]
    with pytest.raises(RuntimeError):
        async with users.transaction() as qs:
            await qs.create(email="gone@x.io")
            raise RuntimeError("roll back")
    assert await emails(db) == ["ann@x.io"]
    assert checked_out(db.engine) == 0
    with pytest.raises(ValidationError, match=r"repo\.transaction"):
        users.query  # noqa: B018 - a factory repository has no session to bind


async def test_soft_delete_and_entities_through_a_factory(db: Database) -> None:
    invoices = Repository(Invoice, db.sessionmaker, schema=InvoiceEntity)
    created = await invoices.create(number="B-1", amount=3)
    assert created == InvoiceEntity(number="B-1", amount=3, is_deleted=False)
    row = await Invoice.objects.get(number="B-1")
    assert await invoices.delete(row.id) is True
    assert await invoices.get(row.id) is None  # soft-deleted rows stay hidden
    assert await Invoice.all_objects.filter(number="B-1").exists()


@pytest.fixture(params=["factory", "session", "no session"])
async def entity_repo(
    request: pytest.FixtureRequest, db: Database
) -> AsyncIterator[Repository[User, UserEntity]]:
    """A repository of ``UserEntity`` on each kind of session source."""
    if request.param == "factory":
        yield Repository(User, db.sessionmaker, schema=UserEntity)
    elif request.param == "session":
        async with db.session() as session:
            yield Repository(User, session, schema=UserEntity)
    else:
        yield Repository(User, schema=UserEntity)


async def test_entities_out_and_payloads_in(
    db: Database, entity_repo: Repository[User, UserEntity]
) -> None:
    users = entity_repo
    ann = await users.create(UserCreate(email="ann@x.io", name="Ann"))
    assert type(ann) is UserEntity
    assert ann == UserEntity(id=ann.id, email="ann@x.io", name="Ann", is_active=True)
    bob = await users.create({"email": "bob@x.io"}, name="Bob")  # a mapping, plus values
    assert bob.name == "Bob"
    assert await users.get(ann.id) == ann
    assert await users.get(424242) is None
    assert await users.get_or_raise(ann.id) == ann
    assert await users.get_by(email="bob@x.io") == bob
    assert await users.get_by_or_raise(name="Bob") == bob
    assert await users.get_all() == [ann, bob]
    assert await users.filter(name="Ann") == [ann]
    assert [type(u) for u in await users.create_many([UserCreate(email="cy@x.io")])] == [UserEntity]

    # Only the fields the update payload has set are applied: is_active is left alone.
    renamed = await users.update(ann.id, UserUpdate(name="Anne"))
    assert renamed == UserEntity(id=ann.id, email="ann@x.io", name="Anne", is_active=True)
    paused = await users.update(bob.id, UserUpdate(is_active=False))
    assert paused is not None and (paused.name, paused.is_active) == ("Bob", False)
    assert await users.update(424242, UserUpdate(name="x")) is None
    with pytest.raises(NotFoundError):
        await users.get_or_raise(424242)


async def test_bad_arguments_raise_validation_errors(db: Database) -> None:
    with pytest.raises(ValidationError, match="session factory"):
        Repository(User, db.session())  # type: ignore[call-overload]
    with pytest.raises(ValidationError, match="pydantic model class"):
        Repository(User, schema=dict)
    with pytest.raises(ValidationError, match="returned int"):
        await Repository(User, lambda: 1).count()  # type: ignore[call-overload]
    users = Repository(User, db.sessionmaker)
    with pytest.raises(ValidationError, match="pydantic model or a mapping"):
        await users.create(["email"])  # type: ignore[arg-type]

    class Wrong(BaseModel):
        model_config = ConfigDict(from_attributes=True)
        nickname: str

    await User.objects.create(email="a@x.io")
    wrong = Repository(User, db.sessionmaker, schema=Wrong)
    with pytest.raises(ValidationError, match=r"Wrong could not be built from a User.*nickname"):
        await wrong.get_by(email="a@x.io")
    assert checked_out(db.engine) == 0


class UserRepository(Repository[User, UserEntity]):
    """Seed 004's shape: the repository takes a session factory from a DI container."""

    def __init__(self, session_factory: Callable[[], AsyncSession]) -> None:
        super().__init__(User, session_factory, schema=UserEntity)

    async def active_emails(self) -> list[str]:
        async with self.transaction() as qs:
            rows = await qs.filter(is_active=True).order_by("email")
        return [self.to_entity(row).email for row in rows]


async def test_a_domain_repository_over_a_factory(db: Database) -> None:
    users = UserRepository(db.sessionmaker)
    await users.create(UserCreate(email="b@x.io"))
    a = await users.create(UserCreate(email="a@x.io"))
    await users.update(a.id, UserUpdate(is_active=False))
    await users.create(UserCreate(email="c@x.io"))
    assert await users.active_emails() == ["b@x.io", "c@x.io"]


class SeedStyleRepository(Repository[User, UserEntity]):
    """Seed 004's spelling, keywords included."""

    def __init__(self, session_factory: Callable[[], AsyncSession]) -> None:
        super().__init__(session=session_factory, model=User, schema=UserEntity)


async def test_the_seeds_session_keyword(db: Database) -> None:
    users = SeedStyleRepository(async_sessionmaker(db.engine, expire_on_commit=True))
    ann = await users.create(UserCreate(email="ann@x.io", name="Ann"))
    assert await users.get(ann.id) == ann
    async with db.session() as session:
        assert await Repository(User, session=session).count() == 1
    with pytest.raises(ValidationError, match="pass one of them"):
        Repository(User, db.sessionmaker, session=db.sessionmaker)
