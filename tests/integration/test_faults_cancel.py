"""Tasks cancelled at random points of a unit of work, of nested savepoints and of an
autocommit bulk_create: afterwards, seen from a separate connection, every unit is whole or
absent, no connection is checked out, no transaction or lock is left (PostgreSQL), and the
write lock is free (SQLite).

The cancel delays come from ``random.Random(seed)`` (the seed is in the test id and every
failure message); they spread over the time an uncancelled unit takes, so some tasks are
cancelled before they start, many half-way, and some complete.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event

from orm_kit import Database
from orm_kit.query.copy import COPY_MIN_ROWS
from tests.integration.faults_support import FaultRow, Scratch, checked_out, scratch

__all__ = ["scratch"]  # the fixture, imported for the tests below

ITERATIONS = 200
ROWS = 4  # rows per unit
SEED = 1212


class _UndoError(Exception):
    """Raised to roll a savepoint back on purpose."""


@dataclass
class Tally:
    """What happened to the cancelled tasks of one scenario."""

    scenario: str
    backend: str
    iterations: int = 0
    completed: int = 0
    cancelled: int = 0
    cancelled_rolled_back: int = 0  # cancelled, and the unit left nothing
    cancelled_committed: int = 0  # cancelled after the commit had been made
    partial: int = 0

    def line(self) -> str:
        return (
            f"faults cancel {self.scenario} [{self.backend}]: {self.iterations} iterations, "
            f"{self.completed} completed, {self.cancelled} cancelled mid-way "
            f"({self.cancelled_rolled_back} rolled back, {self.cancelled_committed} committed "
            f"before the cancel landed), {self.partial} partial units"
        )


@contextmanager
def _no_garbage_collector() -> Iterator[None]:
    # The SQLite lock bug hid behind the garbage collector (it freed the lock when it
    # happened to run): with it paused, a lock left behind stays visible to the check.
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


async def _cancel_at_random(
    scratch: Scratch,
    db: Database,
    scenario: str,
    unit: Callable[[int], Coroutine[Any, Any, None]],
    *,
    iterations: int = ITERATIONS,
    rows: int = ROWS,
    seed: int = SEED,
    twice: bool = False,
) -> Tally:
    """Run ``unit(i)`` ``iterations`` times, each cancelled after a seeded random delay,
    checking after each that nothing was left behind; return what happened."""
    for warm in range(2):  # connections and caches
        await unit(1_000_000 + warm)
    took = []
    for measured in range(5):  # how long one uncancelled unit takes
        started = time.perf_counter()
        await unit(1_000_100 + measured)
        took.append(time.perf_counter() - started)
    typical = statistics.median(took)
    rng = random.Random(f"{seed}-{scenario}-{scratch.backend}")
    tally = Tally(scenario, scratch.backend)
    outcomes: dict[int, str] = {}
    with _no_garbage_collector():
        for i in range(iterations):
            delay = rng.uniform(0, 1.3 * typical)
            where = f"{scenario} iteration {i} (seed {seed}, cancel after {delay * 1000:.2f} ms)"
            task = asyncio.create_task(unit(i))
            done, _ = await asyncio.wait({task}, timeout=delay)
            if not done:
                task.cancel()
                if twice:  # and again while it cleans up (a timeout inside a timeout)
                    for _ in range(rng.randrange(1, 8)):
                        await asyncio.sleep(0)
                    task.cancel()
            try:
                await task
                outcomes[i] = "completed"
            except asyncio.CancelledError:
                outcomes[i] = "cancelled"
            if twice and scratch.admin is not None:
                # NOTE(postgresql): a second cancellation can cut SQLAlchemy's graceful close
                # of the connection it invalidated short; the socket is then closed at once
                # and the server ends the backend (rolling back) as soon as it reads that,
                # a moment later. Wait for that moment, boundedly.
                await scratch.settled()
            assert await scratch.leftovers() == [], where
            assert await checked_out(db) == 0, where
    counts = await scratch.unit_counts()
    tally.iterations = iterations
    kinds = Counter(outcomes.values())
    tally.completed, tally.cancelled = kinds["completed"], kinds["cancelled"]
    for i, outcome in outcomes.items():
        n = counts.get(i, 0)
        if n not in (0, rows):
            tally.partial += 1
        elif outcome == "completed":
            assert n == rows, f"{scenario}: unit {i} completed but has {n} rows (seed {seed})"
        elif n:
            tally.cancelled_committed += 1
        else:
            tally.cancelled_rolled_back += 1
    print(tally.line())
    assert tally.partial == 0, tally.line()
    assert not [u for u in counts if u < 0], f"{scenario}: a rolled-back savepoint's rows stayed"
    # The delays must really cancel work under way, or the test proves little. (How many
    # complete depends on the machine's load: the delays follow the measured unit time.)
    assert tally.cancelled >= iterations // 10, tally.line()
    return tally


@pytest.mark.parametrize("seed", [SEED], ids=lambda s: f"seed{s}")
async def test_cancelled_session_leaves_nothing_behind(scratch: Scratch, seed: int) -> None:
    db = await scratch.database()

    async def unit(i: int) -> None:
        async with db.session():
            for k in range(ROWS):
                await FaultRow.objects.create(unit=i, seq=k)

    await _cancel_at_random(scratch, db, "session", unit, seed=seed)


@pytest.mark.parametrize("seed", [SEED], ids=lambda s: f"seed{s}")
async def test_twice_cancelled_session_leaves_nothing_behind(scratch: Scratch, seed: int) -> None:
    db = await scratch.database()

    async def unit(i: int) -> None:
        async with db.session():
            for k in range(ROWS):
                await FaultRow.objects.create(unit=i, seq=k)

    await _cancel_at_random(scratch, db, "session cancelled twice", unit, seed=seed, twice=True)


@pytest.mark.parametrize("seed", [SEED], ids=lambda s: f"seed{s}")
async def test_cancelled_nested_transactions_leave_nothing_behind(
    scratch: Scratch, seed: int
) -> None:
    db = await scratch.database()

    async def unit(i: int) -> None:
        async with db.transaction():
            await FaultRow.objects.create(unit=i, seq=0)
            async with db.transaction():  # SAVEPOINT
                await FaultRow.objects.create(unit=i, seq=1)
                try:
                    async with db.transaction():  # a SAVEPOINT rolled back on purpose
                        await FaultRow.objects.create(unit=-1 - i, seq=0)
                        raise _UndoError
                except _UndoError:
                    pass
                await FaultRow.objects.create(unit=i, seq=2)
            await FaultRow.objects.create(unit=i, seq=3)

    await _cancel_at_random(scratch, db, "nested transactions", unit, seed=seed)


@pytest.mark.parametrize("seed", [SEED], ids=lambda s: f"seed{s}")
async def test_cancelled_autocommit_bulk_create_leaves_nothing_behind(
    scratch: Scratch, seed: int
) -> None:
    db = await scratch.database()
    rows = FaultRow.objects.using(db)

    async def unit(i: int) -> None:
        await rows.bulk_create([FaultRow(unit=i, seq=k) for k in range(ROWS)])

    await _cancel_at_random(scratch, db, "bulk_create", unit, seed=seed)


@pytest.mark.requires("copy_bulk_insert")
@pytest.mark.parametrize("seed", [SEED], ids=lambda s: f"seed{s}")
async def test_cancelled_copy_bulk_create_leaves_nothing_behind(
    scratch: Scratch, seed: int
) -> None:
    db = await scratch.database()
    rows = FaultRow.objects.using(db)

    async def unit(i: int) -> None:
        await rows.bulk_create([FaultRow(unit=i, seq=k) for k in range(COPY_MIN_ROWS)])

    await _cancel_at_random(
        scratch, db, "bulk_create by COPY", unit, iterations=40, rows=COPY_MIN_ROWS, seed=seed
    )


async def test_another_writer_goes_on_after_a_cancelled_write(scratch: Scratch) -> None:
    """The SQLite lock bug, deterministically: cancel a bulk_create while its statement is
    in flight; a second Database on the same file must write at once."""
    db = await scratch.database()
    # NOTE(sqlite): no busy wait: a held lock fails the write at once.
    other = await scratch.database(
        **({"connect_args": {"timeout": 0}} if scratch.backend == "sqlite" else {})
    )
    sent = asyncio.Event()

    def on_execute(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("INSERT"):
            sent.set()

    event.listen(db.engine.sync_engine, "before_cursor_execute", on_execute)
    with _no_garbage_collector():
        for size in (1, 50, 500):
            sent.clear()
            task = asyncio.create_task(
                FaultRow.objects.using(db).bulk_create(
                    [FaultRow(unit=size, seq=k) for k in range(size)]
                )
            )
            await sent.wait()  # the INSERT is on its way to the database
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            if scratch.admin is None:
                assert await scratch.leftovers() == [], size
            await FaultRow.objects.using(other).create(unit=-size, seq=0)
            if scratch.admin is not None:
                # NOTE(mysql): the cancelled INSERT's connection is closed at once, but the
                # server finishes the statement it is running before it reads the closed
                # socket and rolls back: for those moments its session shows the statement
                # ('Query') holding its rows' locks. The other writer went on meanwhile;
                # wait for that moment to end, boundedly, then nothing may be left.
                await scratch.settled()
                assert await scratch.leftovers() == [], size
            assert await checked_out(db) == 0
            assert (await scratch.unit_counts()).get(size, 0) in (0, size)


@pytest.mark.parametrize("seed", [SEED], ids=lambda s: f"seed{s}")
async def test_timeouts_inside_timeouts_stay_timeouts(scratch: Scratch, seed: int) -> None:
    """``asyncio.timeout`` blocks nested around database work end in ``TimeoutError``, never
    in a bare ``CancelledError`` (orm_kit's cleanup must not miscount the cancellations it
    lets finish), and leave nothing behind."""
    db = await scratch.database()
    rows = FaultRow.objects.using(db)
    rng = random.Random(f"{seed}-timeouts-{scratch.backend}")
    outcomes: Counter[str] = Counter()
    with _no_garbage_collector():
        for i in range(ITERATIONS):
            outer, inner = rng.uniform(0, 0.012), rng.uniform(0, 0.006)
            where = (
                f"iteration {i} (seed {seed}, timeouts {outer * 1000:.2f} / {inner * 1000:.2f} ms)"
            )
            try:
                async with asyncio.timeout(outer):
                    try:
                        async with asyncio.timeout(inner), db.session():
                            for k in range(ROWS):
                                await FaultRow.objects.create(unit=i, seq=k)
                    finally:
                        await rows.bulk_create([FaultRow(unit=-1 - i, seq=k) for k in range(ROWS)])
                outcomes["completed"] += 1
            except TimeoutError:
                outcomes["timed out"] += 1
            if scratch.admin is not None:
                await scratch.settled()  # (see _cancel_at_random)
            assert await scratch.leftovers() == [], where
            assert await checked_out(db) == 0, where
    counts = await scratch.unit_counts()
    assert [n for n in counts.values() if n != ROWS] == [], "partial units"
    print(f"faults nested timeouts [{scratch.backend}]: {dict(outcomes)}")
    assert outcomes["timed out"] >= ITERATIONS // 10
