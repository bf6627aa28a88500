"""Connections that run out or die: a pool timeout names the pool; a server that ends every
backend gives one typed error (none with pre-ping) and the next call works; a stream or a
COPY whose connection is ended reports that, not its failed rollback. After each, seen from
outside, no connection is checked out and no transaction or lock is left."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from orm_kit import Database, DatabaseUnavailableError
from orm_kit.query.copy import COPY_MIN_ROWS
from tests.integration.faults_support import FaultRow, Scratch, checked_out, scratch

__all__ = ["scratch"]  # the fixture, imported for the tests below


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes (the original errors orm_kit kept on ``__cause__``)."""
    found: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(found) < 10:
        found.append(cause)
        cause = cause.__cause__
    return found


def _assert_original_error(error: DatabaseUnavailableError) -> None:
    """The error reports the lost connection, not the rollback that could not follow it."""
    causes = _chain(error)[1:]
    assert causes, "the original error is not kept on __cause__"
    text_of_causes = " | ".join(f"{type(c).__name__}: {c}" for c in causes)
    assert "rollback" not in text_of_causes.lower(), text_of_causes
    lost = ("connection", "terminat")
    # (asyncpg may report a protocol-state error for the operation the loss cut short; the
    # failed rollback after it is what shows the connection was lost, and orm_kit says so)
    assert any(w in text_of_causes.lower() for w in lost) or "connection was lost" in str(error)


async def _assert_clean(scratch: Scratch, db: Database) -> None:
    assert await scratch.leftovers() == []
    assert await checked_out(db) == 0


# --- pool exhaustion ------------------------------------------------------------------


async def test_pool_timeout_names_the_pool(scratch: Scratch) -> None:
    db = await scratch.database(pool_size=1, max_overflow=0, pool_timeout=0.5)
    rows = FaultRow.objects.using(db)
    async with db.session() as session:
        await session.connection()  # the session holds the pool's only connection
        started = time.perf_counter()
        with pytest.raises(DatabaseUnavailableError) as caught:
            await asyncio.create_task(rows.count())  # another task: the direct path
        waited = time.perf_counter() - started
    message = str(caught.value)
    print(f"faults pool timeout [{scratch.backend}]: error after {waited * 1000:.0f} ms: {message}")
    assert "could not be reached" not in message
    assert "pool size 1, max overflow 0" in message
    assert "pool timeout of 0.5 s" in message
    assert "DATABASE_POOL_SIZE" in message
    assert "Release sessions sooner" in message
    assert await rows.count() == 0  # released: the next call gets the connection
    await _assert_clean(scratch, db)


# --- every backend ended by the server (PostgreSQL) ----------------------------------------


async def _warm(db: Database, connections: int) -> None:
    """Fill the pool with ``connections`` open connections."""

    async def hold() -> None:
        async with db.session() as session:
            await session.execute(text("SELECT pg_sleep(0.05)"))

    await asyncio.gather(*(hold() for _ in range(connections)))
    assert db.engine.pool.checkedin() == connections  # type: ignore[attr-defined]


@pytest.mark.requires("refused_connections")
@pytest.mark.parametrize("pre_ping", [False, True], ids=["no_pre_ping", "pre_ping"])
@pytest.mark.parametrize("path", ["direct", "session"])
async def test_terminated_backends(scratch: Scratch, pre_ping: bool, path: str) -> None:
    db = await scratch.database(pool_size=3, pool_pre_ping=pre_ping)
    rows = FaultRow.objects.using(db)

    async def call(unit: int) -> int:
        if path == "direct":
            await rows.create(unit=unit, seq=0)
            return await rows.filter(unit=unit).count()
        async with db.session():
            await FaultRow.objects.create(unit=unit, seq=0)
            return await FaultRow.objects.filter(unit=unit).count()

    await _warm(db, 3)
    assert await scratch.terminate_all() >= 3
    started = time.perf_counter()
    if pre_ping:
        assert await call(1) == 1  # the ping saw the dead connection and replaced it
        first = time.perf_counter() - started
        outcome = f"succeeded outright in {first * 1000:.1f} ms"
    else:
        with pytest.raises(DatabaseUnavailableError) as caught:
            await call(1)
        first = time.perf_counter() - started
        assert await scratch.unit_counts() == {}  # nothing of the failed call was kept
        _assert_original_error(caught.value)
        again = time.perf_counter()
        assert await call(2) == 1  # the pool dropped every dead connection at once
        outcome = (
            f"first call DatabaseUnavailableError in {first * 1000:.1f} ms, "
            f"next call succeeded in {(time.perf_counter() - again) * 1000:.1f} ms"
        )
    print(f"faults terminate [{path}, pre_ping={pre_ping}]: {outcome}")
    await _assert_clean(scratch, db)


