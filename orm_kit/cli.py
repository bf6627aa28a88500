"""The ``orm-kit`` console script: migrations, checks and data fixtures.

Settings come from ``[tool.orm_kit]`` in the nearest pyproject.toml, then flags
(``--models``, ``--migrations``, ``--url``) and ``DATABASE_URL``. Exit codes: 0 done,
1 an error (one line on stderr; ``--traceback`` shows the rest), 2 a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from orm_kit.exceptions import ORMKitError
from orm_kit.fixtures import DumpProgress, dump_data, load_data, resolve_models
from orm_kit.migrations import (
    MigrationInfo,
    check_migrations,
    create_migration,
    current_revision,
    get_migration_history,
    init_migrations,
    load_project_config,
    migration_sql,
    rollback_migration,
    run_migrations,
)
from orm_kit.migrations.commands import project_database
from orm_kit.migrations.config import DEFAULT_MIGRATIONS
from orm_kit.settings import DatabaseSettings
from orm_kit.shell import run_shell

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["main"]

PROG = "orm-kit"
# A command is a coroutine function, run under asyncio.run(), or a plain function (shell).
Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int] | int]


def _kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"migrations_dir": args.migrations, "url": args.url}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _label(info: MigrationInfo) -> str:
    head = " (head)" if info.is_head else ""
    return f"{info.revision}  {info.message}{head}"


async def _init(args: argparse.Namespace) -> int:
    folder = init_migrations(args.migrations, models=args.models)
    print(f"Created {folder} (env.py, script.py.mako, versions/).")
    project = load_project_config(models=args.models, migrations_dir=args.migrations)
    pyproject = project.pyproject or project.root / "pyproject.toml"
    existing = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
    models = ", ".join(project.models)
    if "[tool.orm_kit]" not in existing:
        try:
            relative = folder.relative_to(project.root).as_posix()
        except ValueError:
            relative = str(folder)
        models_line = f'models = "{models}"' if models else '# models = "app.models"'
        section = f'\n[tool.orm_kit]\n{models_line}\nmigrations = "{relative}"\n'
        pyproject.write_text(existing + section if existing else section.lstrip(), "utf-8")
        print(f"Added [tool.orm_kit] to {pyproject}.")
    elif args.models is not None:
        _set_models(pyproject, existing, models)
    if not project.models:
        print(
            'Next: set models = "app.models" under [tool.orm_kit], then run '
            "`orm-kit makemigrations -m 'initial'`."
        )
    return 0


def _set_models(pyproject: Path, existing: str, models: str) -> None:
    """``init --models`` where ``[tool.orm_kit]`` exists: write ``models`` if the table
    has none (over the commented line a plain ``init`` writes), else leave it and say so.
    """
    configured = load_project_config(start=pyproject.parent)
    if configured.models:
        if ", ".join(configured.models) != models:
            print(
                f"{PROG}: note: {pyproject} already sets models = "
                f'"{", ".join(configured.models)}" under [tool.orm_kit]; left as it is (edit '
                f"it to use {models}).",
                file=sys.stderr,
            )
        return
    lines = existing.splitlines(keepends=True)
    header = re.compile(r"\s*\[\s*tool\.orm_kit\s*\]\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:  # written some other way (an inline table): not ours to rewrite
        print(
            f'{PROG}: note: add models = "{models}" under [tool.orm_kit] in {pyproject} '
            "(its table is not written as a [tool.orm_kit] header to add it under).",
            file=sys.stderr,
        )
        return
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
        len(lines),
    )
    setting = f'models = "{models}"\n'
    commented = [i for i in range(start + 1, end) if re.match(r"\s*#\s*models\s*=", lines[i])]
    if commented:
        lines[commented[0]] = setting
    else:
        lines.insert(start + 1, setting)
    pyproject.write_text("".join(lines), "utf-8")
    print(f'Set models = "{models}" under [tool.orm_kit] in {pyproject}.')


async def _makemigrations(args: argparse.Namespace) -> int:
    # --empty: a script to write by hand, like Django's; no comparison, no database.
    info = await create_migration(
        args.message, autogenerate=not args.empty, models=args.models, **_kwargs(args)
    )
    if info is None:
        print("No changes detected.")
        return 0
    print(f"Created {info.path} ({info.revision}: {info.message}).")
    return 0


async def _migrate(args: argparse.Namespace) -> int:
    await run_migrations(args.revision, **_kwargs(args))
    print(f"Database at {_current_text(await current_revision(**_kwargs(args)))}.")
    return 0


async def _downgrade(args: argparse.Namespace) -> int:
    await rollback_migration(args.revision, **_kwargs(args))
    print(f"Database at {_current_text(await current_revision(**_kwargs(args)))}.")
    return 0


def _current_text(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) if revisions else "base (no migration applied)"


async def _history(args: argparse.Namespace) -> int:
    history = await get_migration_history(args.migrations, url=args.url, with_status=False)
    if not history:
        print("No migrations yet: run `orm-kit makemigrations -m MESSAGE`.")
    for info in history:
        print(_label(info))
    return 0


async def _current(args: argparse.Namespace) -> int:
    revisions = await current_revision(**_kwargs(args))
    if not revisions:
        print("No migration has been applied (the database is at base).", file=sys.stderr)
    for revision in revisions:
        print(revision)
    return 0


async def _showmigrations(args: argparse.Namespace) -> int:
    history = await get_migration_history(args.migrations, url=args.url)
    if not history:
        print("No migrations yet: run `orm-kit makemigrations -m MESSAGE`.")
    for info in history:
        print(f"[{'X' if info.applied else ' '}] {_label(info)}")
    return 0


async def _check(args: argparse.Namespace) -> int:
    result = await check_migrations(models=args.models, **_kwargs(args))
    print("Database: reachable.")
    if result.pending:
        print(f"Migrations: {len(result.pending)} not applied (run `orm-kit migrate`):")
        for info in result.pending:
            print(f"  [ ] {_label(info)}")
    else:
        print("Migrations: all applied.")
    if result.differences:
        # With migrations pending the difference is most likely what they will apply.
        advice = "migrate, then check again" if result.pending else "run `orm-kit makemigrations`"
        print(f"Models: differ from the database ({advice}):")
        for line in result.differences:
            print(f"  {line}")
    else:
        print("Models: in sync with the database.")
    return 0 if result.ok else 1


async def _sql(args: argparse.Namespace) -> int:
    sql = await migration_sql(args.range, downgrade=args.downgrade, **_kwargs(args))
    sys.stdout.write(sql)
    # Said after the SQL, so an error stays the only line: offline SQL is one dialect's.
    dialect = make_url(load_project_config(url=args.url).url).get_backend_name()
    if args.url or "url" in DatabaseSettings().model_fields_set:  # the environment or .env
        source = "--url" if args.url else "DATABASE_URL"
        print(f"{PROG}: SQL rendered for {dialect} (the dialect of {source}).", file=sys.stderr)
    else:
        print(
            f"{PROG}: SQL rendered for {dialect} (DATABASE_URL is not set: the SQLite default; "
            "set it or pass --url to render for your database).",
            file=sys.stderr,
        )
    return 0


def _revision_range(text: str) -> str:
    """``sql``'s RANGE: ``FROM:TO`` or ``TO``, neither end empty (argparse's ``type``)."""
    if ":" in text and not all(text.split(":", 1)):
        raise argparse.ArgumentTypeError(
            f"{text!r} has an empty end: give FROM:TO (e.g. base:head) or just TO."
        )
    return text


class _Counter:
    """The progress of ``dumpdata`` without rich: one line per table, rewritten in place."""

    def __init__(self) -> None:
        self._total = 0
        self._shown = False

    def start(self, label: str, total: int) -> None:
        if self._shown:
            print(file=sys.stderr)
        self._total, self._shown = total, True
        self.advance(label, 0)

    def advance(self, label: str, done: int) -> None:
        print(f"\r{label}: {done}/{self._total} rows", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._shown:
            print(file=sys.stderr)


class _Bars:
    """The progress of ``dumpdata`` as rich bars on stderr, one per table."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def start(self, label: str, total: int) -> None:
        self._tasks[label] = self._progress.add_task(label, total=total)

    def advance(self, label: str, done: int) -> None:
        self._progress.update(self._tasks[label], completed=done)


