"""``orm-kit dumpdata`` / ``loaddata`` end to end, on every backend: rows come back equal,
column by column, and a bad fixture loads nothing and names the bad record.
"""

from __future__ import annotations

import json

from tests.integration.migration_project import Project

MODELS = """
import enum
import uuid
from datetime import date, timedelta
from sqlalchemy import JSON, Interval, LargeBinary
from orm_kit.mixins import AuditedModel, ReadOnlyMixin
from orm_kit.types import UTCDateTime


class Tier(enum.Enum):
    free = "free"
    gold = "gold"


class Author(AuditedModel):
    name: Mapped[str] = mapped_column(String(50))
    tier: Mapped[Tier] = mapped_column(default=Tier.free)


class Book(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("author.id"))
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    published: Mapped[date | None]
    printed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    meta: Mapped[dict[str, object] | None] = mapped_column(JSON)
    cover: Mapped[bytes | None] = mapped_column(LargeBinary)
    loan: Mapped[timedelta | None] = mapped_column(Interval)
    sequel_id: Mapped[int | None] = mapped_column(ForeignKey("book.id"))


class Genre(Model, ReadOnlyMixin):
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
"""

SEED = """
import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from orm_kit import Database, acting_as, allow_writes
from app.models import Author, Book, Genre, Tier

async def main():
    async with Database():
        with acting_as("seeder"):
            ann = await Author.objects.create(name="Ann", tier=Tier.gold)
            bob = await Author.objects.create(name="Bob")
        await bob.delete()  # soft-deleted rows are dumped too
        first = await Book.objects.create(
            author_id=ann.id, price=Decimal("12.50"), published=date(2020, 2, 29),
            printed_at=datetime(2020, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
            meta={"tags": ["a", "é"], "n": 1.5, "when": "2020-01-01"}, cover=b"\\x00\\xffpng",
            loan=timedelta(days=14, seconds=5, microseconds=7),
        )
        await Book.objects.create(author_id=ann.id, price=Decimal("0.99"), sequel_id=first.id)
        with allow_writes(Genre):
            await Genre.objects.create(code="sf")

asyncio.run(main())
"""

SHOW = """
import asyncio
from sqlalchemy import select
from orm_kit import Database, Model
from app.models import Author, Book, Genre

async def main():
    async with Database() as db:
        async with db.engine.connect() as conn:
            for model in (Author, Book, Genre):
                table = model.__table__
                rows = await conn.execute(select(table).order_by(*table.primary_key.columns))
                for row in rows:
                    print(table.name, repr(tuple(row)))

asyncio.run(main())
"""

AFTER_LOAD = """
import asyncio
from decimal import Decimal
from orm_kit import Database
from app.models import Author, Book

async def main():
    async with Database():
        ann = await Author.objects.get(name="Ann")
        book = await Book.objects.create(author_id=ann.id, price=Decimal("1"))
        print("new book id", book.id)

asyncio.run(main())
"""


def migrated(project: Project) -> None:
    project.models(MODELS)
    project.ok("init")
    project.ok("makemigrations", "-m", "library")
    project.ok("migrate")


def emptied(project: Project) -> None:
    project.ok("downgrade", "base")
    project.ok("migrate")


async def test_dump_then_load_into_an_empty_database_reproduces_every_row(
    project: Project,
) -> None:
    migrated(project)
    seeded = project.python(SEED)
    assert seeded.code == 0, seeded.err
    before = project.python(SHOW)
    assert before.code == 0, before.err
    assert len(before.out.splitlines()) == 5

    out = project.ok("dumpdata", "-o", "library.json")
    assert out == "Dumped 5 rows of 3 models to library.json.\n"
    records = json.loads((project.root / "library.json").read_text())
    models = [r["model"] for r in records]
    assert sorted(models) == ["app.models.Author"] * 2 + ["app.models.Book"] * 2 + [
        "app.models.Genre"
    ]
    # Foreign-key dependency order: the authors before the books that point at them.
    assert models.index("app.models.Book") > len(models) - 1 - models[::-1].index(
        "app.models.Author"
    )
    assert project.ok("dumpdata", "Genre") == (
        '[\n{"model": "app.models.Genre", "fields": {"code": "sf"}}\n]\n'
    )

    emptied(project)
    assert project.ok("loaddata", "library.json") == "Loaded 5 rows from 1 file.\n"
    after = project.python(SHOW)
    assert after.out == before.out  # every column of every row, compared as Python values
    created = project.python(AFTER_LOAD)  # PostgreSQL's key sequence moved past the rows
    assert created.code == 0, created.err
    assert created.out == "new book id 3\n"


async def test_a_bad_fixture_loads_nothing_and_names_the_record(project: Project) -> None:
    migrated(project)
    assert project.python(SEED).code == 0
    project.ok("dumpdata", "-o", "library.json")
    emptied(project)
    records = json.loads((project.root / "library.json").read_text())
    models = [r["model"] for r in records]

    def load(changed: list[dict[str, object]]) -> str:
        (project.root / "bad.json").write_text(json.dumps(changed))
        result = project.run("loaddata", "bad.json")
        assert result.code == 1
        assert result.err.count("\n") == 1, result.err
        assert project.python(SHOW).out == ""  # nothing was loaded
        return result.err.rstrip("\n")

    bad_value = json.loads(json.dumps(records))
    book = models.index("app.models.Book")
    bad_value[book]["fields"]["price"] = "twelve"
    assert load(bad_value) == (
        f"orm-kit: error: bad.json, record {book + 1} (app.models.Book): field 'price' holds "
        "'twelve', which does not fit the column (not a decimal number)."
    )
    bad_enum = json.loads(json.dumps(records))
    bad_enum[0]["fields"]["tier"] = "platinum"
    assert load(bad_enum) == (
        "orm-kit: error: bad.json, record 1 (app.models.Author): field 'tier' holds 'platinum', "
        "which is not a member of its enum."
    )
    unknown = json.loads(json.dumps(records))
    genre = models.index("app.models.Genre")
    unknown[genre]["fields"]["colour"] = "red"
    assert load(unknown) == (
        f"orm-kit: error: bad.json, record {genre + 1} (app.models.Genre): unknown field(s) "
        "colour; Genre has code."
    )
    dangling = json.loads(json.dumps(records))
    dangling[book]["fields"]["author_id"] = "00000000-0000-7000-8000-000000000000"
    line = load(dangling)
    assert line.startswith(
        f"orm-kit: error: bad.json, record {book + 1} (app.models.Book) could not be loaded: "
    )
    assert line.endswith(". Nothing was loaded.")
    assert load([{"model": "app.models.Nope", "fields": {}}]) == (
        "orm-kit: error: bad.json, record 1 (app.models.Nope): no such model is imported; "
        "check the models modules."
    )
    assert load({"not": "a list"}) == (  # type: ignore[arg-type]
        "orm-kit: error: bad.json is not a fixture: expected a JSON list of "
        '{"model": ..., "fields": {...}} objects.'
    )
