"""The read-replica router's decisions that need no server: which statements may go to a
replica, the WAL position a standby stops at, the scope of ``primary()``, bad settings.

The routing itself runs against a real primary and replica in
tests/integration/test_replicas.py.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import column, delete, insert, select, table, text, union_all, update

from orm_kit import Database, ValidationError
from orm_kit.replicas import _force_primary, is_plain_read, primary, wal_end

t = table("t", column("id"))


def test_only_select_constructs_without_for_update_are_plain_reads() -> None:
    assert is_plain_read(select(t))
    assert is_plain_read(union_all(select(t), select(t)))
    assert not is_plain_read(select(t).with_for_update())
    assert not is_plain_read(select(t).with_for_update(skip_locked=True))
    assert not is_plain_read(insert(t).values(id=1))
    assert not is_plain_read(update(t).values(id=1))
    assert not is_plain_read(delete(t))
    assert not is_plain_read(text("SELECT 1"))  # may call a function that writes


def test_wal_end_moves_a_position_after_a_page_header_back_to_the_page_boundary() -> None:
    block, segment = 8192, 16 * 1024 * 1024
    # Right after basebackup's segment switch: the insert position is 0/3000028 (a long
    # header) while the standby has replayed up to 0/3000000.
    assert wal_end(0x3000028, block, segment) == 0x3000000
    assert wal_end(0x3002018, block, segment) == 0x3002000  # a short page header
    assert wal_end(0x3001150, block, segment) == 0x3001150  # mid-page: a record's end
    assert wal_end(0x3002028, block, segment) == 0x3002028  # 40 bytes in, not a segment start


async def test_primary_holds_for_the_task_and_the_tasks_it_starts() -> None:
    assert not _force_primary.get()
    with primary():
        assert _force_primary.get()
        assert await asyncio.create_task(_forced())
    assert not _force_primary.get()
    assert not await asyncio.create_task(_forced())


async def _forced() -> bool:
    return _force_primary.get()


def test_a_replica_of_another_dialect_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a postgresql database like the primary"):
        Database("postgresql+asyncpg://u@h/db", replicas=["sqlite+aiosqlite:///r.db"])


def test_negative_windows_are_refused() -> None:
    with pytest.raises(ValidationError, match="must not be negative"):
        Database(
            "sqlite+aiosqlite:///p.db", replicas=["sqlite+aiosqlite:///r.db"], replica_cooldown=-1
        )


def test_the_consistency_mode_follows_the_backend_and_the_window_setting() -> None:
    pg = Database("postgresql+asyncpg://u@h/db", replicas=["postgresql+asyncpg://u@r/db"])
    assert pg.router is not None and pg.router.lsn
    window = Database(
        "postgresql+asyncpg://u@h/db",
        replicas=["postgresql+asyncpg://u@r/db"],
        replica_lag_window=0.5,
    )
    assert window.router is not None and not window.router.lsn
    assert window.router.lag_window == 0.5
    lite = Database("sqlite+aiosqlite:///p.db", replicas=["sqlite+aiosqlite:///r.db"])
    assert lite.router is not None and not lite.router.lsn and lite.router.lag_window == 2.0
    assert Database("sqlite+aiosqlite:///p.db").router is None  # no replicas: no router