@contextmanager
def _dump_progress(to_file: bool) -> Iterator[DumpProgress | None]:
    """Progress on stderr when it is a terminal: rich's bars with the ``cli`` extra, else a
    plain counter. Nothing when stderr is not a terminal, nor when the fixture itself goes
    to the terminal (bars would garble it; Django's dumpdata shows progress only then too).
    """
    if not sys.stderr.isatty() or (not to_file and sys.stdout.isatty()):
        yield None
        return
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
    except ImportError:
        counter = _Counter()
        try:
            yield counter
        finally:
            counter.close()
        return
    columns = (
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    # No redirection: rich would otherwise swap sys.stdout, where the fixture may go.
    console = Console(stderr=True)
    with Progress(*columns, console=console, redirect_stdout=False, redirect_stderr=False) as bars:
        yield _Bars(bars)


async def _dumpdata(args: argparse.Namespace) -> int:
    project = load_project_config(models=args.models, migrations_dir=args.migrations, url=args.url)
    project.import_models()
    models = resolve_models(args.model)
    async with project_database(project) as db:
        if args.output is None:
            with _dump_progress(to_file=False) as progress:
                await dump_data(db, sys.stdout, models, indent=args.indent, progress=progress)
        else:
            # Written beside the target and moved over it at the end: a failed dump leaves
            # no half-written fixture, and an older file of that name as it was.
            target = Path(args.output)
            part = target.with_name(f".{target.name}.part")
            try:
                with (
                    part.open("w", encoding="utf-8") as out,
                    _dump_progress(to_file=True) as progress,
                ):
                    rows = await dump_data(db, out, models, indent=args.indent, progress=progress)
                part.replace(target)
            finally:
                part.unlink(missing_ok=True)
            print(
                f"Dumped {_count(rows, 'row')} of {_count(len(models), 'model')} to {args.output}."
            )
    return 0


def _shell(args: argparse.Namespace) -> int:
    # Not under asyncio.run(): the console must read input in the main thread, where
    # Ctrl-C lands; it runs its own event loop in a thread of its own.
    project = load_project_config(models=args.models, migrations_dir=args.migrations, url=args.url)
    return run_shell(project)


async def _loaddata(args: argparse.Namespace) -> int:
    project = load_project_config(models=args.models, migrations_dir=args.migrations, url=args.url)
    project.import_models()
    async with project_database(project) as db:
        rows = await load_data(db, args.files)
    print(f"Loaded {_count(rows, 'row')} from {_count(len(args.files), 'file')}.")
    return 0


def _common() -> argparse.ArgumentParser:
    # The shared options, accepted before or after the command (SUPPRESS: a default here
    # would overwrite the value given before the command).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--models",
        default=argparse.SUPPRESS,
        metavar="MODULE",
        help="models module(s) to import, comma-separated (default: [tool.orm_kit] models)",
    )
    common.add_argument(
        "--migrations",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help=f"migrations folder (default: [tool.orm_kit] migrations, or {DEFAULT_MIGRATIONS})",
    )
    common.add_argument(
        "--url",
        "--database-url",
        dest="url",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="database URL (default: DATABASE_URL, .env, or the SQLite default)",
    )
    common.add_argument(
        "--traceback",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The ``orm-kit`` argument parser (every command has ``--help``)."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="orm_kit migrations (Alembic underneath) and database checks.",
        epilog="Settings: [tool.orm_kit] in pyproject.toml (models, migrations), "
        "DATABASE_URL. Exit codes: 0 ok, 1 error, 2 usage.",
    )
    # Not required: with no command, main() prints the whole help (the list of commands)
    # rather than argparse's bare "arguments are required".
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    add("init", _init, "Create the migrations folder and [tool.orm_kit] in pyproject.toml.")
    sub = add("makemigrations", _makemigrations, "Write a migration for the models' changes.")
    sub.add_argument("-m", "--message", required=True, help="what the migration does")
    sub.add_argument(
        "--empty",
        action="store_true",
        help="write an empty migration to fill in by hand (no database needed)",
    )
    sub = add("migrate", _migrate, "Apply migrations up to REVISION (default: head).")
    sub.add_argument(
        "revision",
        nargs="?",
        default="head",
        metavar="REVISION",
        help="head (the latest, the default), a revision id or a unique prefix of one, "
        "or +N (N migrations up from where the database is)",
    )
    sub = add("downgrade", _downgrade, "Undo migrations down to REVISION (an id, -1, base).")
    sub.add_argument(
        "revision",
        metavar="REVISION",
        help="base (undo every migration), a revision id or a unique prefix of one (undo "
        "those after it), or -N (undo the last N)",
    )
    add("history", _history, "List the migrations, oldest first (no database needed).")
    add("current", _current, "Print the revision id the database is at.")
    add("showmigrations", _showmigrations, "List the migrations: [X] applied, [ ] pending.")
    add(
        "check",
        _check,
        "Check the database: reachable, every migration applied, models in sync "
        "(exit 1 otherwise).",
    )
    sub = add("sql", _sql, "Print the SQL of a range of migrations without a database.")
    sub.add_argument(
        "range",
        nargs="?",
        default="base:head",
        metavar="RANGE",
        type=_revision_range,
        help="FROM:TO or TO (default base:head; head:base with --downgrade)",
    )
    sub.add_argument(
        "--downgrade", action="store_true", help="the downgrade SQL (RANGE like head:base)"
    )
    sub = add("dumpdata", _dumpdata, "Write the rows of MODELs (default: all) as a JSON fixture.")
    sub.add_argument(
        "model", nargs="*", metavar="MODEL", help="app.models.Author, Author or a table name"
    )
    sub.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    sub.add_argument("--indent", type=int, metavar="N", help="indent each record by N spaces")
    sub = add("loaddata", _loaddata, "Load JSON fixtures, all in one transaction.")
    sub.add_argument("files", nargs="+", metavar="FILE")
    add("shell", _shell, "Start a Python console: top-level await, models imported, db connected.")
    return parser


