"""Run W1-W10 of PERFORMANCE.md through orm_kit, SQLAlchemy Core, SQLAlchemy ORM, the peer
ORMs that are installed (Tortoise, Piccolo, Django) and the raw driver (asyncpg on PostgreSQL,
aiosqlite on SQLite, asyncmy on MariaDB) in one process, rounds interleaved, and print a
markdown table of median rates, ratios to the fastest peer and to the raw driver, and issue
13's targets (set for PostgreSQL and SQLite; the MariaDB leg prints ratios only).

Usage (from the repository root; ``make bench`` runs ``--sqlite --mysql``)::

    python -m benchmarks.run
    python -m benchmarks.run --scale 0.1 --rounds 1          # quick smoke run
    python -m benchmarks.run --only W3,W5 --url postgresql+asyncpg://u:p@host/db
    python -m benchmarks.run --sqlite                         # also the SQLite leg
    python -m benchmarks.run --no-postgres --mysql            # the MariaDB leg only

The PostgreSQL URL defaults to ``ORM_KIT_BENCH_POSTGRES_URL`` or
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``. Only the table ``bench_row`` is
created (and dropped at the end). The SQLite leg's file lives on tmpfs (``/dev/shm``)
when the machine has it. The MariaDB / MySQL URL (``--mysql URL``, or ``--mysql`` alone for
``ORM_KIT_BENCH_MYSQL_URL`` or ``mysql+asyncmy://root@127.0.0.1:3306/orm_kit_bench``) names a
database that is created (utf8mb4) if it does not exist; when no server answers there, the
leg is skipped with a note in the output and the other legs' results stand.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import sqlalchemy
import sqlalchemy.exc
from sqlalchemy.engine import make_url

from benchmarks.admin import Admin, prepare_mysql_database
from benchmarks.data import Plan, make_plan
from benchmarks.impl_aiosqlite import AiosqliteImpl
from benchmarks.impl_asyncpg import AsyncpgImpl
from benchmarks.impl_core import CoreImpl
from benchmarks.impl_orm import OrmImpl
from benchmarks.impl_orm_kit import OrmKitImpl
from benchmarks.report import render
from benchmarks.runner import measure_memory, run_workloads
from benchmarks.workloads import WORKLOADS, Implementation

__all__ = [
    "DEFAULT_MYSQL_URL",
    "DEFAULT_URL",
    "implementations",
    "main",
    "mysql_url",
    "parse_args",
    "sqlite_dir",
]

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_MYSQL_URL = "mysql+asyncmy://root@127.0.0.1:3306/orm_kit_bench"


def mysql_url(url: str) -> str:
    """``url`` with the driver the MariaDB leg uses: ``mysql://`` and ``mariadb://`` URLs
    (with or without ``+asyncmy``) become ``mysql+asyncmy://``, as orm_kit turns them.
    Raises ``ValueError`` for a URL of another backend or driver."""
    parsed = make_url(url)
    if parsed.drivername not in ("mysql", "mariadb", "mysql+asyncmy", "mariadb+asyncmy"):
        raise ValueError(
            f"--mysql takes a mysql+asyncmy:// URL (or mysql:// / mariadb://), not {url!r}"
        )
    return parsed.set(drivername="mysql+asyncmy").render_as_string(hide_password=False)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiplies operation and row counts (0.1 for a quick run)",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("ORM_KIT_BENCH_POSTGRES_URL", DEFAULT_URL),
        help="PostgreSQL SQLAlchemy URL (postgresql+asyncpg://...)",
    )
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W3,W5")
    parser.add_argument("--sqlite", action="store_true", help="also run the SQLite leg")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL leg")
    parser.add_argument(
        "--mysql",
        nargs="?",
        const=os.environ.get("ORM_KIT_BENCH_MYSQL_URL", DEFAULT_MYSQL_URL),
        default=None,
        metavar="URL",
        help="also the MariaDB / MySQL leg, last (URL default: ORM_KIT_BENCH_MYSQL_URL or "
        f"{DEFAULT_MYSQL_URL}); skipped with a note when no server answers",
    )
    args = parser.parse_args(argv)
    if args.mysql is not None:
        try:
            args.mysql = mysql_url(args.mysql)
        except ValueError as exc:
            parser.error(str(exc))
    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from W1..W10")
    args.workloads = only or list(WORKLOADS)
    if args.rounds < 1 or args.scale <= 0:
        parser.error("--rounds must be >= 1 and --scale > 0")
    return args


def implementations(dialect: str) -> list[Implementation]:
    """The contenders, in round order: the peers that are installed, then the raw driver
    (asyncpg on PostgreSQL, aiosqlite on SQLite, asyncmy on MariaDB / MySQL, where Piccolo,
    which has no MySQL engine, and Django, whose MySQL backend needs mysqlclient, are not
    measured)."""
    mysql = dialect == "mysql"
    impls: list[Implementation] = [OrmKitImpl(), CoreImpl(), OrmImpl()]
    if importlib.util.find_spec("tortoise") is not None:
        from benchmarks.impl_tortoise import TortoiseImpl

        impls.append(TortoiseImpl())
    if not mysql and importlib.util.find_spec("piccolo") is not None:
        from benchmarks.impl_piccolo import PiccoloImpl

        impls.append(PiccoloImpl())
    if (
        not mysql
        and importlib.util.find_spec("django") is not None
        and (dialect == "sqlite" or importlib.util.find_spec("psycopg") is not None)
    ):
        from benchmarks.impl_django import DjangoImpl

        impls.append(DjangoImpl())
    if mysql:
        from benchmarks.impl_asyncmy import AsyncmyImpl

        impls.append(AsyncmyImpl())
    else:
        impls.append(AsyncpgImpl() if dialect == "postgresql" else AiosqliteImpl())
    return impls


def sqlite_dir() -> tuple[str | None, str]:
    """Where the SQLite leg's file goes: ``/dev/shm`` (tmpfs) when it exists, else the temp
    dir; and a phrase for the heading."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return str(shm), "file on tmpfs /dev/shm"
    return None, f"file in {tempfile.gettempdir()}: no /dev/shm, NOT on tmpfs"


