"""End to end, as a user runs it: ``orm-kit`` in a project of its own, on every backend.

init → makemigrations → migrate → change the models → makemigrations finds exactly the
change → migrate → check in sync → downgrade base; every mixin and type in one migration;
a column under a named constraint altered (SQLite batch mode); the async functions.
"""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from tests.integration.migration_project import Project, progress_lines, upgrade_operations

AUTHOR = """
class Author(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(50))
    city: Mapped[str | None] = mapped_column(String(50))


class Book(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    pages: Mapped[int]
"""

# The change: a new column, a new index, a type change (and nothing else).
AUTHOR_CHANGED = AUTHOR.replace("String(50))\n    city", "String(200))\n    city").replace(
    "city: Mapped[str | None] = mapped_column(String(50))",
    "city: Mapped[str | None] = mapped_column(String(50), index=True)\n"
    "    nickname: Mapped[str | None] = mapped_column(String(30))",
)


async def test_init_makemigrations_migrate_change_check_downgrade(project: Project) -> None:
    project.models(AUTHOR)
    out = project.ok("init")
    assert "Created" in out and (project.root / "migrations" / "env.py").is_file()
    project.ok("makemigrations", "-m", "initial")
    [first] = project.versions()
    assert sorted(upgrade_operations(first)) == ["create_table", "create_table"]

    migrated = project.run("migrate")
    assert migrated.code == 0, migrated.err
    # Progress is chatter, on stderr; stdout has only the outcome.
    assert progress_lines(migrated.err) == [
        f"Running upgrade  -> {first.name.split('_', 1)[0]}, initial"
    ]
    assert migrated.out == f"Database at {first.name.split('_', 1)[0]}.\n"
    assert {"author", "book", "alembic_version"} <= await project.tables()
    assert project.ok("current").strip() == first.name.split("_", 1)[0]
    assert project.ok("makemigrations", "-m", "nothing") == "No changes detected.\n"

    project.models(AUTHOR_CHANGED)
    check = project.run("check")
    assert check.code == 1
    assert "add_column: author.nickname" in check.out
    assert "add_index: author.ix_author_city" in check.out
    project.ok("makemigrations", "-m", "nickname, city index, longer title")
    [second] = [path for path in project.versions() if path != first]
    operations = upgrade_operations(second)
    assert sorted(operations) == ["add_column", "alter_column", "create_index"]
    body = second.read_text()
    assert "sa.Column('nickname', sa.String(length=30), nullable=True)" in body
    assert "type_=sa.String(length=200)" in body
    assert "'ix_author_city'" in body

    pending = project.ok("showmigrations").splitlines()
    assert pending[0].startswith("[X] ") and pending[1].startswith("[ ] ")
    project.ok("migrate")
    assert "nickname" in await project.columns("author")
    assert project.ok("check").splitlines() == [
        "Database: reachable.",
        "Migrations: all applied.",
        "Models: in sync with the database.",
    ]
    assert [line[:4] for line in project.ok("showmigrations").splitlines()] == ["[X] "] * 2

    project.ok("downgrade", "-1")
    assert "nickname" not in await project.columns("author")
    project.ok("downgrade", "base")
    assert await project.tables() <= {"alembic_version"}
    assert project.run("current").out == ""


