"""The migration commands as async functions: what ``orm-kit`` runs, for programs too.

Each command drives Alembic programmatically on an orm_kit ``Database``: the async
connection is opened here and handed to ``env.py`` (Alembic's connection-sharing recipe),
so the functions can be awaited inside a running event loop (an application's start-up).
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
from argparse import Namespace
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from orm_kit.database import Database
from orm_kit.exceptions import DatabaseError, DatabaseUnavailableError, mysql_error_code
from orm_kit.migrations.config import MigrationError, ProjectConfig, load_project_config
from orm_kit.migrations.environment import (
    CONNECTION_KEY,
    MODELS_IMPORTED_KEY,
    SKIP_EMPTY_KEY,
    describe,
    enable_dialect_support,
    foreign_keys_off,
    migration_options,
)

__all__ = [
    "CheckResult",
    "MigrationInfo",
    "check_migrations",
    "create_migration",
    "current_revision",
    "get_migration_history",
    "init_migrations",
    "migration_sql",
    "project_database",
    "rollback_migration",
    "run_migrations",
]

TEMPLATES = Path(__file__).parent / "templates"
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class MigrationInfo:
    """One migration script.

    Attributes:
        revision: Its id (``"3f1c0a9e2b7d"``).
        down_revision: The revision (or revisions, after a merge) it follows; ``None``
            for the first.
        message: The ``-m`` message.
        path: The script file.
        is_head: Whether no migration follows it.
        applied: Whether the database has it, or ``None`` when the database was not asked.
    """

    revision: str
    down_revision: str | tuple[str, ...] | None
    message: str
    path: Path
    is_head: bool
    applied: bool | None = None


@dataclass(frozen=True)
class CheckResult:
    """What ``check_migrations()`` found.

    Attributes:
        pending: The migrations the database has not applied, oldest first.
        differences: One line per difference between the models and the database
            (``"add_column: user.nickname"``), as autogenerate sees it.
    """

    pending: list[MigrationInfo]
    differences: list[str]

    @property
    def ok(self) -> bool:
        """Nothing pending and nothing different."""
        return not self.pending and not self.differences


def _project(
    migrations_dir: str | Path | None, url: str | None, models: str | list[str] | None
) -> ProjectConfig:
    return load_project_config(models=models, migrations_dir=migrations_dir, url=url)


def _alembic_config(project: ProjectConfig, *, output: io.StringIO | None = None) -> Config:
    # quiet: the caller reports what happened (Alembic would print "Generating ..." itself).
    quiet = Namespace(quiet=True)
    config = Config(output_buffer=output, cmd_opts=quiet) if output else Config(cmd_opts=quiet)
    config.set_main_option("script_location", str(project.migrations_dir))
    # ConfigParser interpolation: a '%' in a password would otherwise be read as a reference.
    config.set_main_option("sqlalchemy.url", project.url.replace("%", "%%"))
    config.attributes[MODELS_IMPORTED_KEY] = True
    return config


def _alembic_error(exc: Exception, project: ProjectConfig) -> MigrationError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, ResolutionError) or "Can't locate revision" in text:
        argument = getattr(exc, "argument", None) or getattr(exc.__cause__, "argument", None)
        if argument is None and (found := re.search(r"identified by '([^']*)'", text)):
            argument = found.group(1)
        named = f" {argument!r}" if argument else ""
        return MigrationError(
            f"Unknown revision{named}: no migration in {project.migrations_dir} matches it "
            "(see `orm-kit history`)."
        )
    if "Target database is not up to date" in text:
        return MigrationError(
            "The database is not at the latest migration: run `orm-kit migrate` before "
            "making a new one."
        )
    return MigrationError(f"{text.rstrip('.')}.")


# PostgreSQL's SQLSTATE invalid_catalog_name: the server is up, the database is not there.
_NO_SUCH_DATABASE = "3D000"
# PostgreSQL's refusal of an ALTER COLUMN ... TYPE with no implicit cast from the old type.
_NO_AUTOMATIC_CAST = re.compile(r'column "([^"]+)" cannot be cast automatically to type (.+)$')


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the driver error somewhere in ``exc``'s chain (asyncpg: ``sqlstate``,
    psycopg: ``sqlstate`` / ``pgcode``), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        for attribute in ("sqlstate", "pgcode"):
            code = getattr(seen, attribute, None)
            if isinstance(code, str):
                return code
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


# NOTE(mysql): ER_BAD_DB_ERROR, "Unknown database" (its SQLSTATE, 42000, is a generic one).
_MYSQL_NO_SUCH_DATABASE = 1049


def _mysql_code(exc: BaseException) -> int | None:
    """The MariaDB / MySQL error code of the driver error in ``exc``'s chain, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if (code := mysql_error_code(seen)) is not None:
            return code
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def _failure_hint(first_line: str) -> str:
    found = _NO_AUTOMATIC_CAST.search(first_line.strip())
    if found is None:
        return ""
    column, type_name = found.group(1), found.group(2).strip()
    return (
        f'. Add postgresql_using="{column}::{type_name}" to that op.alter_column() in the '
        "migration, then migrate again."
    )