class _AlembicProgress(logging.Filter):
    """Keep Alembic's "Running upgrade ..." lines; drop its set-up chatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage().startswith("Running ")


def _progress_handler() -> logging.Handler:
    # Chatter on stderr for every command: stdout carries only data and the outcome, so
    # `orm-kit sql > up.sql` is SQL and `orm-kit migrate | tee` is one line.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_AlembicProgress())
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``orm-kit`` with ``argv`` (default: the command line); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    for name in ("models", "migrations", "url"):
        if not hasattr(args, name):
            setattr(args, name, None)
    show_traceback = getattr(args, "traceback", False)
    logger = logging.getLogger("alembic.runtime.migration")
    handler = _progress_handler()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    # orm_kit's own per-error records would repeat the one error line on stderr (with no
    # logging configured they reach Python's last-resort handler): the command says it.
    quiet = logging.NullHandler()
    logging.getLogger("orm_kit").addHandler(quiet)
    try:
        outcome = args.handler(args)
        code: int = asyncio.run(outcome) if inspect.iscoroutine(outcome) else outcome
        sys.stdout.flush()  # a closed pipe shows here rather than at interpreter exit
    except BrokenPipeError:
        return _closed_pipe()
    except (ORMKitError, ValueError, OSError) as exc:
        if show_traceback:
            traceback.print_exc()
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything else: still one line, the traceback on request
        if show_traceback:
            traceback.print_exc()
        # A SQLAlchemy error's text carries the statement and its bound values (which may
        # be secrets): only the driver's own first line is shown.
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        lines = str(cause).strip().splitlines()
        detail = " ".join(lines[0].split()) if lines else ""
        print(
            f"{PROG}: error: {type(exc).__name__}: {detail} (--traceback shows where)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        logger.removeHandler(handler)
        logging.getLogger("orm_kit").removeHandler(quiet)
    return code


def _closed_pipe() -> int:
    """The reader of stdout went away (``orm-kit dumpdata | head``): exit quietly.

    As Python's note on SIGPIPE advises: stdout is pointed at devnull so the flush at exit
    does not fail again, and SIGPIPE keeps Python's handling (SIG_DFL would kill the
    process on any closed socket too). The exit code is the shell's for a process ended by
    SIGPIPE, 128 + 13 = 141, what ``yes | head`` reports under ``set -o pipefail``.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


if __name__ == "__main__":
    sys.exit(main())
