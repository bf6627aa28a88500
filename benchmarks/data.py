"""Deterministic data and per-workload inputs (seeded random), scaled by ``--scale``."""

from __future__ import annotations

import dataclasses
import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.schema import COLUMNS

__all__ = ["Plan", "make_plan"]

SEED = 20261122
BASE_ROWS = 20_000
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_LETTERS = string.ascii_letters + string.digits + " "


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the workloads need, computed before any timing."""

    seed_rows: list[dict[str, Any]]  # the data every workload but W2 starts from
    seed_tuples: list[tuple[Any, ...]]  # the same rows as tuples in COLUMNS order
    insert_rows: list[dict[str, Any]]  # W2 (the seed rows, into an empty table)
    insert_tuples: list[tuple[Any, ...]]
    new_rows: list[dict[str, Any]]  # W1
    new_tuples: list[tuple[Any, ...]]
    get_ids: list[int]  # W3
    filter_levels: list[int]  # W4
    many_level_lt: int  # W5
    many_reps: int
    values_reps: int  # W6
    update_ids: list[int]  # W7
    bulk_level_lt: int  # W8
    bulk_reps: int
    count_levels: list[int]  # W9
    delete_ids: list[int]  # W10

    def head(self, n: int) -> Plan:
        """A small copy (first ``n`` ops, one repetition) for warming caches up."""
        rows = max(n * 10, 1)
        return dataclasses.replace(
            self,
            insert_rows=self.insert_rows[:rows],
            insert_tuples=self.insert_tuples[:rows],
            new_rows=self.new_rows[:n],
            new_tuples=self.new_tuples[:n],
            get_ids=self.get_ids[:n],
            filter_levels=self.filter_levels[:n],
            many_reps=1,
            values_reps=1,
            update_ids=self.update_ids[:n],
            bulk_reps=1,
            count_levels=self.count_levels[:n],
            delete_ids=self.delete_ids[:n],
        )


def _row(rng: random.Random, levels: int) -> dict[str, Any]:
    return {
        "created_at": _EPOCH + timedelta(seconds=rng.randrange(10_000_000)),
        "level": rng.randrange(levels),
        "name": "".join(rng.choices(_LETTERS, k=rng.randrange(10, 60))),
        "active": rng.random() < 0.5,
        "note": None if rng.random() < 0.5 else "".join(rng.choices(_LETTERS, k=40)),
        "score": rng.random() * 1000.0,
        "counter": rng.randrange(1000),
    }


def _tuples(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in COLUMNS) for r in rows]


def _count(base: int, scale: float) -> int:
    return max(1, round(base * scale))


def make_plan(scale: float = 1.0, ops: int | None = None) -> Plan:
    """Build the inputs: ``scale`` multiplies op and row counts; ``ops`` fixes the op count
    of the per-operation workloads (W1, W3, W4, W7, W9, W10), e.g. for profiling."""
    rng = random.Random(SEED)
    n_rows = max(100, round(BASE_ROWS * scale))
    levels = max(4, n_rows // 10)  # ~10 rows per level

    def n(base: int) -> int:
        return ops if ops is not None else _count(base, scale)

    seed_rows = [_row(rng, levels) for _ in range(n_rows)]
    new_rows = [_row(rng, levels) for _ in range(n(2_000))]
    seed_tuples = _tuples(seed_rows)
    return Plan(
        seed_rows=seed_rows,
        seed_tuples=seed_tuples,
        insert_rows=seed_rows,
        insert_tuples=seed_tuples,
        new_rows=new_rows,
        new_tuples=_tuples(new_rows),
        get_ids=[rng.randint(1, n_rows) for _ in range(n(5_000))],
        filter_levels=[rng.randrange(levels) for _ in range(n(2_000))],
        many_level_lt=levels // 4,  # ~5,000 rows of 20,000
        many_reps=_count(10, scale),
        values_reps=_count(5, scale),
        update_ids=[rng.randint(1, n_rows) for _ in range(n(2_000))],
        bulk_level_lt=levels // 2,  # ~10,000 rows of 20,000
        bulk_reps=_count(5, scale),
        count_levels=[rng.randrange(levels) for _ in range(n(2_000))],
        delete_ids=rng.sample(range(1, n_rows + 1), min(n(1_000), n_rows)),
    )
