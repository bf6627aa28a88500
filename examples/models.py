"""Models: declaring them, table names, the naming convention and the instance API."""

import asyncio
from datetime import date

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model, NotFoundError, ValidationError


# --8<-- [start:declare]
class Author(Model):  # __tablename__ == "author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    born: Mapped[date | None]  # nullable because of "| None"
    is_active: Mapped[bool] = mapped_column(default=True)


# --8<-- [end:declare]


# --8<-- [start:abstract]
class CatalogEntry(Model):
    """Shared columns; abstract, so it has no table of its own."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))


class Book(CatalogEntry):  # __tablename__ == "book"
    __table_args__ = (
        CheckConstraint("pages > 0", name="pages_positive"),
        UniqueConstraint("title", "edition"),
    )

    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    edition: Mapped[int] = mapped_column(default=1)
    pages: Mapped[int]


class ISBNRecord(Model):  # acronyms are kept together: __tablename__ == "isbn_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    isbn: Mapped[str] = mapped_column(String(17), index=True)


class ShelfLocation(Model):
    __tablename__ = "shelf_locations"  # an explicit name always wins

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(10))


# --8<-- [end:abstract]


async def main() -> None:
    async with Database() as db:
        await db.reset()

        # --8<-- [start:tables]
        for model in (Author, Book, ISBNRecord, ShelfLocation):
            print(f"{model.__name__:<13} -> table {model.__tablename__!r}")
        names = sorted(c.name for c in Book.__table__.constraints if c.name)
        names += sorted(i.name for i in ISBNRecord.__table__.indexes if i.name)
        print(f"constraint names: {names}")
        # --8<-- [end:tables]

        # --8<-- [start:instance]
        ann = await Author.objects.create(name="Ann", email="ann@example.com")
        print(f"repr:         {ann!r}")
        print(f"pk:           {ann.pk}")
        print(f"to_dict:      {ann.to_dict(exclude={'born', 'is_active'})}")

        ann.update(name="Ann Smith", born=date(1980, 5, 17))  # sets attributes, no I/O
        await ann.save()  # writes the changed columns
        print(f"after save:   {await Author.objects.values_list('name', flat=True)}")

        await Author.objects.filter(id=ann.id).update(is_active=False)  # changes the row only
        await ann.refresh_from_db()  # reloads the columns from the database
        print(f"refreshed:    is_active={ann.is_active}")
        # --8<-- [end:instance]

        # --8<-- [start:new]
        bob = Author(name="Bob", email="bob@example.com")  # a plain, unsaved instance
        await bob.save()  # INSERT; the generated id is filled in
        book = await Book.objects.create(title="Async Tales", author_id=bob.id, pages=320)
        print(f"book:         {book!r}")
        # --8<-- [end:new]

        # --8<-- [start:errors]
        try:
            bob.update(nickname="B")
        except ValidationError as exc:
            print(f"update():     {exc}")
        try:
            await Author.objects.get(email="nobody@example.com")
        except Author.DoesNotExist as exc:  # a subclass of NotFoundError
            print(f"DoesNotExist: {exc} (NotFoundError: {isinstance(exc, NotFoundError)})")
        # --8<-- [end:errors]

        # --8<-- [start:delete]
        print(f"deleted rows: {await book.delete()}")
        print(f"books left:   {await Book.objects.count()}")
        # --8<-- [end:delete]


if __name__ == "__main__":
    asyncio.run(main())