EVERY_MIXIN = """
import enum
import uuid
from datetime import date
from sqlalchemy import JSON, CheckConstraint, DateTime, LargeBinary, UniqueConstraint, Uuid
from orm_kit.mixins import (
    AuditLogMixin, AuditMixin, AuditedModel, ReadOnlyMixin, SoftDeleteMixin,
    SoftDeleteModel, TimestampMixin, TimestampedModel, UUIDModel, UUIDPrimaryKeyMixin,
    unique_among_live,
)
from orm_kit.types import UTCDateTime


class Account(AuditedModel):
    email: Mapped[str] = mapped_column(String(255))
    __table_args__ = (unique_among_live("email"),)


class Ledger(Model, TimestampMixin, AuditLogMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed: the downgrade must not drop the index its foreign key needs (MariaDB refuses).
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("account.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    booked_on: Mapped[date]
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    meta: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_not_zero"),)


class Currency(Model, ReadOnlyMixin):
    code: Mapped[str] = mapped_column(String(3), primary_key=True)


class Note(TimestampedModel, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(Text)


class Tagged(UUIDModel):
    label: Mapped[str] = mapped_column(String(40))
    external: Mapped[uuid.UUID] = mapped_column(Uuid, default=uuid.uuid4)


class Draft(SoftDeleteModel):
    id: Mapped[int] = mapped_column(primary_key=True)


class Keyed(Model, UUIDPrimaryKeyMixin, SoftDeleteMixin, AuditMixin):
    name: Mapped[str] = mapped_column(String(20))
    __table_args__ = (UniqueConstraint("name"),)
"""


async def test_every_mixin_and_type_migrates_with_no_hand_edit(project: Project) -> None:
    project.models(EVERY_MIXIN)
    project.ok("init")
    project.ok("makemigrations", "-m", "everything")
    [script] = project.versions()
    assert "import orm_kit.types" in script.read_text()
    project.ok("migrate")
    assert {"account", "ledger", "audit_log", "currency", "note", "tagged", "draft"} <= (
        await project.tables()
    )
    assert "Models: in sync with the database." in project.ok("check")

    # orm_kit writes through the migrated schema; another application's plain INSERT gets
    # the timestamps from the server defaults.
    result = project.python(
        """
        import asyncio
        from datetime import UTC, date, datetime, timedelta, timezone
        from decimal import Decimal
        from sqlalchemy import text
        from orm_kit import Database
        from app.models import Account, Ledger, Note

        async def main():
            async with Database() as db:
                account = await Account.objects.create(email="a@x.io")
                # unique_among_live("email"), as migrated: a deleted row's value is free.
                await account.delete()
                account = await Account.objects.create(email="a@x.io")
                print(await Account.all_objects.filter(email="a@x.io").count())
                due = datetime(2024, 1, 2, 12, tzinfo=timezone(timedelta(hours=5)))
                await Ledger.objects.create(
                    account_id=account.id,
                    amount=Decimal("1.50"),
                    booked_on=date(2024, 1, 2),
                    due_at=due,
                )
                ledger = await Ledger.objects.get(due_at=due)
                print(ledger.due_at.isoformat())
                async with db.engine.begin() as conn:
                    await conn.execute(text("INSERT INTO note (body) VALUES ('plain')"))
                note = await Note.objects.get(body="plain")
                print(note.created_at.tzinfo is UTC, note.updated_at.tzinfo is UTC)
                print(await Ledger.objects.count(), await Account.objects.count())

        asyncio.run(main())
        """
    )
    assert result.code == 0, result.err
    assert result.out.splitlines() == ["2", "2024-01-02T07:00:00+00:00", "True True", "1 1"]
    project.ok("downgrade", "base")
    assert await project.tables() <= {"alembic_version"}


NAMED = """
from sqlalchemy import CheckConstraint, UniqueConstraint


class Coupon(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(10))
    percent: Mapped[int]
    __table_args__ = (
        UniqueConstraint("code", name="uq_coupon_code"),
        CheckConstraint("percent BETWEEN 0 AND 100", name="percent_range"),
    )
"""


