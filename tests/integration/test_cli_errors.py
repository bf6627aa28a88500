"""Every ``orm-kit`` error path, as a user meets it: one line on stderr and exit code 1
(``--traceback`` shows the rest), on every backend.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from tests.backends import supports
from tests.integration.migration_project import Project, progress_lines

MODELS = """
class Author(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
"""


def one_line(err: str) -> str:
    """The one error line of ``err``, after the progress lines of what ran before it."""
    progress = progress_lines(err)
    assert err.splitlines()[: len(progress)] == progress, err
    assert err.count("\n") == len(progress) + 1, err
    return err.splitlines()[-1]


def unreachable(project: Project) -> str:
    """The project's URL pointing where no database can be opened."""
    url = make_url(project.url)
    if url.get_backend_name() == "sqlite":
        return url.set(database="/nonexistent/folder/app.db").render_as_string()
    return url.set(host="127.0.0.1", port=1).render_as_string(hide_password=False)


async def test_unknown_revision(project: Project) -> None:
    project.models(MODELS)
    project.ok("init")
    project.ok("makemigrations", "-m", "first")
    for argv in (["migrate", "abc123"], ["downgrade", "abc123"], ["sql", "base:abc123"]):
        result = project.run(*argv)
        assert result.code == 1, argv
        assert one_line(result.err) == (
            f"orm-kit: error: Unknown revision 'abc123': no migration in "
            f"{project.root / 'migrations'} matches it (see `orm-kit history`)."
        )


async def test_unreachable_database(project: Project) -> None:
    project.models(MODELS)
    project.ok("init")
    url = unreachable(project)
    shown = make_url(url).render_as_string(hide_password=True)
    for argv in (["migrate"], ["current"], ["check"], ["makemigrations", "-m", "x"]):
        result = project.run("--url", url, *argv)
        assert result.code == 1, argv
        line = one_line(result.err)
        assert line.startswith(f"orm-kit: error: Cannot reach the database at {shown} ("), line


async def test_models_module_fails_to_import(project: Project) -> None:
    project.write("app/models.py", "raise RuntimeError('boom: no settings')\n")
    project.ok("init")
    result = project.run("makemigrations", "-m", "first")
    assert result.code == 1
    assert one_line(result.err) == (
        "orm-kit: error: Could not import the models module 'app.models' (RuntimeError: "
        "boom: no settings). Check models under [tool.orm_kit] or --models, and run orm-kit "
        "from the project root."
    )
    missing = project.run("--models", "app.nothing_here", "check")
    assert missing.code == 1
    assert "(ModuleNotFoundError: No module named 'app.nothing_here')" in one_line(missing.err)


async def test_traceback_on_request(project: Project) -> None:
    project.models(MODELS)
    project.ok("init")
    result = project.run("migrate", "abc123", "--traceback")
    assert result.code == 1
    assert "Traceback (most recent call last):" in result.err
    assert result.err.splitlines()[-1].startswith("orm-kit: error: Unknown revision 'abc123'")


async def test_a_failing_migration_is_rolled_back(project: Project, backend: str) -> None:
    project.models(MODELS)
    project.ok("init")
    project.ok("makemigrations", "-m", "first")
    broken = project.ok("makemigrations", "-m", "broken", "--empty")
    script = next(p for p in project.versions() if "broken" in p.name)
    assert str(script) in broken
    text = script.read_text().replace(
        "def upgrade() -> None:\n    pass",
        "def upgrade() -> None:\n"
        "    op.add_column('author', sa.Column('note', sa.String(10)))\n"
        "    op.execute('SELECT * FROM no_such_table')",
    )
    script.write_text(text)
    result = project.run("migrate")
    assert result.code == 1
    if not supports(backend, "transactional_ddl"):
        # The first migration's table and the new column were committed as they ran, and
        # the error says so rather than claiming a rollback.
        assert one_line(result.err).startswith(
            "orm-kit: error: The migration failed, and what it had changed in the schema "
            "before the failure stays applied (MariaDB / MySQL commit each DDL statement)"
        ), result.err
        return
    assert one_line(result.err).startswith(
        "orm-kit: error: The migration failed and was rolled back: ProgrammingError"
    ) or one_line(result.err).startswith(
        "orm-kit: error: The migration failed and was rolled back: OperationalError"
    )
    # Transactional DDL: neither migration is applied, no column added.
    assert project.run("current").out == ""
    assert await project.tables() <= {"alembic_version"}


UNLINKED = """
class Owner(Model):
    id: Mapped[int] = mapped_column(primary_key=True)


class Pet(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int]
"""


async def test_a_new_foreign_key_over_dangling_rows_is_refused(
    project: Project, backend: str
) -> None:
    # NOTE(sqlite): batch mode rebuilds the table with enforcement off; the rows are
    # checked before commit, so SQLite refuses the migration as PostgreSQL's ALTER does.
    project.models(UNLINKED)
    project.ok("init")
    project.ok("makemigrations", "-m", "pets")
    project.ok("migrate")
    seeded = project.python(
        """
        import asyncio
        from orm_kit import Database
        from app.models import Pet

        async def main():
            async with Database():
                await Pet.objects.create(owner_id=42)

        asyncio.run(main())
        """
    )
    assert seeded.code == 0, seeded.err
    project.models(
        UNLINKED.replace(
            "owner_id: Mapped[int]", 'owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id"))'
        )
    )
    project.ok("makemigrations", "-m", "pets have owners")
    before = project.ok("current")
    result = project.run("migrate")
    assert result.code == 1
    assert one_line(result.err).startswith(
        "orm-kit: error: The migration failed and was rolled back: "
        if supports(backend, "transactional_ddl")
        # MariaDB refuses the one ALTER whole, but the error cannot know there was no
        # earlier step: it says what a failed migration there may leave.
        else "orm-kit: error: The migration failed, and what it had changed in the schema "
        "before the failure stays applied"
    ), result.err
    assert project.ok("current") == before


async def test_dumpdata_before_the_tables_exist(project: Project) -> None:
    project.models(MODELS)
    path = project.root / "authors.json"
    for argv in (["dumpdata"], ["dumpdata", "-o", "authors.json"]):
        result = project.run(*argv)
        assert result.code == 1, argv
        assert one_line(result.err) == (
            "orm-kit: error: Could not read the table author (app.models.Author): it does not "
            "exist in the database. Run `orm-kit migrate` first."
        )
        assert not path.exists()  # no half-written fixture is left behind
