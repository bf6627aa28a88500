"""Migrations from Python: the functions behind `orm-kit`, as a deploy script uses them."""

# --8<-- [start:model]
import asyncio
import sys
import tempfile
from pathlib import Path

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Model
from orm_kit.migrations import (
    check_migrations,
    create_migration,
    current_revision,
    get_migration_history,
    init_migrations,
    rollback_migration,
    run_migrations,
)
from orm_kit.mixins import TimestampMixin


class Release(Model, TimestampMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(20), unique=True)


# --8<-- [end:model]


async def main(folder: Path) -> None:
    # This example keeps a database of its own: autogenerate compares *every* table of the
    # database with the models, and would offer to drop the tables it does not know.
    url = f"sqlite+aiosqlite:///{folder / 'deploy.db'}"
    # --8<-- [start:make]
    # In a project, [tool.orm_kit] in pyproject.toml names the models module(s), the
    # migrations folder and DATABASE_URL the database; here they are passed in.
    where = {"migrations_dir": folder / "migrations", "url": url}
    init_migrations(where["migrations_dir"])  # orm-kit init
    created = await create_migration("add releases", models="__main__", **where)
    assert created is not None
    print(f"created:   {created.message!r} (head: {created.is_head})")
    # Nothing changed since: no script is written (orm-kit prints "No changes detected.").
    await run_migrations(**where)  # orm-kit migrate
    print(f"unchanged: {await create_migration('again', models='__main__', **where)}")
    # --8<-- [end:make]
    # --8<-- [start:deploy]
    # A deploy step, or an application's start-up: upgrade to the latest migration.
    await run_migrations("head", **where)
    print(f"current:   {await current_revision(**where) == (created.revision,)}")
    for migration in await get_migration_history(**where):  # orm-kit showmigrations
        print(f"history:   [{'X' if migration.applied else ' '}] {migration.message}")
    check = await check_migrations(models="__main__", **where)  # orm-kit check
    print(f"check:     pending={len(check.pending)} differences={check.differences}")
    # --8<-- [end:deploy]
    # --8<-- [start:rollback]
    await rollback_migration(steps=1, **where)  # orm-kit downgrade -1
    print(f"rolled back to base: {await current_revision(**where) == ()}")
    # --8<-- [end:rollback]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
    sys.exit(0)
