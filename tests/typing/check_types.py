"""Static typing checks, run by `make typecheck` (mypy --strict); never executed."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, assert_type

from sqlalchemy import ForeignKey, String
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_kit import Database, Manager, Model, Page, QuerySet, Repository, transaction
from orm_kit.query.related import RelatedManager


class Author(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    books: Mapped[list[Book]] = relationship(back_populates="author")


class Book(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    author: Mapped[Author] = relationship(back_populates="books")


async def check_manager_types() -> None:
    assert_type(Author.objects, Manager[Author])
    assert_type(await Author.objects.get(id=1), Author)
    assert_type(await Author.objects.filter(name="x"), list[Author])
    assert_type(Author.objects.filter(name="x").order_by("-id")[:10], QuerySet[Author, Author])
    assert_type(await Author.objects.first(), Author | None)
    assert_type(await Author.objects.create(name="x"), Author)
    assert_type(await Author.objects.count(), int)
    assert_type(await Author.objects.exists(), bool)
    assert_type(await Author.objects.values("name"), list[dict[str, Any]])
    assert_type(await Author.objects.values_list("name"), list[tuple[Any, ...]])
    assert_type(await Author.objects.values_list("name", named=True), list[Row[Any]])
    assert_type(await Author.objects.get_or_create(name="x"), tuple[Author, bool])
    assert_type(await Author.objects.paginate(page=1, size=10), Page[Author])
    assert_type(await Author.objects.in_bulk([1]), dict[Any, Author])
    async for author in Author.objects.all():
        assert_type(author, Author)


async def check_repository_types() -> None:
    repo = Repository(Author)
    assert_type(await repo.get(1), Author | None)
    assert_type(await repo.get_or_raise(1), Author)
    assert_type(await repo.filter(name="x"), list[Author])
    assert_type(await repo.delete(1), bool)
    assert_type(await repo.get_by(name="x"), Author | None)
    assert_type(await repo.get_all(limit=5), list[Author])
    assert_type(await repo.create(name="x"), Author)
    assert_type(await repo.create_many([{"name": "x"}]), list[Author])
    assert_type(await repo.update(1, name="y"), Author | None)
    assert_type(await repo.count(), int)
    assert_type(repo.query.filter(name="x"), QuerySet[Author])


async def check_session_and_transaction_types(db: Database, session: AsyncSession) -> None:
    assert_type(transaction(), AbstractAsyncContextManager[AsyncSession])
    assert_type(transaction(session), AbstractAsyncContextManager[AsyncSession])
    assert_type(db.transaction(), AbstractAsyncContextManager[AsyncSession])
    async with transaction() as tx:
        assert_type(tx, AsyncSession)
    async with db.transaction() as tx:
        assert_type(tx, AsyncSession)
    async with db.session() as s:
        assert_type(s, AsyncSession)


async def check_related_manager_types(author: Author, book: Book) -> None:
    # A relationship named by a string has no static target type ...
    assert_type(author.related("books"), RelatedManager[Any])
    # ... so annotate the manager to get one.
    books: RelatedManager[Book] = author.related("books")
    assert_type(books.all(), QuerySet[Book])
    assert_type(await books.all().order_by("id"), list[Book])
    await books.add(book)
