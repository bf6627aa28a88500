"""Run W1-W10 of PERFORMANCE.md through orm_kit, SQLAlchemy Core, SQLAlchemy ORM and raw
asyncpg in one process, rounds interleaved, and print a markdown table of median rates.

Usage (from the repository root; ``make bench`` runs the first line)::

    python -m benchmarks.run
    python -m benchmarks.run --scale 0.1 --rounds 1          # quick smoke run
    python -m benchmarks.run --only W3,W5 --url postgresql+asyncpg://u:p@host/db
    python -m benchmarks.run --sqlite                         # also the SQLite leg

The PostgreSQL URL defaults to ``ORM_KIT_BENCH_POSTGRES_URL`` or
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``. Only the table ``bench_row`` is
created (and dropped at the end).
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
from pathlib import Path

import asyncpg
import sqlalchemy
from sqlalchemy.engine import make_url

from benchmarks.admin import Admin
from benchmarks.data import Plan, make_plan
from benchmarks.impl_asyncpg import AsyncpgImpl
from benchmarks.impl_core import CoreImpl
from benchmarks.impl_orm import OrmImpl
from benchmarks.impl_orm_kit import OrmKitImpl
from benchmarks.report import render
from benchmarks.runner import run_workloads
from benchmarks.workloads import WORKLOADS, Implementation

__all__ = ["DEFAULT_URL", "implementations", "main", "parse_args"]

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


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
    args = parser.parse_args(argv)
    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from W1..W10")
    args.workloads = only or list(WORKLOADS)
    if args.rounds < 1 or args.scale <= 0:
        parser.error("--rounds must be >= 1 and --scale > 0")
    return args


def implementations(dialect: str) -> list[Implementation]:
    """The contenders, in round order; asyncpg only on PostgreSQL."""
    impls: list[Implementation] = [OrmKitImpl(), CoreImpl(), OrmImpl()]
    if importlib.util.find_spec("tortoise") is not None:
        from benchmarks.impl_tortoise import TortoiseImpl

        impls.append(TortoiseImpl())
    if dialect == "postgresql":
        impls.append(AsyncpgImpl())
    return impls


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


def _tortoise_note() -> str:
    if importlib.util.find_spec("tortoise") is None:
        return "Tortoise ORM is not installed (pip install -e '.[bench]'): its column is skipped."
    return f"Tortoise ORM {importlib.metadata.version('tortoise-orm')} is measured too."


async def run_leg(label: str, url: str, plan: Plan, args: argparse.Namespace) -> str:
    """Create the table, measure every workload, drop the table; return the report."""
    admin = Admin(url)
    impls = implementations(admin.dialect)
    started = time.perf_counter()
    print(f"[{label}] {make_url(url).render_as_string(hide_password=True)}", file=sys.stderr)
    await admin.open()
    try:
        for impl in impls:
            await impl.open(url)
        results = await run_workloads(admin, impls, plan, args.workloads, args.rounds)
    finally:
        for impl in impls:
            await impl.close()
        await admin.close()
    heading = (
        f"### {label}: median of {args.rounds} interleaved round(s), scale {args.scale:g} "
        f"({len(plan.seed_rows):,} rows), {time.perf_counter() - started:.0f} s"
    )
    return render(results, args.workloads, heading)


async def _main(args: argparse.Namespace) -> None:
    plan = make_plan(args.scale)
    print(
        f"{_revision()}; Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"asyncpg {asyncpg.__version__}. Rates in ops/s, or rows/s for W2, W5, W6, W8.\n"
        + _tortoise_note()
    )
    if not args.no_postgres:
        print("\n" + await run_leg("PostgreSQL", args.url, plan, args), flush=True)
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="orm_kit_bench_") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            print("\n" + await run_leg("SQLite (file)", url, plan, args), flush=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m benchmarks.run``."""
    asyncio.run(_main(parse_args(argv)))


if __name__ == "__main__":
    main()