async def test_alter_a_column_under_named_constraints(project: Project) -> None:
    # NOTE(sqlite): ALTER COLUMN does not exist there; batch mode rebuilds the table, and
    # the named unique and check constraints must come through (named by the convention).
    project.models(NAMED)
    project.ok("init")
    project.ok("makemigrations", "-m", "coupons")
    project.ok("migrate")
    seeded = project.python(
        """
        import asyncio
        from orm_kit import Database
        from app.models import Coupon

        async def main():
            async with Database():
                await Coupon.objects.create(code="SPRING", percent=10)

        asyncio.run(main())
        """
    )
    assert seeded.code == 0, seeded.err
    project.models(
        NAMED.replace("String(10)", "String(40)").replace(
            "percent: Mapped[int]", "percent: Mapped[int | None]"
        )
    )
    project.ok("makemigrations", "-m", "longer codes, optional percent")
    project.ok("migrate")
    assert "Models: in sync with the database." in project.ok("check")
    checked = project.python(
        """
        import asyncio
        from orm_kit import ConflictError, Database
        from app.models import Coupon

        async def main():
            async with Database():
                print((await Coupon.objects.get(code="SPRING")).percent)
                await Coupon.objects.create(code="X" * 40, percent=None)
                for values in ({"code": "SPRING", "percent": 5}, {"code": "B", "percent": 101}):
                    try:
                        await Coupon.objects.create(**values)
                    except ConflictError as exc:
                        print(exc.constraint)

        asyncio.run(main())
        """
    )
    assert checked.code == 0, checked.err
    assert checked.out.splitlines() == ["10", "uq_coupon_code", "ck_coupon_percent_range"]


async def test_the_async_functions_in_a_running_loop(project: Project) -> None:
    project.models(AUTHOR)
    result = project.python(
        """
        import asyncio
        from orm_kit.migrations import (
            create_migration, current_revision, get_migration_history, init_migrations,
            rollback_migration, run_migrations,
        )

        async def main():
            init_migrations()
            info = await create_migration(message="initial", autogenerate=True)
            print(info.message, info.is_head, info.applied)
            await run_migrations()
            print(await create_migration("again"))
            print([(m.message, m.applied) for m in await get_migration_history()])
            empty = await create_migration("by hand", autogenerate=False)
            await run_migrations(revision="head")
            await rollback_migration(steps=1)
            at = await current_revision()
            print(at == (info.revision,), empty.down_revision == info.revision)
            await rollback_migration("base")
            print(await current_revision())

        asyncio.run(main())
        """
    )
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "initial True False",
        "None",
        "[('initial', True)]",
        "True True",
        "()",
    ]


async def test_sql_needs_no_database(project: Project) -> None:
    project.models(AUTHOR)
    project.ok("init")
    project.ok("makemigrations", "-m", "initial")
    # The project's database URL only picks the dialect: a port nobody listens on is fine.
    unreachable = make_url(project.url)
    if unreachable.get_backend_name() != "sqlite":
        unreachable = unreachable.set(host="127.0.0.1", port=1)
    shown = unreachable.render_as_string(hide_password=False)
    upgrade = project.run("--url", shown, "sql")
    assert upgrade.code == 0, upgrade.err
    assert "CREATE TABLE author" in upgrade.out
    assert "CREATE TABLE book" in upgrade.out
    downgrade = project.run("--url", shown, "sql", "--downgrade", "head:base")
    assert downgrade.code == 0, downgrade.err
    assert "DROP TABLE author" in downgrade.out


ENUM_MODELS = """
import enum


class Status(enum.Enum):
    draft = "draft"
    live = "live"


class Page(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[Status] = mapped_column(default=Status.draft)
"""
ENUM_EXTENDED = ENUM_MODELS.replace('live = "live"', 'live = "live"\n    archived = "archived"')
USE_ARCHIVED = """
import asyncio
from orm_kit import Database
from app.models import Page, Status

async def main():
    async with Database():
        await Page.objects.create(status=Status.archived)
        print([page.status.name for page in await Page.objects.all()])
        # A downgrade cannot take a value away from an enum type while rows hold it.
        await Page.objects.filter(status=Status.archived).delete()

asyncio.run(main())
"""


