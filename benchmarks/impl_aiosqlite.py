"""(d') Raw aiosqlite: hand-written SQL on one connection (SQLite only).

The SQLite counterpart of ``impl_asyncpg``: the connection is in autocommit
(``isolation_level=None``), every single statement is one ``execute`` (or
``execute_fetchall``: one trip to aiosqlite's thread), and only the bulk insert opens a
transaction. Rows come back as ``sqlite3.Row`` (C mappings, like asyncpg's Records) with
the stored values as they are: no type conversion, so this is the driver's upper bound.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import aiosqlite
from sqlalchemy.engine import make_url

from benchmarks.data import Plan
from benchmarks.schema import COLUMNS, TABLE
from benchmarks.workloads import WorkloadFn, standard_workloads

__all__ = ["AiosqliteImpl"]

_COLS = ", ".join(COLUMNS)
_ALL = f"id, {_COLS}"
_INSERT = f"INSERT INTO {TABLE} ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_ONE = f"{_INSERT} RETURNING id"
_GET = f"SELECT {_ALL} FROM {TABLE} WHERE id = ?"
_FILTER_EQ = f"SELECT {_ALL} FROM {TABLE} WHERE level = ?"
_FILTER_LT = f"SELECT {_ALL} FROM {TABLE} WHERE level < ?"
_VALUES = f"SELECT {_ALL} FROM {TABLE}"
_UPDATE_ONE = f"UPDATE {TABLE} SET counter = ? WHERE id = ?"
_UPDATE_LT = f"UPDATE {TABLE} SET counter = ? WHERE level < ?"
_COUNT = f"SELECT count(*) FROM {TABLE} WHERE level = ?"
_DELETE = f"DELETE FROM {TABLE} WHERE id = ?"


def _stored(value: Any) -> Any:
    """A parameter as the table stores it: datetimes as SQLAlchemy's SQLite text format
    (explicitly, so no process-wide sqlite3 adapter, e.g. Piccolo's, changes it)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def _params(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_stored(v) for v in values)


class AiosqliteImpl:
    """Hand SQL on one ``aiosqlite`` connection in autocommit."""

    name = "aiosqlite"
    title = "aiosqlite"

    def __init__(self) -> None:
        self._conn: aiosqlite.Connection | None = None

    @property
    def conn(self) -> aiosqlite.Connection:
        assert self._conn is not None, "open() first"
        return self._conn

    async def open(self, url: str) -> None:
        path = make_url(url).database
        assert path, "a SQLite file URL"
        self._conn = await aiosqlite.connect(path, isolation_level=None)
        self._conn.row_factory = sqlite3.Row

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def workloads(self) -> dict[str, WorkloadFn]:
        return standard_workloads(self)

    async def w1(self, plan: Plan) -> int:
        run = self.conn.execute_fetchall
        for values in plan.new_tuples:
            await run(_INSERT_ONE, _params(values))
        return len(plan.new_tuples)

    async def w2(self, plan: Plan) -> int:
        conn = self.conn
        await conn.execute("BEGIN")
        try:
            await conn.executemany(_INSERT, [_params(v) for v in plan.insert_tuples])
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
        return len(plan.insert_tuples)

    async def w3(self, plan: Plan) -> int:
        run = self.conn.execute_fetchall
        found = 0
        for pk in plan.get_ids:
            rows = list(await run(_GET, (pk,)))
            found += len(rows) == 1 and rows[0]["id"] == pk
        return found

    async def w4(self, plan: Plan) -> int:
        run = self.conn.execute_fetchall
        for level in plan.filter_levels:
            await run(_FILTER_EQ, (level,))
        return len(plan.filter_levels)

    async def w5(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.many_reps):
            rows += len(list(await self.conn.execute_fetchall(_FILTER_LT, (plan.many_level_lt,))))
        return rows

    async def w6(self, plan: Plan) -> int:
        rows = 0
        for _ in range(plan.values_reps):
            rows += len(list(await self.conn.execute_fetchall(_VALUES)))
        return rows

    async def _rowcount(self, sql: str, params: tuple[Any, ...]) -> int:
        cursor = await self.conn.execute(sql, params)
        return cursor.rowcount

    async def w7(self, plan: Plan) -> int:
        done = 0
        for i, pk in enumerate(plan.update_ids):
            done += await self._rowcount(_UPDATE_ONE, (i, pk))
        return done

    async def w8(self, plan: Plan) -> int:
        done = 0
        for rep in range(plan.bulk_reps):
            done += await self._rowcount(_UPDATE_LT, (rep, plan.bulk_level_lt))
        return done

    async def w9(self, plan: Plan) -> int:
        run = self.conn.execute_fetchall
        total = 0
        for level in plan.count_levels:
            rows = list(await run(_COUNT, (level,)))
            total += rows[0][0] >= 0
        return total

    async def w10(self, plan: Plan) -> int:
        done = 0
        for pk in plan.delete_ids:
            done += await self._rowcount(_DELETE, (pk,))
        return done
