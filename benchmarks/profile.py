"""cProfile one workload of one implementation, to see where the time goes.

Usage (from the repository root)::

    python -m benchmarks.profile W3                  # orm_kit, 1,000 ops, top 15 cumulative
    python -m benchmarks.profile W4 --impl core --ops 1000 --top 25 --sort tottime
    python -m benchmarks.profile W5 --scale 1        # row workloads: --scale sets their size

The table is reset and the code warmed up before profiling, as in ``benchmarks.run``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import time

from benchmarks.admin import Admin
from benchmarks.data import make_plan
from benchmarks.run import DEFAULT_URL, implementations
from benchmarks.runner import WARMUP_OPS
from benchmarks.workloads import WORKLOADS

__all__ = ["main", "profile_workload"]


async def profile_workload(
    url: str, workload: str, impl_name: str, ops: int, scale: float, top: int, sort: str
) -> str:
    """Return the pstats report of running ``workload`` once with ``impl_name``."""
    admin = Admin(url)
    impl = next(i for i in implementations(admin.dialect) if i.name == impl_name)
    plan = make_plan(scale, ops=ops)
    fn = impl.workloads()[workload]
    starts_empty = WORKLOADS[workload].starts_empty
    await admin.open()
    await impl.open(url)
    try:
        await admin.reset(plan, seed=not starts_empty)
        await fn(plan.head(WARMUP_OPS))
        await admin.reset(plan, seed=not starts_empty)
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        units = await fn(plan)
        profiler.disable()
        elapsed = time.perf_counter() - start
    finally:
        await impl.close()
        await admin.close()
    out = io.StringIO()
    out.write(f"{impl_name} {workload}: {units:,} units in {elapsed:.3f} s (under cProfile)\n")
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m benchmarks.profile``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("workload", choices=list(WORKLOADS), metavar="WORKLOAD")
    parser.add_argument(
        "--impl",
        default="orm_kit",
        choices=["orm_kit", "core", "orm", "tortoise", "piccolo", "django", "asyncpg", "aiosqlite"],
    )
    parser.add_argument("--ops", type=int, default=1000, help="ops of W1/W3/W4/W7/W9/W10")
    parser.add_argument("--scale", type=float, default=1.0, help="row counts and repetitions")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--url", default=os.environ.get("ORM_KIT_BENCH_POSTGRES_URL", DEFAULT_URL))
    args = parser.parse_args(argv)
    report = asyncio.run(
        profile_workload(
            args.url, args.workload, args.impl, args.ops, args.scale, args.top, args.sort
        )
    )
    print(report)


if __name__ == "__main__":
    main()
