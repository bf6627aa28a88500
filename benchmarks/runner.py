"""The measuring loop: per workload, warm every contender up, then run interleaved rounds
(orm_kit, Core, ORM, ... then again, each round starting one contender later), resetting
the table whenever it changed."""

from __future__ import annotations

import dataclasses
import gc
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from benchmarks.admin import Admin
from benchmarks.data import Plan
from benchmarks.workloads import WORKLOADS, Implementation, WorkloadFn

__all__ = [
    "MEMORY_LOADS",
    "MEMORY_METHOD",
    "SETTLED_METHOD",
    "Contender",
    "Results",
    "expected_ops",
    "measure_memory",
    "run_workloads",
]

WARMUP_OPS = 20


@dataclass(frozen=True, slots=True)
class Contender:
    """One measured thing: an implementation's main code for a workload, or a variant."""

    impl: str
    key: str  # "W2" or "W2 COPY"
    fn: WorkloadFn

    @property
    def workload(self) -> str:
        return self.key.split(" ", 1)[0]


@dataclass
class Results:
    """Rates per (implementation name, key), one per round."""

    rates: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)  # W5 bytes an object, by impl
    memory_settled: dict[str, float] = field(default_factory=dict)  # the same, settled

    def add(self, contender: Contender, rate: float) -> None:
        self.rates.setdefault((contender.impl, contender.key), []).append(rate)


def expected_ops(plan: Plan, workload: str) -> int | None:
    """How many operations a per-operation workload performs (``None`` for row workloads)."""
    return {
        "W1": len(plan.new_rows),
        "W3": len(plan.get_ids),
        "W4": len(plan.filter_levels),
        "W7": len(plan.update_ids),
        "W9": len(plan.count_levels),
        "W10": len(plan.delete_ids),
    }.get(workload)


class _Table:
    """Tracks the table's state so it is only reset when a workload needs it to be."""

    def __init__(self, admin: Admin, plan: Plan) -> None:
        self.admin, self.plan, self.state = admin, plan, "unknown"

    async def prepare(self, workload: str) -> None:
        wanted = "empty" if WORKLOADS[workload].starts_empty else "seeded"
        if self.state != wanted:
            await self.admin.reset(self.plan, seed=wanted == "seeded")
            self.state = wanted

    def used_by(self, workload: str) -> None:
        if WORKLOADS[workload].writes:
            self.state = "dirty"


async def _timed(contender: Contender, plan: Plan) -> tuple[float, int]:
    gc.collect()
    start = time.perf_counter()
    outcome = await contender.fn(plan)
    elapsed = time.perf_counter() - start
    if isinstance(outcome, tuple):
        # (units, seconds spent on set-up inside the call that the variant excludes)
        units, excluded = outcome
        return elapsed - excluded, units
    return elapsed, outcome


def contenders_for(impls: list[Implementation], workload: str) -> list[Contender]:
    """The contenders of ``workload`` in round order (each implementation's variants last)."""
    out = []
    for impl in impls:
        for key, fn in impl.workloads().items():
            if key.split(" ", 1)[0] == workload:
                out.append(Contender(impl.name, key, fn))
    return out


async def run_workloads(
    admin: Admin, impls: list[Implementation], plan: Plan, workloads: list[str], rounds: int
) -> Results:
    """Measure ``workloads`` with every implementation, rounds interleaved."""
    results = Results()
    table = _Table(admin, plan)
    warm = plan.head(WARMUP_OPS)
    for wid in workloads:
        contenders = contenders_for(impls, wid)
        for c in contenders:  # compiled caches, prepared statements, pools
            await table.prepare(wid)
            await c.fn(warm)
            table.used_by(wid)
        for rnd in range(1, rounds + 1):
            line = []
            units_seen: dict[str, int] = {}
            # Each round starts with the next contender, so none is always first (right
            # after the warm-up, or after another's writes) and position effects average out.
            shift = (rnd - 1) % len(contenders)
            for c in contenders[shift:] + contenders[:shift]:
                await table.prepare(wid)
                elapsed, units = await _timed(c, plan)
                table.used_by(wid)
                ops = expected_ops(plan, wid)
                if ops is not None and units != ops:
                    results.warnings.append(f"{c.impl} {c.key}: {units} of {ops} ops hit a row")
                units_seen[f"{c.impl} {c.key}"] = units
                rate = (ops if ops is not None else units) / elapsed
                results.add(c, rate)
                line.append(f"{c.impl}{c.key[len(wid) :]} {rate:,.0f}")
            if WORKLOADS[wid].per_row and len(set(units_seen.values())) > 1:
                results.warnings.append(f"{wid} round {rnd}: row counts differ {units_seen}")
            print(f"  {wid} round {rnd}/{rounds}: " + " | ".join(line), file=sys.stderr)
    return results


MEMORY_METHOD = (
    "retained size: tracemalloc's traced memory with the list of W5's ~5,000 objects held, "
    "minus before the query, after gc.collect(), divided by the objects; the least of "
    "{n} loads after a warm-up one"
)
MEMORY_LOADS = 3


SETTLED_METHOD = (
    "the same, with one more statement (a W9 count) run on the same implementation after "
    "the load: what a driver keeps of its last statement until the next one (asyncpg's "
    "last two socket reads, up to 128 KiB a connection under orm_kit and 512 KiB under "
    "the others) is not counted"
)


async def _retained(load: Any, plan: Plan, settle: Any = None) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        objs = await load(plan)
        if settle is not None:
            await settle(dataclasses.replace(plan, count_levels=plan.count_levels[:1]))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before, len(objs)


async def measure_memory(
    admin: Admin, impls: list[Implementation], plan: Plan, *, settled: bool = False
) -> dict[str, float]:
    """W5 bytes an object for every implementation that has ``load_objects`` (the same
    method for each: see ``MEMORY_METHOD``), measured after the timed rounds.

    The least of a few loads is kept: anything a load leaves behind that is not the
    objects only ever adds to that load's figure. With ``settled`` each load is followed
    by one more statement (``SETTLED_METHOD``): a driver may keep buffers of its last
    statement until the next, which the plain figure charges to the objects."""
    table = _Table(admin, plan)
    await table.prepare("W5")
    out: dict[str, float] = {}
    for impl in impls:
        load = getattr(impl, "load_objects", None)
        if load is None:
            continue
        await load(plan)  # warm: caches and compiled statements are not the objects' cost
        settle = impl.workloads()["W9"] if settled else None
        figures = [await _retained(load, plan, settle) for _ in range(MEMORY_LOADS)]
        per_object = [size / count for size, count in figures if count]
        if per_object:
            out[impl.name] = min(per_object)
    return out