# --- a stream or a COPY whose connection is ended under it (PostgreSQL) ------------------


@pytest.mark.requires("refused_connections")
@pytest.mark.parametrize("how", ["async_for", "iterator"])
async def test_a_stream_cut_off_reports_the_lost_connection(scratch: Scratch, how: str) -> None:
    db = await scratch.database()
    rows = FaultRow.objects.using(db)
    await rows.bulk_create([FaultRow(unit=1, seq=k) for k in range(2000)])
    seen = 0
    with pytest.raises(DatabaseUnavailableError) as caught:
        stream = rows.order_by("id") if how == "async_for" else rows.iterator(chunk_size=100)
        async for _row in stream:
            seen += 1
            if seen == 1:  # the server-side cursor is open, more chunks to come
                await scratch.terminate_all()
    assert 1 <= seen < 2000
    _assert_original_error(caught.value)
    await _assert_clean(scratch, db)
    assert len(await rows.filter(unit=1)) == 2000  # and the next call works


@pytest.mark.requires("refused_connections")
async def test_a_stream_on_a_dead_pooled_connection_reports_it(scratch: Scratch) -> None:
    db = await scratch.database()
    rows = FaultRow.objects.using(db)
    await rows.bulk_create([FaultRow(unit=1, seq=k) for k in range(10)])
    await scratch.terminate_all()
    with pytest.raises(DatabaseUnavailableError) as caught:
        async for _row in rows.iterator(chunk_size=5):
            pass
    _assert_original_error(caught.value)
    await _assert_clean(scratch, db)
    assert [r.seq async for r in rows.order_by("seq").iterator(chunk_size=5)] == list(range(10))


async def _terminate_when_copying(scratch: Scratch) -> None:
    """End the scratch database's backends once one of them runs a COPY."""
    assert scratch.admin is not None
    for _ in range(2000):
        async with scratch.admin.connect() as conn:
            copying = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :n "
                        "AND state = 'active' AND query LIKE 'COPY%'"
                    ),
                    {"n": scratch.name},
                )
            ).scalar_one()
        if copying:
            await scratch.terminate_all()
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the COPY never showed in pg_stat_activity")


@pytest.mark.requires("refused_connections", "copy_bulk_insert")
async def test_a_copy_cut_off_reports_the_lost_connection(scratch: Scratch) -> None:
    db = await scratch.database()
    rows = FaultRow.objects.using(db)
    many = 100 * COPY_MIN_ROWS  # a COPY long enough to be caught running
    write = asyncio.create_task(rows.bulk_create([FaultRow(unit=7, seq=k) for k in range(many)]))
    await _terminate_when_copying(scratch)
    with pytest.raises(DatabaseUnavailableError) as caught:
        await write
    _assert_original_error(caught.value)
    await _assert_clean(scratch, db)
    assert await scratch.unit_counts() == {}  # the COPY's transaction was rolled back
    await rows.bulk_create([FaultRow(unit=8, seq=k) for k in range(COPY_MIN_ROWS)])
    assert await scratch.unit_counts() == {8: COPY_MIN_ROWS}  # and COPY works again
