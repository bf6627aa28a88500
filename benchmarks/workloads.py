"""The workloads W1-W10 of PERFORMANCE.md, their units, floors and the implementation
interface every contender (orm_kit, Core, ORM, asyncpg) provides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from benchmarks.data import Plan

__all__ = ["FLOORS", "WORKLOADS", "Floor", "Implementation", "Workload", "WorkloadFn"]

WorkloadFn = Callable[[Plan], Awaitable[int | tuple[int, float]]]
"""A workload: returns the units done, or (units, seconds of set-up to exclude)."""
"""Runs one workload and returns the units done (operations, or rows for row workloads)."""


@dataclass(frozen=True, slots=True)
class Workload:
    """One line of the PERFORMANCE.md workload table."""

    id: str
    title: str
    per_row: bool  # rate in rows/s rather than ops/s
    writes: bool  # leaves the table changed (reset before the next run)
    starts_empty: bool = False


WORKLOADS: dict[str, Workload] = {
    w.id: w
    for w in (
        Workload("W1", "insert one row per transaction", per_row=False, writes=True),
        Workload("W2", "bulk insert", per_row=True, writes=True, starts_empty=True),
        Workload("W3", "get by pk", per_row=False, writes=False),
        Workload("W4", "filter ~10 rows", per_row=False, writes=False),
        Workload("W5", "5k rows as objects", per_row=True, writes=False),
        Workload("W6", "values() 20k rows", per_row=True, writes=False),
        Workload("W7", "update by pk", per_row=False, writes=True),
        Workload("W8", "bulk update ~10k rows", per_row=True, writes=True),
        Workload("W9", "filtered count", per_row=False, writes=False),
        Workload("W10", "delete by pk", per_row=False, writes=True),
    )
}


@dataclass(frozen=True, slots=True)
class Floor:
    """The PERFORMANCE.md floor: orm_kit's rate >= ``factor`` x the ``reference`` rate."""

    reference: str  # an implementation name
    factor: float
    label: str


_CORE = "core"
FLOORS: dict[str, Floor] = {
    "W1": Floor(_CORE, 1.0, "≥ 1.00x Core"),
    "W2": Floor(_CORE, 0.9, "≥ 0.90x Core dicts"),
    "W3": Floor(_CORE, 1.0, "≥ 1.00x Core"),
    "W4": Floor(_CORE, 1.0, "≥ 1.00x Core"),
    "W5": Floor("orm", 0.9, "≥ 0.90x ORM select(Model)"),
    "W6": Floor(_CORE, 1.0, "≥ 1.00x Core mappings"),
    "W7": Floor(_CORE, 1.0, "≥ 1.00x Core"),
    "W8": Floor("asyncpg", 0.95, "≥ 0.95x asyncpg"),
    "W9": Floor(_CORE, 1.0, "≥ 1.00x Core"),
    "W10": Floor(_CORE, 1.0, "≥ 1.00x Core"),
}


class Implementation(Protocol):
    """A contender: opens its connections, then runs workloads by key.

    Keys are workload ids (``"W2"``) for the main measurement and ``"W2 <variant>"`` for
    additional variants, which are reported in a table of their own.
    """

    name: str
    title: str

    async def open(self, url: str) -> None: ...

    async def close(self) -> None: ...

    def workloads(self) -> dict[str, WorkloadFn]: ...


def standard_workloads(impl: object) -> dict[str, WorkloadFn]:
    """``{"W1": impl.w1, ..., "W10": impl.w10}``: the methods every implementation has."""
    return {f"W{i}": getattr(impl, f"w{i}") for i in range(1, 11)}
