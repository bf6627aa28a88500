"""Static typing checks for repositories of models and of entities (mypy --strict); never
executed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import assert_type

from pydantic import BaseModel, ConfigDict
from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model, QuerySet, Repository


class Member(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255))


class MemberEntity(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str


class MemberCreate(BaseModel):
    email: str


class MemberUpdate(BaseModel):
    email: str | None = None


@asynccontextmanager
async def get_db_session() -> AsyncIterator[AsyncSession]:
    yield AsyncSession()


class MemberRepository(Repository[Member, MemberEntity]):
    def __init__(self, db: Database) -> None:
        super().__init__(Member, db.sessionmaker, schema=MemberEntity)


async def check_model_repositories(db: Database, session: AsyncSession) -> None:
    # Without a schema the second parameter defaults to the model.
    assert_type(Repository(Member), Repository[Member, Member])
    assert_type(Repository(Member, session), Repository[Member])
    assert_type(Repository(Member, db.sessionmaker), Repository[Member, Member])
    assert_type(Repository(Member, async_sessionmaker(db.engine)), Repository[Member])
    assert_type(Repository(Member, get_db_session), Repository[Member])
    repo = Repository(Member, db.sessionmaker)
    assert_type(await repo.get(1), Member | None)
    assert_type(await repo.create(MemberCreate(email="a@x.io")), Member)
    assert_type(await repo.update(1, MemberUpdate()), Member | None)
    async with repo.transaction() as qs:
        assert_type(qs, QuerySet[Member, Member])
    Repository(Member, 42)  # type: ignore[call-overload]


async def check_entity_repositories(db: Database) -> None:
    repo = Repository(Member, db.sessionmaker, schema=MemberEntity)
    assert_type(repo, Repository[Member, MemberEntity])
    assert_type(Repository(Member, schema=MemberEntity), Repository[Member, MemberEntity])
    assert_type(await repo.get(1), MemberEntity | None)
    assert_type(await repo.get_or_raise(1), MemberEntity)
    assert_type(await repo.get_by(email="a@x.io"), MemberEntity | None)
    assert_type(await repo.get_by_or_raise(email="a@x.io"), MemberEntity)
    assert_type(await repo.get_all(), list[MemberEntity])
    assert_type(await repo.filter(email="a@x.io"), list[MemberEntity])
    assert_type(await repo.create(MemberCreate(email="a@x.io")), MemberEntity)
    assert_type(await repo.create(email="a@x.io"), MemberEntity)
    assert_type(await repo.create_many([MemberCreate(email="a@x.io")]), list[MemberEntity])
    assert_type(await repo.update(1, MemberUpdate(email="b@x.io")), MemberEntity | None)
    assert_type(await repo.count(), int)
    assert_type(await repo.delete(1), bool)
    assert_type(repo.to_entity(Member(email="a@x.io")), MemberEntity)
    assert_type(await MemberRepository(db).get_all(), list[MemberEntity])


async def check_the_seeds_keyword(db: Database, session: AsyncSession) -> None:
    assert_type(Repository(model=Member, session=db.sessionmaker), Repository[Member])
    assert_type(Repository(Member, session=session), Repository[Member, Member])
    assert_type(
        Repository(Member, session=session, schema=MemberEntity), Repository[Member, MemberEntity]
    )
