"""What the fault tests (test_faults_*.py) share: a scratch database of their own, the model
whose rows come in atomic units, and the checks that nothing was left behind, made from a
SEPARATE connection (stdlib sqlite3, or an admin engine on the PostgreSQL server)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model
from tests.backends import create_database_sql, drop_database_sql


class FaultRow(Model):
    """One row of a unit: a unit writes its ``seq`` 0..N-1 rows atomically, or none."""

    id: Mapped[int] = mapped_column(primary_key=True)
    unit: Mapped[int] = mapped_column(index=True)
    seq: Mapped[int]


TABLES = [Model.metadata.tables["fault_row"]]


@dataclass
class Scratch:
    """A database of the test's own and the means to look at it from outside."""

    backend: str
    url: str
    name: str
    admin: AsyncEngine | None = None  # PostgreSQL: AUTOCOMMIT engine on the server's db
    reader: AsyncEngine | None = None  # PostgreSQL: AUTOCOMMIT engine on the scratch db
    path: Path | None = None  # SQLite: the file
    opened: list[Database] = field(default_factory=list)

    async def database(self, **kwargs: Any) -> Database:
        """A connected Database on the scratch database (``kwargs``: pool settings)."""
        db = Database(self.url, name=f"faults_{len(self.opened)}_{os.getpid()}", **kwargs)
        await db.connect()
        self.opened.append(db)
        return db

    # --- looking from outside -----------------------------------------------------------

    async def unit_counts(self) -> dict[int, int]:
        """``{unit: rows}`` as a separate connection sees it."""
        sql = "SELECT unit, count(*) FROM fault_row GROUP BY unit"
        if self.path is not None:
            with _sqlite(self.path) as conn:
                return dict(conn.execute(sql).fetchall())
        assert self.reader is not None
        async with self.reader.connect() as conn:
            return {int(u): int(n) for u, n in (await conn.execute(text(sql))).all()}

    async def leftovers(self) -> list[str]:
        """What a finished call must not leave: open transactions, held locks (PostgreSQL),
        a held write lock (SQLite). Empty when clean."""
        found: list[str] = []
        if self.path is not None:
            with _sqlite(self.path) as conn:
                try:
                    conn.execute("BEGIN IMMEDIATE")  # timeout 0: fails at once if held
                    conn.execute("ROLLBACK")
                except sqlite3.OperationalError as exc:
                    found.append(f"the write lock is held: another writer gets {exc}")
            return found
        assert self.admin is not None
        if make_url(self.url).get_backend_name() == "mysql":
            return await self._mysql_leftovers()
        async with self.admin.connect() as conn:
            idle = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :n "
                        "AND state LIKE 'idle in transaction%'"
                    ),
                    {"n": self.name},
                )
            ).scalar_one()
            locks = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON l.database = d.oid "
                        "JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE d.datname = :n AND l.locktype = 'relation' AND l.granted "
                        "AND a.backend_type = 'client backend' AND l.pid <> pg_backend_pid()"
                    ),
                    {"n": self.name},
                )
            ).scalar_one()
        if idle:
            found.append(f"{idle} backend(s) idle in transaction")
        if locks:
            async with self.admin.connect() as conn:
                holders = (
                    await conn.execute(
                        text(
                            "SELECT a.pid, a.state, left(a.query, 70), now() - a.state_change "
                            "FROM pg_stat_activity a WHERE a.datname = :n"
                        ),
                        {"n": self.name},
                    )
                ).all()
            shown = [tuple(map(str, h)) for h in holders]
            found.append(f"{locks} relation lock(s) held; the backends: {shown}")
        return found

    async def _mysql_leftovers(self) -> list[str]:
        # NOTE(mysql): InnoDB's open transactions of the scratch database's connections;
        # one that holds row or table locks, or sleeps inside its transaction, is left over.
        assert self.admin is not None
        async with self.admin.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT p.id, p.command, t.trx_tables_locked, t.trx_rows_locked "
                        "FROM information_schema.innodb_trx t JOIN "
                        "information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
                        "WHERE p.db = :n AND p.id <> connection_id()"
                    ),
                    {"n": self.name},
                )
            ).all()
        found = []
        idle = [r for r in rows if r[1] == "Sleep"]
        locking = [r for r in rows if r[2] or r[3]]
        if idle:
            found.append(f"{len(idle)} connection(s) idle in transaction")
        if locking:
            found.append(f"{len(locking)} transaction(s) holding locks: {locking}")
        return found

    async def settled(self) -> None:
        """Wait (up to 10 s) until no backend of the scratch database is in a transaction.

        A leak (a socket never closed: the tests pause the garbage collector) stays past any
        bound; the bound is for a loaded machine, where the server can take seconds to
        notice a closed socket (CI once saw a backend still there after 2 s; 26,000
        iterations on an idle and on a busy machine never did)."""
        for _ in range(1000):
            if not await self.leftovers():
                return
            await asyncio.sleep(0.01)

    async def terminate_all(self) -> int:
        """End every server backend of the scratch database (PostgreSQL); how many."""
        assert self.admin is not None
        if make_url(self.url).get_backend_name() == "mysql":
            return await self._mysql_terminate_all()
        async with self.admin.connect() as conn:
            ended = (
                await conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": self.name},
                )
            ).scalar_one()
            # pg_terminate_backend only signals: wait until the backends are gone.
            await conn.execute(
                text(
                    "DO $$ BEGIN FOR i IN 1..200 LOOP "
                    "EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = "
                    f"'{self.name}' AND pid <> pg_backend_pid()); "
                    "PERFORM pg_sleep(0.01); END LOOP; END $$"
                )
            )
        return int(ended)

    async def _mysql_terminate_all(self) -> int:
        assert self.admin is not None
        query = text(
            "SELECT id FROM information_schema.processlist WHERE db = :n AND id <> connection_id()"
        )
        async with self.admin.connect() as conn:
            ids = [int(i) for i in (await conn.execute(query, {"n": self.name})).scalars()]
            for pid in ids:
                await conn.execute(text(f"KILL CONNECTION {pid}"))
            for _ in range(200):  # until the server has ended them
                if not (await conn.execute(query, {"n": self.name})).first():
                    break
                await asyncio.sleep(0.01)
        return len(ids)