@asynccontextmanager
async def project_database(project: ProjectConfig) -> AsyncIterator[Database]:
    """The project's database, connected for the block (then disconnected).

    Raises:
        MigrationError: It cannot be reached (one line, the URL's password hidden).
    """
    db = Database(project.url)
    url = db.url
    shown = url.render_as_string(hide_password=True)
    folder = Path(url.database).parent if url.database and url.database != ":memory:" else None
    if db.dialect == "sqlite" and folder is not None and not folder.is_dir():
        # NOTE(sqlite): checked first; aiosqlite's failed connect can also print a thread
        # traceback at exit, which would break the one-line error.
        raise MigrationError(f"Cannot reach the database at {shown} (no folder {folder}).")
    try:
        await db.connect()
    except (DatabaseUnavailableError, DatabaseError) as exc:
        if _sqlstate(exc) == _NO_SUCH_DATABASE or _mysql_code(exc) == _MYSQL_NO_SUCH_DATABASE:
            name = url.database or ""
            raise MigrationError(
                f"The server at {shown} answered, but it has no database {name!r}: create it "
                f"(createdb {name}, or CREATE DATABASE {name}) or fix the URL."
            ) from exc
        reason = str(exc).split(": ", 1)[-1].split(". Check", 1)[0]
        raise MigrationError(f"Cannot reach the database at {shown} ({reason}).") from exc
    try:
        yield db
    finally:
        await db.disconnect()


async def _on_connection(
    project: ProjectConfig, work: Callable[[Connection], ResultT], *, commit: bool = False
) -> ResultT:
    """Run ``work`` on a sync connection of a fresh engine for the project's database."""
    async with project_database(project) as db, db.engine.connect() as conn:
        if db.dialect == "sqlite":
            await conn.run_sync(foreign_keys_off)
        # One transaction for the whole command, begun here: Alembic then leaves commit to
        # us, so the checks below still run before it.
        await conn.begin()
        try:
            result = await conn.run_sync(work)
        except (CommandError, ResolutionError) as exc:
            raise _alembic_error(exc, project) from exc
        except SQLAlchemyError as exc:
            # The statement text and parameters stay on __cause__ (they may hold data).
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            line = first[0] if first else ""
            outcome = (
                # NOTE(mysql): each CREATE / ALTER / DROP commits at once; nothing undoes it.
                "failed, and what it had changed in the schema before the failure stays "
                "applied (MariaDB / MySQL commit each DDL statement): fix the migration, "
                "undo those steps by hand or make them idempotent, then migrate again"
                if db.dialect == "mysql"
                else "failed and was rolled back"
            )
            raise MigrationError(
                f"The migration {outcome}: {type(exc).__name__}: {line}{_failure_hint(line)}"
            ) from exc
        if commit and db.dialect == "sqlite":
            await conn.run_sync(_check_foreign_keys)
        if commit:
            await conn.commit()
        return result