async def test_a_new_enum_value_is_migrated(project: Project) -> None:
    project.models(ENUM_MODELS)
    project.ok("init")
    project.ok("makemigrations", "-m", "pages")
    project.ok("migrate")
    project.models(ENUM_EXTENDED)
    assert "Models: differ from the database" in project.run("check").out
    out = project.ok("makemigrations", "-m", "archived pages")
    assert out.startswith("Created ")
    project.ok("migrate")
    used = project.python(USE_ARCHIVED)
    assert used.code == 0, used.err
    assert used.out.splitlines() == ["['archived']"]
    assert "Models: in sync with the database." in project.ok("check")
    project.ok("downgrade", "base")
    assert await project.tables() <= {"alembic_version"}


@pytest.mark.requires("native_enums")
async def test_enum_types_are_created_extended_and_dropped(project: Project) -> None:
    project.models(ENUM_MODELS)
    project.ok("init")
    project.ok("makemigrations", "-m", "pages")
    [first] = project.versions()
    assert "create_table" in upgrade_operations(first)
    assert "sa.Enum('draft', 'live', name='status').create(op.get_bind())" in first.read_text()
    project.ok("migrate")
    assert await project.enum_labels("status") == ["draft", "live"]
    project.models(ENUM_EXTENDED)
    check = project.run("check")
    assert "  add_enum_value: page.status ['draft', 'live'] -> ['draft', 'live', 'archived']" in (
        check.out.splitlines()
    )
    project.ok("makemigrations", "-m", "archived pages")
    [second] = [path for path in project.versions() if path != first]
    assert upgrade_operations(second) == ["add_enum_value"]
    project.ok("migrate")
    assert await project.enum_labels("status") == ["draft", "live", "archived"]
    project.ok("downgrade", "-1")
    assert await project.enum_labels("status") == ["draft", "live"]
    project.ok("downgrade", "base")
    assert await project.enum_labels("status") == []


MEMBER = """
from orm_kit.mixins import SoftDeleteMixin, unique_among_live


class Member(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
"""
MEMBER_UNIQUE_AMONG_LIVE = MEMBER + '    __table_args__ = (unique_among_live("email"),)\n'

REUSE_EMAIL = """
import asyncio
from orm_kit import ConflictError, Database
from app.models import Member

async def main():
    async with Database():
        first = await Member.objects.create(email="m@x.io")
        try:
            await Member.objects.create(email="m@x.io")
            print("no conflict")
        except ConflictError as exc:
            print(exc.constraint)
        await first.delete()
        await Member.objects.create(email="m@x.io")
        print(await Member.all_objects.filter(email="m@x.io").count())
        await Member.all_objects.hard_delete()

asyncio.run(main())
"""


async def test_unique_among_live_is_added_and_removed_by_migrations(project: Project) -> None:
    # On MariaDB / MySQL the index brings a hidden column, which must come and go with it
    # and never show as a difference.
    project.models(MEMBER)
    project.ok("init")
    project.ok("makemigrations", "-m", "members")
    project.ok("migrate")
    plain = set(await project.columns("member"))
    project.models(MEMBER_UNIQUE_AMONG_LIVE)
    project.ok("makemigrations", "-m", "unique among live")
    project.ok("migrate")
    assert "Models: in sync with the database." in project.ok("check")
    used = project.python(REUSE_EMAIL)
    assert used.code == 0, used.err
    assert used.out.splitlines() == ["uq_member_email", "2"]
    project.models(MEMBER)
    project.ok("makemigrations", "-m", "not unique")
    [third] = [p for p in project.versions() if "not_unique" in p.name]
    # Written as the model declared it, wherever it was generated: it runs on every backend.
    assert "orm_kit_live" not in third.read_text() and "['email']" in third.read_text()
    project.ok("migrate")
    assert "Models: in sync with the database." in project.ok("check")
    assert set(await project.columns("member")) == plain
    used = project.python(REUSE_EMAIL)
    assert used.code == 0, used.err
    assert used.out.splitlines() == ["no conflict", "3"]
    project.ok("downgrade", "-1")  # the index again
    assert project.python(REUSE_EMAIL).out.splitlines() == ["uq_member_email", "2"]
    project.ok("downgrade", "base")
    assert await project.tables() <= {"alembic_version"}
