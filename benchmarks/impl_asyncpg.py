"""(d) Raw asyncpg: hand-written SQL on one pool (PostgreSQL only)."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from benchmarks.data import Plan
from benchmarks.schema import COLUMNS, TABLE
from benchmarks.workloads import WorkloadFn, standard_workloads

__all__ = ["AsyncpgImpl", "asyncpg_dsn"]

_COLS = ", ".join(COLUMNS)
_ALL = f"id, {_COLS}"
_INSERT = f"INSERT INTO {TABLE} ({_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
_INSERT_ONE = f"{_INSERT} RETURNING id"
_GET = f"SELECT {_ALL} FROM {TABLE} WHERE id = $1"
_FILTER_EQ = f"SELECT {_ALL} FROM {TABLE} WHERE level = $1"
_FILTER_LT = f"SELECT {_ALL} FROM {TABLE} WHERE level < $1"
_VALUES = f"SELECT {_ALL} FROM {TABLE}"
_UPDATE_ONE = f"UPDATE {TABLE} SET counter = $1 WHERE id = $2"
_UPDATE_LT = f"UPDATE {TABLE} SET counter = $1 WHERE level < $2"
_COUNT = f"SELECT count(*) FROM {TABLE} WHERE level = $1"
_DELETE = f"DELETE FROM {TABLE} WHERE id = $1"


def asyncpg_dsn(url: str) -> str:
    """Turn a SQLAlchemy ``postgresql+asyncpg://`` URL into an asyncpg DSN."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _rowcount(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class AsyncpgImpl:
    """Hand SQL on an ``asyncpg`` pool (its default reset-on-release included)."""

    name = "asyncpg"
    title = "asyncpg"

    def __init__(self) -> None:
        self._pool: asyncpg.Pool[Any] | None = None

    @property
    def pool(self) -> asyncpg.Pool[Any]:
        assert self._pool is not None, "open() first"
        return self._pool

    async def open(self, url: str) -> None:
        self._pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=5)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def workloads(self) -> dict[str, WorkloadFn]:
        return {
            **standard_workloads(self),
            "W2 COPY": self.w2_copy,
        }

    async def w1(self, plan: Plan) -> int:
        for values in plan.new_tuples:
            await self.pool.fetchval(_INSERT_ONE, *values)
        return len(plan.new_tuples)

    async def w2(self, plan: Plan) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(_INSERT, plan.insert_tuples)
        return len(plan.insert_tuples)

    async def w2_copy(self, plan: Plan) -> int:
        async with self.pool.acquire() as conn:
            await conn.copy_records_to_table(TABLE, records=plan.insert_tuples, columns=COLUMNS)
        return len(plan.insert_tuples)

    async def w3(self, plan: Plan) -> int:
        found = 0
        for pk in plan.get_ids:
            row = await self.pool.fetchrow(_GET, pk)
            found += row is not None and row["id"] == pk
        return found

    async def w4(self, plan: Plan) -> int:
        for level in plan.filter_levels:
            await self.pool.fetch(_FILTER_EQ, level)
        return len(plan.filter_levels)

    async def w5(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.many_reps):
            rows += len(await self.pool.fetch(_FILTER_LT, plan.many_level_lt))
        return rows

    async def w6(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.values_reps):
            rows += len(await self.pool.fetch(_VALUES))  # Records are read-only mappings
        return rows

    async def w7(self, plan: Plan) -> int:
        done = 0
        for i, pk in enumerate(plan.update_ids):
            done += _rowcount(await self.pool.execute(_UPDATE_ONE, i, pk))
        return done

    async def w8(self, plan: Plan) -> int:
        done = 0
        for rep in range(plan.bulk_reps):
            done += _rowcount(await self.pool.execute(_UPDATE_LT, rep, plan.bulk_level_lt))
        return done

    async def w9(self, plan: Plan) -> int:
        total = 0
        for level in plan.count_levels:
            total += await self.pool.fetchval(_COUNT, level) >= 0
        return total

    async def w10(self, plan: Plan) -> int:
        done = 0
        for pk in plan.delete_ids:
            done += _rowcount(await self.pool.execute(_DELETE, pk))
        return done