def _check_foreign_keys(connection: Connection) -> None:
    # NOTE(sqlite): enforcement was off while batch mode rebuilt tables, so a constraint a
    # migration added was never checked against the rows already there. PostgreSQL checks
    # it in ALTER TABLE; here the whole migration is refused before commit, the same way.
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = ", ".join(sorted({f"{row[0]} -> {row[2]}" for row in broken}))
        raise MigrationError(
            f"The migration failed and was rolled back: {len(broken)} row(s) would have "
            f"foreign keys pointing nowhere ({tables}); fix the data in the migration first."
        )


async def _run_command(
    project: ProjectConfig,
    fn: Callable[..., Any],
    *args: Any,
    compare: bool = False,
    **kwargs: Any,
) -> Any:
    project.require_migrations_dir()
    if compare:  # only autogenerate needs the models; the scripts stand on their own
        project.import_models()
    config = _alembic_config(project)
    extra = kwargs.pop("attributes", {})
    config.attributes.update(extra)

    def work(connection: Connection) -> Any:
        config.attributes[CONNECTION_KEY] = connection
        return fn(config, *args, **kwargs)

    return await _on_connection(project, work, commit=True)


def init_migrations(
    migrations_dir: str | Path | None = None, *, models: str | list[str] | None = None
) -> Path:
    """Create the migrations folder: ``env.py``, ``script.py.mako``, ``versions/``.

    Returns:
        The folder created.

    Raises:
        MigrationError: It exists already and is not empty.
    """
    project = load_project_config(models=models, migrations_dir=migrations_dir)
    folder = project.migrations_dir
    if folder.exists() and any(folder.iterdir()):
        raise MigrationError(f"{folder} already exists and is not empty; nothing was changed.")
    (folder / "versions").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATES / "env.py", folder / "env.py")
    shutil.copyfile(TEMPLATES / "script.py.mako", folder / "script.py.mako")
    (folder / "README").write_text(
        "Migrations of this project, managed with `orm-kit` (Alembic underneath).\n"
        "orm-kit makemigrations -m 'message'   then   orm-kit migrate\n",
        encoding="utf-8",
    )
    return folder


async def create_migration(
    message: str,
    *,
    autogenerate: bool = True,
    empty: bool = False,
    migrations_dir: str | Path | None = None,
    url: str | None = None,
    models: str | list[str] | None = None,
) -> MigrationInfo | None:
    """Write a new migration script comparing the models with the database.

    Args:
        message: What the migration does (its file name and docstring).
        autogenerate: Compare the models with the database and write the operations.
        empty: Write the script even when nothing changed (for hand-written operations).
        migrations_dir: The migrations folder (default: ``[tool.orm_kit] migrations``).
        url: The database to compare with (default: ``DATABASE_URL``).
        models: The models modules (default: ``[tool.orm_kit] models``).

    Returns:
        The new migration, or ``None`` when autogenerate found no change (Django's "No
        changes detected") and ``empty`` is false.

    Raises:
        MigrationError: No migrations folder, models that fail to import, an unreachable
            database, or a database behind the latest migration.
    """
    project = _project(migrations_dir, url, models)
    if not autogenerate:
        project.require_migrations_dir()
        script = command.revision(_alembic_config(project), message=message)
    else:
        script = await _run_command(
            project,
            command.revision,
            message=message,
            autogenerate=True,
            compare=True,
            attributes={SKIP_EMPTY_KEY: not empty},
        )
    if isinstance(script, list):  # one per branch head, none when nothing changed
        script = script[0] if script else None
    if script is None:
        return None
    return _info(script, applied=False)


async def run_migrations(
    revision: str = "head",
    *,
    migrations_dir: str | Path | None = None,
    url: str | None = None,
) -> None:
    """Upgrade the database to ``revision`` (default: the latest, ``"head"``).

    ``revision`` is anything Alembic takes: an id or a unique prefix of one, ``"head"``,
    ``"+1"``.

    Raises:
        MigrationError: Unknown revision, no migrations folder, unreachable database, or
            the migration itself failed (the transaction is rolled back).
    """
    await _run_command(_project(migrations_dir, url, None), command.upgrade, revision)


