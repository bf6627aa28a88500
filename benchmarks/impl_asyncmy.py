"""(d'') Raw asyncmy: hand-written SQL on one connection (MariaDB / MySQL only).

The MariaDB counterpart of ``impl_asyncpg`` and ``impl_aiosqlite``: one ``asyncmy``
connection in autocommit, every single statement one ``execute`` on a cursor (one round
trip; W1 reads the new key from ``lastrowid``, which the server's reply carries, where
asyncpg uses ``RETURNING``), and only the bulk insert opens a transaction
(``executemany``, which asyncmy sends as multi-row ``INSERT`` statements). The driver's
defaults otherwise: the text protocol (no server-side prepared statements, as SQLAlchemy
uses it), rows as tuples, converted to Python values by asyncmy's own converters (``BOOL``
stays an int). ``values()`` (W6) reads dicts through asyncmy's ``DictCursor``, as the
others return mappings. The connection reports rows matched, not rows changed, by an
``UPDATE`` (``CLIENT.FOUND_ROWS``, as SQLAlchemy sets it and as PostgreSQL and SQLite
count), so W7 and W8 count the same rows on every backend.
"""

from __future__ import annotations

from typing import Any

import asyncmy
from asyncmy.constants import CLIENT
from asyncmy.cursors import DictCursor
from sqlalchemy.engine import make_url

from benchmarks.data import Plan
from benchmarks.schema import COLUMNS, TABLE
from benchmarks.workloads import WorkloadFn, standard_workloads

__all__ = ["AsyncmyImpl", "asyncmy_connect_args"]

_COLS = ", ".join(COLUMNS)
_ALL = f"id, {_COLS}"
_INSERT = f"INSERT INTO {TABLE} ({_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
_GET = f"SELECT {_ALL} FROM {TABLE} WHERE id = %s"
_FILTER_EQ = f"SELECT {_ALL} FROM {TABLE} WHERE level = %s"
_FILTER_LT = f"SELECT {_ALL} FROM {TABLE} WHERE level < %s"
_VALUES = f"SELECT {_ALL} FROM {TABLE}"
_UPDATE_ONE = f"UPDATE {TABLE} SET counter = %s WHERE id = %s"
_UPDATE_LT = f"UPDATE {TABLE} SET counter = %s WHERE level < %s"
_COUNT = f"SELECT count(*) FROM {TABLE} WHERE level = %s"
_DELETE = f"DELETE FROM {TABLE} WHERE id = %s"


def asyncmy_connect_args(url: str) -> dict[str, Any]:
    """``asyncmy.connect()`` arguments for a SQLAlchemy ``mysql+asyncmy://`` URL."""
    parsed = make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": parsed.username or "root",
        "password": parsed.password or "",
        "db": parsed.database,
        "charset": "utf8mb4",
        "autocommit": True,
        "client_flag": CLIENT.FOUND_ROWS,
    }


class AsyncmyImpl:
    """Hand SQL on one ``asyncmy`` connection in autocommit."""

    name = "asyncmy"
    title = "asyncmy"

    def __init__(self) -> None:
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        assert self._conn is not None, "open() first"
        return self._conn

    async def open(self, url: str) -> None:
        self._conn = await asyncmy.connect(**asyncmy_connect_args(url))

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.ensure_closed()
            self._conn = None

    def workloads(self) -> dict[str, WorkloadFn]:
        return standard_workloads(self)

    async def w1(self, plan: Plan) -> int:
        created = 0
        async with self.conn.cursor() as cur:
            for values in plan.new_tuples:
                await cur.execute(_INSERT, values)
                created += cur.lastrowid > 0  # the new key, from the server's OK packet
        return created

    async def w2(self, plan: Plan) -> int:
        conn = self.conn
        await conn.begin()
        try:
            async with conn.cursor() as cur:
                await cur.executemany(_INSERT, plan.insert_tuples)
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
        return len(plan.insert_tuples)

    async def w3(self, plan: Plan) -> int:
        found = 0
        async with self.conn.cursor() as cur:
            for pk in plan.get_ids:
                await cur.execute(_GET, (pk,))
                row = await cur.fetchone()
                found += row is not None and row[0] == pk
        return found

    async def w4(self, plan: Plan) -> int:
        async with self.conn.cursor() as cur:
            for level in plan.filter_levels:
                await cur.execute(_FILTER_EQ, (level,))
                await cur.fetchall()
        return len(plan.filter_levels)

    async def w5(self, plan: Plan) -> int:
        rows = 0
        async with self.conn.cursor() as cur:
            for _ in range(plan.many_reps):
                await cur.execute(_FILTER_LT, (plan.many_level_lt,))
                rows += len(await cur.fetchall())
        return rows

    async def w6(self, plan: Plan) -> int:
        rows = 0
        async with self.conn.cursor(DictCursor) as cur:
            for _ in range(plan.values_reps):
                await cur.execute(_VALUES)
                rows += len(await cur.fetchall())
        return rows

    async def w7(self, plan: Plan) -> int:
        done = 0
        async with self.conn.cursor() as cur:
            for i, pk in enumerate(plan.update_ids):
                done += await cur.execute(_UPDATE_ONE, (i, pk))
        return done

    async def w8(self, plan: Plan) -> int:
        done = 0
        async with self.conn.cursor() as cur:
            for rep in range(plan.bulk_reps):
                done += await cur.execute(_UPDATE_LT, (rep, plan.bulk_level_lt))
        return done

    async def w9(self, plan: Plan) -> int:
        total = 0
        async with self.conn.cursor() as cur:
            for level in plan.count_levels:
                await cur.execute(_COUNT, (level,))
                row = await cur.fetchone()
                total += row[0] >= 0
        return total

    async def w10(self, plan: Plan) -> int:
        done = 0
        async with self.conn.cursor() as cur:
            for pk in plan.delete_ids:
                done += await cur.execute(_DELETE, (pk,))
        return done
