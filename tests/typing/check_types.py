"""Static typing checks, run by `make typecheck` (mypy --strict); never executed."""

from __future__ import annotations

from typing import Any, assert_type

from sqlalchemy import String
from sqlalchemy.engine import Row
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Manager, Model, Page, QuerySet, Repository


class Author(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


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