async def rollback_migration(
    revision: str | None = None,
    *,
    steps: int | None = None,
    migrations_dir: str | Path | None = None,
    url: str | None = None,
) -> None:
    """Downgrade the database to ``revision``, or by ``steps`` migrations.

    Args:
        revision: An id, ``"base"`` (before the first migration) or ``"-1"``.
        steps: How many migrations to undo instead (the seeds' ``steps=1``).

    Raises:
        ValueError: Both or neither of ``revision`` and ``steps``.
        MigrationError: As for ``run_migrations``.
    """
    if (revision is None) == (steps is None):
        raise ValueError("Pass either revision= or steps= to rollback_migration().")
    target = revision if revision is not None else f"-{steps}"
    project = _project(migrations_dir, url, None)
    await _run_command(project, _downgrade_within_reach, project, target)


def _downgrade_within_reach(config: Config, project: ProjectConfig, target: str) -> None:
    # A relative target past base: Alembic's "Relative revision -1 didn't produce 1
    # migrations" said in terms of the database.
    if re.fullmatch(r"-\d+", target.strip()):
        steps = int(target.strip()[1:])
        current = _current(config.attributes[CONNECTION_KEY])
        scripts = ScriptDirectory.from_config(config)
        applied = len(_applied(scripts, current))
        if applied == 0:
            raise MigrationError("Nothing to downgrade: the database is at base.")
        if steps > applied:
            raise MigrationError(
                f"Cannot go back {steps} migrations: the database has only {applied} applied "
                "(`orm-kit downgrade base` undoes them all)."
            )
    command.downgrade(config, target)


def _info(
    script: Script, *, applied: bool | None, heads: frozenset[str] = frozenset()
) -> MigrationInfo:
    return MigrationInfo(
        revision=script.revision,
        down_revision=(
            tuple(script.down_revision)
            if isinstance(script.down_revision, list | tuple)
            else script.down_revision
        ),
        message=(script.doc or "").strip(),
        path=Path(script.path),
        is_head=script.revision in heads if heads else script.is_head,
        applied=applied,
    )


def _scripts(project: ProjectConfig) -> ScriptDirectory:
    project.require_migrations_dir()
    return ScriptDirectory.from_config(_alembic_config(project))


def _applied(scripts: ScriptDirectory, current: tuple[str, ...]) -> set[str]:
    return {s.revision for s in scripts.iterate_revisions(current, "base") if s is not None}


