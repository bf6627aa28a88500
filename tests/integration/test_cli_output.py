"""What ``orm-kit`` writes where, on every backend: data on stdout (``sql`` output a
database accepts as it is), progress and notes on stderr; ranges, plurals, pipes.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.backends import supports
from tests.integration.migration_project import Project, progress_lines

MODELS = """
class Author(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
"""


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


def migrations_made(project: Project) -> str:
    project.models(MODELS)
    project.ok("init")
    project.ok("makemigrations", "-m", "initial")
    [script] = project.versions()
    return script.name.split("_", 1)[0]


def run_script(project: Project, sql: str) -> None:
    """Run the SQL text on the project's (empty) database as its own command-line tool
    would: psql with ON_ERROR_STOP, or sqlite3's executescript.
    """
    url = make_url(project.url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(str(url.database)) as conn:
            conn.executescript(sql)
        return
    script = project.root / "up.sql"
    script.write_text(sql)
    host = url.host or str(url.query.get("host", "localhost"))
    if url.get_backend_name() == "mysql":
        client = ["mariadb", "-h", host, "-P", str(url.port or 3306), "-u", str(url.username)]
        with script.open() as stdin:
            done = subprocess.run(
                [*client, str(url.database)],
                stdin=stdin,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        assert done.returncode == 0, done.stderr
        return
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", str(url.port or 5432)]
    done = subprocess.run(
        [*psql, "-U", str(url.username), "-d", str(url.database), "-f", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


async def test_sql_output_is_sql_the_database_accepts(project: Project, backend: str) -> None:
    revision = migrations_made(project)
    result = project.run("sql", "base:head")
    assert result.code == 0, result.err
    assert not [line for line in result.out.splitlines() if line.startswith("Running ")]
    # The one note on stderr: the dialect it rendered for, and where that came from.
    dialect = make_url(project.url).get_backend_name()
    assert result.err.splitlines() == [
        f"Running upgrade  -> {revision}, initial",
        f"orm-kit: SQL rendered for {dialect} (the dialect of DATABASE_URL).",
    ]
    # makemigrations compared with the database, which left an empty version table there.
    engine = create_async_engine(project.url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE alembic_version"))
    finally:
        await engine.dispose()
    run_script(project, result.out)
    assert {"author", "alembic_version"} <= await project.tables()
    # The database now says it is at head, as if `orm-kit migrate` had run.
    assert project.ok("current").strip() == revision


async def test_sql_without_database_url_says_it_rendered_sqlite(project: Project) -> None:
    migrations_made(project)
    result = project.run("sql", url=False)
    assert result.code == 0, result.err
    assert result.err.splitlines()[-1] == (
        "orm-kit: SQL rendered for sqlite (DATABASE_URL is not set: the SQLite default; "
        "set it or pass --url to render for your database)."
    )


async def test_sql_ranges_that_cannot_be_meant(project: Project) -> None:
    revision = migrations_made(project)
    reversed_up = project.run("sql", "head:base")
    assert reversed_up.code == 1
    assert one_line(reversed_up.err) == (
        "orm-kit: error: head:base goes down, from a newer revision to an older one: "
        "add --downgrade for the downgrade SQL, or swap the ends (base:head)."
    )
    assert reversed_up.out == ""
    reversed_down = project.run("sql", "--downgrade", "base:head")
    assert reversed_down.code == 1
    assert one_line(reversed_down.err) == (
        "orm-kit: error: base:head goes up, from an older revision to a newer one: "
        "a downgrade range runs newer to older (head:base), or drop --downgrade."
    )
    for argv in (["sql", f"{revision}:"], ["sql", ":head"], ["sql", "--downgrade", "head:"]):
        result = project.run(*argv)
        assert result.code == 2, argv
        assert result.err.splitlines()[-1] == (
            f"orm-kit sql: error: argument RANGE: {argv[-1]!r} has an empty end: give "
            "FROM:TO (e.g. base:head) or just TO."
        ), argv
    same = project.run("sql", f"{revision}:{revision}")  # nothing to do is not an error
    assert same.code == 0, same.err


async def test_dumpdata_into_a_closed_pipe_is_quiet(project: Project) -> None:
    migrations_made(project)
    project.ok("migrate")
    rows = [{"model": "app.models.Author", "fields": {"name": "x" * 90}} for _ in range(3000)]
    (project.root / "many.json").write_text(json.dumps(rows))
    assert project.ok("loaddata", "many.json") == "Loaded 3000 rows from 1 file.\n"
    code, head, err = dump_into_head(project)
    assert head[0] == "[\n" and len(head) == 3
    assert code == 141  # 128 + SIGPIPE, what `head`'s writers exit with
    assert err == ""


def dump_into_head(project: Project) -> tuple[int, list[str], str]:
    """`orm-kit dumpdata Author | head -3`: the reader goes away after three lines."""
    dump = subprocess.Popen(
        [sys.executable, "-m", "orm_kit.cli", "dumpdata", "Author"],
        cwd=project.root,
        env=project.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert dump.stdout is not None and dump.stderr is not None
    head = [dump.stdout.readline() for _ in range(3)]
    dump.stdout.close()
    err = dump.stderr.read()
    dump.stderr.close()
    return dump.wait(timeout=60), head, err


async def test_summaries_count_in_words(project: Project) -> None:
    migrations_made(project)
    project.ok("migrate")
    one = [{"model": "app.models.Author", "fields": {"id": 1, "name": "Ann"}}]
    (project.root / "one.json").write_text(json.dumps(one))
    assert project.ok("loaddata", "one.json") == "Loaded 1 row from 1 file.\n"
    assert project.ok("dumpdata", "-o", "out.json") == "Dumped 1 row of 1 model to out.json.\n"
    two = [{"model": "app.models.Author", "fields": {"id": 2, "name": "Bo"}}]
    (project.root / "two.json").write_text(json.dumps(two))
    three = [{"model": "app.models.Author", "fields": {"id": 3, "name": "Cy"}}]
    (project.root / "three.json").write_text(json.dumps(three))
    assert project.ok("loaddata", "two.json", "three.json") == "Loaded 2 rows from 2 files.\n"
    assert project.ok("dumpdata", "-o", "all.json") == "Dumped 3 rows of 1 model to all.json.\n"


async def test_downgrade_past_base_is_one_clear_line(project: Project) -> None:
    migrations_made(project)
    result = project.run("downgrade", "-1")
    assert result.code == 1
    assert one_line(result.err) == "orm-kit: error: Nothing to downgrade: the database is at base."
    project.ok("migrate")
    too_far = project.run("downgrade", "-2")
    assert too_far.code == 1
    assert one_line(too_far.err) == (
        "orm-kit: error: Cannot go back 2 migrations: the database has only 1 applied "
        "(`orm-kit downgrade base` undoes them all)."
    )
    assert project.ok("current").strip() != ""
    done = project.run("downgrade", "-1")
    assert done.code == 0 and progress_lines(done.err) == done.err.splitlines()


NUMBERED = """
class Label(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(10))
"""


async def test_a_type_change_needing_a_cast_says_how(project: Project, backend: str) -> None:
    project.models(NUMBERED)
    project.ok("init")
    project.ok("makemigrations", "-m", "labels")
    project.ok("migrate")
    project.models(
        NUMBERED.replace("code: Mapped[str] = mapped_column(String(10))", "code: Mapped[int]")
    )
    project.ok("makemigrations", "-m", "numeric codes")
    result = project.run("migrate")
    if not supports(backend, "strict_type_changes"):
        assert result.code == 0, result.err  # batch mode copies the column
        assert (await project.columns("label"))["code"] == "INTEGER"
        return
    assert result.code == 1
    # The migration that failed is the progress line before the error.
    *progress, line = result.err.splitlines()
    assert progress == progress_lines(result.err) and "numeric codes" in progress[-1]
    assert line.startswith("orm-kit: error: The migration failed and was rolled back: "), line
    assert 'column "code" cannot be cast automatically to type integer' in line
    assert line.endswith(
        'Add postgresql_using="code::integer" to that op.alter_column() in the migration, '
        "then migrate again."
    ), line


@pytest.mark.requires("named_databases")
async def test_a_database_that_does_not_exist(project: Project) -> None:
    project.models(MODELS)
    project.ok("init")
    url = make_url(project.url).set(database="nosuchdb")
    shown = url.render_as_string(hide_password=True)
    result = project.run("--url", url.render_as_string(hide_password=False), "current")
    assert result.code == 1
    assert one_line(result.err) == (
        f"orm-kit: error: The server at {shown} answered, but it has no database 'nosuchdb': "
        "create it (createdb nosuchdb, or CREATE DATABASE nosuchdb) or fix the URL."
    )
    # A password never shows, whether the server ignores it (the test PostgreSQL trusts
    # local connections) or refuses it first (MariaDB checks it before the database).
    wrong = url.set(password="s3cret").render_as_string(hide_password=False)
    refused = project.run("--url", wrong, "current")
    assert refused.code == 1 and "s3cret" not in refused.err
