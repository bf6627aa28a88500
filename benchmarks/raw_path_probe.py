"""Measure orm_kit's raw path (``orm_kit.raw_path``) against its plain direct path and
the raw driver, on the single-row workloads (W1, W3, W4, W7, W9, W10), in one process
with rounds interleaved (only ratios within one run mean anything on a noisy machine).

Usage (from the repository root)::

    python -m benchmarks.raw_path_probe --url postgresql+asyncpg://u@host/db --rounds 5
    python -m benchmarks.raw_path_probe --no-postgres --sqlite --scale 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.admin import Admin
from benchmarks.data import Plan, make_plan
from benchmarks.impl_aiosqlite import AiosqliteImpl
from benchmarks.impl_asyncpg import AsyncpgImpl
from benchmarks.impl_orm_kit import OrmKitImpl
from benchmarks.run import DEFAULT_URL, sqlite_dir
from benchmarks.runner import run_workloads
from benchmarks.workloads import WorkloadFn
from orm_kit import raw_path

__all__ = ["main"]

WORKLOADS = ["W1", "W3", "W4", "W7", "W9", "W10"]


class _Switched(OrmKitImpl):
    """orm_kit with ``raw_path.ENABLED`` set for the duration of each workload."""

    def __init__(self, enabled: bool) -> None:
        super().__init__()
        self.enabled = enabled
        self.name = "raw path" if enabled else "plain"

    def workloads(self) -> dict[str, WorkloadFn]:
        def switched(fn: WorkloadFn) -> WorkloadFn:
            async def run(plan: Plan) -> Any:
                raw_path.ENABLED = self.enabled
                try:
                    return await fn(plan)
                finally:
                    raw_path.ENABLED = True

            return run

        return {k: switched(fn) for k, fn in super().workloads().items()}


class _SecondOpen(_Switched):
    """Both orm_kit contenders share the first one's database (one default database)."""

    def __init__(self, enabled: bool, first: _Switched) -> None:
        super().__init__(enabled)
        self.first = first

    async def open(self, url: str) -> None:
        return None

    async def close(self) -> None:
        return None


async def leg(label: str, url: str, plan: Plan, rounds: int) -> str:
    admin = Admin(url)
    plain = _Switched(False)
    impls: list[Any] = [
        plain,
        _SecondOpen(True, plain),
        AsyncpgImpl() if admin.dialect == "postgresql" else AiosqliteImpl(),
    ]
    await admin.open()
    try:
        for impl in impls:
            await impl.open(url)
        results = await run_workloads(admin, impls, plan, WORKLOADS, rounds)
    finally:
        for impl in impls:
            await impl.close()
        await admin.close()
    driver = impls[2].name
    lines = [
        f"### {label}: median of {rounds} interleaved rounds (ops/s)",
        "",
        f"| | plain | raw path | {driver} | raw/plain | plain/{driver} | raw/{driver} |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    ratios: dict[str, list[float]] = {"rp": [], "pd": [], "rd": []}
    for w in WORKLOADS:
        p = statistics.median(results.rates[("plain", w)])
        r = statistics.median(results.rates[("raw path", w)])
        d = statistics.median(results.rates[(driver, w)])
        ratios["rp"].append(r / p)
        ratios["pd"].append(p / d)
        ratios["rd"].append(r / d)
        lines.append(
            f"| {w} | {p:,.0f} | {r:,.0f} | {d:,.0f} | {r / p:.2f}x | {p / d:.2f}x | {r / d:.2f}x |"
        )
    geo = {k: math.exp(statistics.fmean(math.log(x) for x in v)) for k, v in ratios.items()}
    lines.append(f"| geomean | | | | {geo['rp']:.2f}x | {geo['pd']:.2f}x | {geo['rd']:.2f}x |")
    lines.extend(f"warning: {w}" for w in results.warnings)
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> None:
    plan = make_plan(args.scale)
    if not args.no_postgres:
        print(await leg("PostgreSQL", args.url, plan, args.rounds), flush=True)
    if args.sqlite:
        where, phrase = sqlite_dir()
        with tempfile.TemporaryDirectory(prefix="orm_kit_raw_", dir=where) as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            print(await leg(f"SQLite ({phrase})", url, plan, args.rounds), flush=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m benchmarks.raw_path_probe``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.raw_path_probe")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--url", default=os.environ.get("ORM_KIT_BENCH_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    asyncio.run(_main(parser.parse_args(argv)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