def _current(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


async def current_revision(
    *, migrations_dir: str | Path | None = None, url: str | None = None
) -> tuple[str, ...]:
    """The revision id(s) the database is at; empty before the first migration."""
    project = _project(migrations_dir, url, None)
    project.require_migrations_dir()
    return await _on_connection(project, _current)


async def get_migration_history(
    migrations_dir: str | Path | None = None,
    *,
    url: str | None = None,
    with_status: bool = True,
) -> list[MigrationInfo]:
    """Every migration, oldest first, with whether the database has applied it.

    Args:
        migrations_dir: The migrations folder (default: ``[tool.orm_kit] migrations``).
        url: The database to ask (default: ``DATABASE_URL``).
        with_status: Ask the database; ``False`` reads only the scripts (``applied`` is
            ``None``).
    """
    project = _project(migrations_dir, url, None)
    scripts = _scripts(project)
    ordered = list(reversed(list(scripts.walk_revisions())))
    if not with_status:
        return [_info(s, applied=None) for s in ordered]
    current = await _on_connection(project, _current)
    applied = _applied(scripts, current)
    return [_info(s, applied=s.revision in applied) for s in ordered]


async def check_migrations(
    *,
    migrations_dir: str | Path | None = None,
    url: str | None = None,
    models: str | list[str] | None = None,
) -> CheckResult:
    """Compare the database with the migrations and with the models.

    Raises:
        MigrationError: As for ``create_migration``.
    """
    project = _project(migrations_dir, url, models)
    scripts = _scripts(project)
    project.import_models()

    def work(connection: Connection) -> tuple[tuple[str, ...], list[str]]:
        enable_dialect_support(connection.dialect.name)
        options = migration_options(connection.dialect.name)
        options.pop("process_revision_directives")
        context = MigrationContext.configure(connection, opts=options)
        current = tuple(context.get_current_heads())
        return current, describe(compare_metadata(context, options["target_metadata"]))

    current, differences = await _on_connection(project, work)
    applied = _applied(scripts, current)
    ordered = reversed(list(scripts.walk_revisions()))
    pending = [_info(s, applied=False) for s in ordered if s.revision not in applied]
    return CheckResult(pending=pending, differences=differences)


def _resolve(scripts: ScriptDirectory, revision: str) -> str | None:
    """The id ``revision`` names, ``None`` for base, or ``""`` when it names no single one
    (Alembic then reports it, or renders a multi-head range as it would).
    """
    if revision == "base":
        return None
    try:
        found = scripts.get_revisions(revision)
    except (CommandError, ResolutionError):
        return ""
    return found[0].revision if len(found) == 1 and found[0] is not None else ""


def _is_older(scripts: ScriptDirectory, older: str | None, newer: str | None) -> bool:
    # Base is older than everything; otherwise an ancestor is older than its descendants.
    if older == newer or newer is None:
        return False
    return older is None or any(
        s is not None and s.revision == older for s in scripts.iterate_revisions(newer, "base")
    )


def _check_direction(scripts: ScriptDirectory, revisions: str, *, downgrade: bool) -> None:
    # Offline mode renders a backwards range as an empty transaction, without a word.
    start, end = (_resolve(scripts, part) for part in revisions.split(":", 1))
    if start == "" or end == "":
        return
    if not downgrade and _is_older(scripts, end, start):
        raise MigrationError(
            f"{revisions} goes down, from a newer revision to an older one: add --downgrade "
            f"for the downgrade SQL, or swap the ends ({revisions.split(':', 1)[1]}:"
            f"{revisions.split(':', 1)[0]})."
        )
    if downgrade and _is_older(scripts, start, end):
        raise MigrationError(
            f"{revisions} goes up, from an older revision to a newer one: a downgrade range "
            f"runs newer to older ({revisions.split(':', 1)[1]}:{revisions.split(':', 1)[0]}), "
            "or drop --downgrade."
        )


async def migration_sql(
    revisions: str = "base:head",
    *,
    downgrade: bool = False,
    migrations_dir: str | Path | None = None,
    url: str | None = None,
) -> str:
    """The SQL of a range of migrations, without a database (Alembic's offline mode).

    Args:
        revisions: ``"FROM:TO"`` or just ``"TO"`` (from base); for a downgrade
            ``"FROM:TO"`` with ``FROM`` the newer one, e.g. ``"head:base"``.
        downgrade: The downgrade SQL instead of the upgrade SQL.
        url: Only its dialect matters (default: ``DATABASE_URL``).

    Raises:
        MigrationError: Unknown revision, or an operation that needs the database (on
            SQLite, batch mode must read a table to rebuild it).
    """
    project = _project(migrations_dir, url, None)
    project.require_migrations_dir()
    output = io.StringIO()
    config = _alembic_config(project, output=output)
    if downgrade and ":" not in revisions:
        raise MigrationError(
            f"A downgrade range needs both ends, e.g. 'head:base' (got {revisions!r})."
        )
    if ":" in revisions and not all(revisions.split(":", 1)):
        raise MigrationError(
            f"The range {revisions!r} has an empty end: give FROM:TO (e.g. base:head) or TO."
        )
    if ":" in revisions:
        _check_direction(ScriptDirectory.from_config(config), revisions, downgrade=downgrade)
    run = command.downgrade if downgrade else command.upgrade
    try:
        await asyncio.to_thread(run, config, revisions, sql=True)
    except (CommandError, ResolutionError) as exc:
        raise _alembic_error(exc, project) from exc
    return output.getvalue()