def _revision() -> str:
    """The git revision of the code measured (``+dirty`` with uncommitted orm_kit changes)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "orm_kit"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"orm_kit {head}{'+dirty' if dirty else ''}"


def _peers_note() -> str:
    notes = []
    for module, dist, title in (
        ("tortoise", "tortoise-orm", "Tortoise ORM"),
        ("piccolo", "piccolo", "Piccolo"),
    ):
        if importlib.util.find_spec(module) is None:
            notes.append(
                f"{title} is not installed (pip install -e '.[bench]'): its column is skipped."
            )
        else:
            notes.append(f"{title} {importlib.metadata.version(dist)} is measured too.")
    if importlib.util.find_spec("django") is None:
        notes.append(
            "Django is not installed (pip install django psycopg[binary]): its column is skipped."
        )
    else:
        pg = "" if importlib.util.find_spec("psycopg") else " (SQLite only: psycopg missing)"
        notes.append(f"Django {importlib.metadata.version('django')} is measured too{pg}.")
    return " ".join(notes)


def _leg_notes(dialect: str, impls: list[Implementation]) -> list[str]:
    names = {i.name for i in impls}
    notes = []
    if "piccolo" in names:
        notes.append(
            "Piccolo: W7 and W10 count operations sent (its update()/delete() return no row "
            "count without returning()); W2 inserts chunks of 1,000 rows in one transaction "
            "(one INSERT of 20,000 rows exceeds the driver's parameter limit)."
        )
        if dialect == "sqlite":
            notes.append(
                "Piccolo on SQLite opens an aiosqlite connection per query (SQLiteEngine has "
                "no pool) and returns created_at as text (the table declares DATETIME, which "
                "Piccolo does not convert)."
            )
    if "django" in names:
        notes.append(
            "Django: the async API (acreate, aget, async for, aupdate, acount, adelete, "
            "abulk_create) over its one sync_to_async worker thread; autocommit, persistent "
            "connection."
        )
    if dialect == "mysql":
        notes.append(
            "Piccolo has no MariaDB / MySQL engine and Django's MySQL backend needs mysqlclient "
            "(not installed by the bench extra): their columns are skipped on this leg."
        )
        if "tortoise" in names:
            notes.append(
                "Tortoise on MariaDB counts the rows an UPDATE changed, not matched (its "
                "connections do not set CLIENT.FOUND_ROWS): in W7 and W8 a row that already "
                "held the new value is not counted (a warning below when that happens; W8's "
                "rate counts the rows it reports)."
            )
        else:
            notes.append("Tortoise ORM is not installed: its column is skipped.")
        notes.append(
            f"asyncmy {importlib.metadata.version('asyncmy')}: one connection in autocommit, "
            "its default text protocol (no server-side prepared statements), rows as tuples "
            "(dicts from DictCursor for W6), W1's key from lastrowid, rows matched counted "
            "(CLIENT.FOUND_ROWS); W2 executemany (multi-row INSERTs) in BEGIN/COMMIT. "
            "MariaDB has no COPY."
        )
    if dialect == "sqlite":
        notes.append(
            "aiosqlite: one connection in autocommit, execute_fetchall per statement (one "
            "thread hop), rows as sqlite3.Row without type conversion; W2 executemany in "
            "BEGIN/COMMIT."
        )
    return notes


async def run_leg(
    label: str, url: str, plan: Plan, args: argparse.Namespace, notes: Sequence[str] = ()
) -> str:
    """Create the table, measure every workload, drop the table; return the report (with
    ``notes`` after the leg's own)."""
    admin = Admin(url)
    impls = implementations(admin.dialect)
    started = time.perf_counter()
    print(f"[{label}] {make_url(url).render_as_string(hide_password=True)}", file=sys.stderr)
    await admin.open()
    try:
        for impl in impls:
            await impl.open(url)
        results = await run_workloads(admin, impls, plan, args.workloads, args.rounds)
        if "W5" in args.workloads:
            results.memory = await measure_memory(admin, impls, plan)
            results.memory_settled = await measure_memory(admin, impls, plan, settled=True)
    finally:
        for impl in impls:
            await impl.close()
        await admin.close()
    heading = (
        f"### {label}: median of {args.rounds} interleaved round(s), scale {args.scale:g} "
        f"({len(plan.seed_rows):,} rows), {time.perf_counter() - started:.0f} s"
    )
    notes = [*_leg_notes(admin.dialect, impls), *notes]
    return render(results, args.workloads, heading, admin.dialect, notes)


async def _main(args: argparse.Namespace) -> None:
    plan = make_plan(args.scale)
    drivers = f"asyncpg {asyncpg.__version__}"
    if args.mysql is not None and importlib.util.find_spec("asyncmy") is not None:
        drivers += f", asyncmy {importlib.metadata.version('asyncmy')}"
    print(
        f"{_revision()}; Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"{drivers}. Rates in ops/s, or rows/s for W2, W5, W6, W8.\n" + _peers_note()
    )
    if not args.no_postgres:
        print("\n" + await run_leg("PostgreSQL", args.url, plan, args), flush=True)
    if args.sqlite:
        where, phrase = sqlite_dir()
        with tempfile.TemporaryDirectory(prefix="orm_kit_bench_", dir=where) as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            print("\n" + await run_leg(f"SQLite ({phrase})", url, plan, args), flush=True)
    if args.mysql is not None:
        print("\n" + await run_mysql_leg(args.mysql, plan, args), flush=True)


async def run_mysql_leg(url: str, plan: Plan, args: argparse.Namespace) -> str:
    """The MariaDB / MySQL leg; when asyncmy is missing or no server answers at ``url``,
    a heading and a sentence saying so instead (the run goes on)."""
    shown = make_url(url).render_as_string(hide_password=True)
    if importlib.util.find_spec("asyncmy") is None:
        reason = "asyncmy is not installed (pip install -e '.[mysql]')"
    else:
        try:
            server, flush = await prepare_mysql_database(url)
        except (sqlalchemy.exc.OperationalError, OSError) as exc:
            reason = f"no MariaDB / MySQL server answered at {shown}: {getattr(exc, 'orig', exc)}"
        else:
            durability = (
                "each commit waits for InnoDB's log to reach the disk, so single-row writes "
                "(W1, W7, W10) measure the disk's flush as much as the code"
                if flush == 1
                else "commits do not wait for the disk"
            )
            note = f"Server: innodb_flush_log_at_trx_commit={flush}: {durability}."
            return await run_leg(server, url, plan, args, [note])
    print(f"[MariaDB] skipped: {reason}", file=sys.stderr)
    return (
        f"### MariaDB: skipped\n\n{reason}. Start one, or point ORM_KIT_BENCH_MYSQL_URL "
        "(or --mysql URL) at one, to measure the MariaDB leg."
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m benchmarks.run``."""
    asyncio.run(_main(parse_args(argv)))


if __name__ == "__main__":
    main()