def _sqlite(path: Path) -> closing[sqlite3.Connection]:
    """A connection of the stdlib, no busy wait (a held lock fails at once), closed after."""
    return closing(sqlite3.connect(path, timeout=0, isolation_level=None))


async def checked_out(db: Database) -> int:
    """The connections ``db`` has checked out of its pool, by ``info()``'s figures (which
    run one statement themselves, so they are taken after it)."""
    figures = await db.info()
    assert figures["checked_out"] == db.engine.pool.checkedout()  # type: ignore[attr-defined]
    return int(figures["checked_out"])


@pytest.fixture
async def scratch(backend: str, backend_url: str, tmp_path: Path) -> AsyncIterator[Scratch]:
    """A scratch database with the fault tables, dropped at the end."""
    url = make_url(backend_url)
    if backend == "sqlite":
        path = tmp_path / "faults.db"
        made = Scratch(backend, f"sqlite+aiosqlite:///{path}", path.name, path=path)
    else:
        name = f"{url.database or 'postgres'}_faults_{os.getpid()}"
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(drop_database_sql(url.get_backend_name(), name)))
            await conn.execute(text(create_database_sql(url.get_backend_name(), name)))
        scratch_url = url.set(database=name)
        reader = create_async_engine(
            scratch_url, isolation_level="AUTOCOMMIT", pool_size=1, pool_pre_ping=True
        )
        made = Scratch(
            backend,
            scratch_url.render_as_string(hide_password=False),
            name,
            admin=admin,
            reader=reader,
        )
    setup = create_async_engine(made.url)
    async with setup.begin() as conn:
        await conn.run_sync(Model.metadata.create_all, tables=TABLES)
        if make_url(made.url).get_backend_name() == "postgresql":
            # No autovacuum worker taking locks on the table while the checks look for some.
            await conn.execute(text("ALTER TABLE fault_row SET (autovacuum_enabled = false)"))
    await setup.dispose()
    try:
        yield made
    finally:
        for db in made.opened:
            await db.disconnect()
        if made.reader is not None:
            await made.reader.dispose()
        if made.admin is not None:
            async with made.admin.connect() as conn:
                await conn.execute(text(drop_database_sql(url.get_backend_name(), made.name)))
            await made.admin.dispose()
