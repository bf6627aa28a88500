"""The blocking facade in this process, on every backend: results and errors cross threads
unchanged, a block's statements run in the one task that owns its session, timeouts and
interrupts clean up, and calls from the facade's own thread are refused.

The suite's default database lives on pytest's event loop, so these tests reach the
facade's own database explicitly (``using(facade)`` or a ``sync.session(facade)`` block).
"""

from __future__ import annotations

import _thread
import asyncio
import signal
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import (
    ConflictError,
    Database,
    DatabaseUnavailableError,
    Model,
    ORMKitError,
    ValidationError,
    acting_as,
    on_commit,
    sync,
)
from orm_kit.context import current_session
from orm_kit.mixins import AuditMixin
from orm_kit.sync import SyncUsageError
from tests.backends import sleep_sql


class SyncTicket(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50), unique=True)


class SyncMemo(Model, AuditMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(50))


class PlannedError(Exception):
    pass


@pytest.fixture
def facade(db: Database, backend_url: str) -> Iterator[Database]:
    """A database connected through the facade (tables from the suite's ``db``), closed after."""
    connected = sync.connect(backend_url)
    try:
        yield connected
    finally:
        sync.close()
    assert not connected.is_connected


async def committed_titles(db: Database) -> list[str]:
    """The titles other connections see (a connection of its own, outside any session)."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT title FROM sync_ticket ORDER BY title"))
        return list(rows.scalars())


def checked_out(db: Database) -> int:
    count: int = db.engine.pool.checkedout()  # type: ignore[attr-defined]
    return count


async def running_task() -> asyncio.Task[object] | None:
    return asyncio.current_task()


async def ambient() -> AsyncSession | None:
    return current_session()


def test_run_returns_the_result(facade: Database) -> None:
    created = sync.run(SyncTicket.objects.using(facade).create(title="a"))
    assert created.id is not None
    found = sync.run(SyncTicket.objects.using(facade).filter(title="a"))
    assert [t.title for t in found] == ["a"]
    assert sync.run(SyncTicket.objects.using(facade).count()) == 1

    async def add(a: int, b: int) -> int:  # a plain coroutine of the user's
        await asyncio.sleep(0)
        return a + b

    assert sync.run(add(1, 2)) == 3


def test_session_block_commits_at_its_end(facade: Database) -> None:
    with sync.session(facade) as session:
        assert isinstance(session, AsyncSession)
        sync.run(SyncTicket.objects.create(title="a"))
        sync.run(SyncTicket.objects.create(title="b"))
        assert sync.run(SyncTicket.objects.count()) == 2  # the block sees its own writes
        assert sync.run(committed_titles(facade)) == []  # not committed yet
    assert sync.run(committed_titles(facade)) == ["a", "b"]
    assert checked_out(facade) == 0


def test_session_block_rolls_back_when_it_raises(facade: Database) -> None:
    sync.run(SyncTicket.objects.using(facade).create(title="kept"))
    with pytest.raises(PlannedError), sync.session(facade):
        sync.run(SyncTicket.objects.create(title="gone"))
        sync.run(SyncTicket.objects.filter(title="kept").update(title="renamed"))
        raise PlannedError
    assert sync.run(committed_titles(facade)) == ["kept"]
    assert checked_out(facade) == 0


def test_a_block_runs_in_one_task_that_owns_its_session(facade: Database) -> None:
    outside = {sync.run(running_task()), sync.run(running_task())}
    assert len(outside) == 2  # each call outside a block is a task of its own
    assert sync.run(ambient()) is None
    with sync.session(facade) as session:
        tasks = {sync.run(running_task()) for _ in range(3)}
        assert len(tasks) == 1 and tasks.isdisjoint(outside)
        assert sync.run(ambient()) is session
        with sync.session(facade) as inner:  # nested: the outer session, the same task
            assert inner is session
            assert sync.run(running_task()) in tasks
    assert sync.run(ambient()) is None


def test_nested_transaction_is_a_savepoint(facade: Database) -> None:
    with sync.session(facade):
        sync.run(SyncTicket.objects.create(title="outer"))
        with pytest.raises(PlannedError), sync.transaction():
            sync.run(SyncTicket.objects.create(title="inner"))
            raise PlannedError
        with sync.transaction():
            sync.run(SyncTicket.objects.create(title="second"))
    assert sync.run(committed_titles(facade)) == ["outer", "second"]


def test_on_commit_runs_after_the_block_commits(facade: Database) -> None:
    seen: list[str] = []

    async def register() -> None:
        on_commit(lambda: seen.append("committed"))

    with sync.session(facade):
        sync.run(register())
        assert seen == []
    assert seen == ["committed"]
    with pytest.raises(PlannedError), sync.session(facade):
        sync.run(register())
        raise PlannedError
    assert seen == ["committed"]


def test_orm_kit_errors_come_out_unchanged(facade: Database) -> None:
    tickets = SyncTicket.objects.using(facade)
    with pytest.raises(SyncTicket.DoesNotExist):
        sync.run(tickets.get(title="missing"))
    sync.run(tickets.create(title="a"))
    with pytest.raises(ConflictError) as caught:
        sync.run(tickets.create(title="a"))
    assert caught.value.constraint == "uq_sync_ticket_title"
    assert caught.value.__cause__ is not None  # the driver's error stays chained

    with pytest.raises(ConflictError), sync.session(facade):
        sync.run(SyncTicket.objects.create(title="b"))
        sync.run(SyncTicket.objects.create(title="a"))  # raised here, out of the block
    assert sync.run(committed_titles(facade)) == ["a"]
    assert checked_out(facade) == 0


def test_a_failed_commit_raises_when_the_block_ends(facade: Database) -> None:
    async def fail_on_commit(session: AsyncSession) -> None:
        # A write that only fails when flushed at commit: the unique key, added unflushed.
        session.add(SyncTicket(title="dup"))

    sync.run(SyncTicket.objects.using(facade).create(title="dup"))
    with pytest.raises(ConflictError), sync.session(facade) as session:
        sync.run(fail_on_commit(session))
    assert sync.run(committed_titles(facade)) == ["dup"]
    assert checked_out(facade) == 0


def test_the_acting_user_reaches_the_call(facade: Database) -> None:
    with acting_as("outside"):
        memo = sync.run(SyncMemo.objects.using(facade).create(body="a"))
    assert memo.created_by == "outside"
    with sync.session(facade), acting_as("inside"):  # set after the block opened
        memo = sync.run(SyncMemo.objects.create(body="b"))
    assert memo.created_by == "inside"


def test_called_from_the_facades_own_thread_is_refused(facade: Database) -> None:
    async def reenter() -> int:
        return sync.run(SyncTicket.objects.using(facade).count())

    with pytest.raises(SyncUsageError, match="own event-loop thread"):
        sync.run(reenter())

    async def open_block() -> None:
        with sync.session(facade):
            pass

    with pytest.raises(SyncUsageError, match="own event-loop thread"):
        sync.run(open_block())
    assert issubclass(SyncUsageError, ORMKitError)
    assert sync.run(SyncTicket.objects.using(facade).count()) == 0  # the facade goes on


def test_an_on_commit_callback_calling_the_facade_is_refused(facade: Database) -> None:
    async def register() -> None:
        on_commit(lambda: sync.run(SyncTicket.objects.count()))  # runs on the loop thread

    with pytest.raises(SyncUsageError, match="own event-loop thread"), sync.session(facade):
        sync.run(SyncTicket.objects.create(title="a"))
        sync.run(register())
    assert sync.run(committed_titles(facade)) == ["a"]  # the callback ran after the commit
    assert checked_out(facade) == 0


def test_system_exit_in_a_coroutine_reaches_the_caller(facade: Database) -> None:
    async def leave() -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit) as caught:
        sync.run(leave())
    assert caught.value.code == 3
    with pytest.raises(SystemExit), sync.session(facade):
        sync.run(leave())
    assert sync.run(SyncTicket.objects.using(facade).count()) == 0  # the loop lives on


def test_timeout_cancels_the_call(facade: Database) -> None:
    with pytest.raises(TimeoutError):
        sync.run(asyncio.sleep(10), timeout=0.1)
    assert sync.run(SyncTicket.objects.using(facade).count(), timeout=10) == 0


def test_timeout_inside_a_block_rolls_it_back_and_releases_its_locks(facade: Database) -> None:
    tickets = SyncTicket.objects.using(facade)
    sync.run(tickets.create(title="locked"))

    async def lock_write_and_hang() -> None:
        await SyncTicket.objects.select_for_update().get(title="locked")
        await SyncTicket.objects.create(title="never")
        await asyncio.sleep(10)

    with pytest.raises(SyncUsageError, match="rolled back"), sync.session(facade):
        with pytest.raises(TimeoutError):
            sync.run(lock_write_and_hang(), timeout=0.2)
        assert checked_out(facade) == 0  # cleaned up before TimeoutError was raised
        with pytest.raises(SyncUsageError, match="cancelled"):
            sync.run(SyncTicket.objects.count())
    assert sync.run(committed_titles(facade)) == ["locked"]
    # No lock left behind: the row (PostgreSQL) and the write lock (SQLite) are free.
    assert sync.run(tickets.filter(title="locked").update(title="free"), timeout=5) == 1
    assert checked_out(facade) == 0


@pytest.mark.requires("sleep")
def test_timeout_cancels_a_running_statement(facade: Database, backend: str) -> None:
    with pytest.raises(SyncUsageError), sync.session(facade) as session:
        sync.run(SyncTicket.objects.create(title="never"))
        with pytest.raises(TimeoutError):
            sync.run(session.execute(text(sleep_sql(backend, 30))), timeout=0.3)
    assert checked_out(facade) == 0
    assert sync.run(committed_titles(facade)) == []


def test_keyboard_interrupt_rolls_back_and_cleans_up(facade: Database) -> None:
    async def write_then_hang() -> None:
        await SyncTicket.objects.create(title="never")
        await asyncio.sleep(10)

    # Python's own SIGINT handler: a process started in the background by a shell (as CI
    # may run the suite) inherits SIGINT ignored, and interrupt_main() then does nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    try:
        with pytest.raises(KeyboardInterrupt), sync.session(facade):
            timer.start()
            sync.run(write_then_hang())
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert checked_out(facade) == 0
    assert sync.run(committed_titles(facade)) == []  # the facade still works
    sync.run(SyncTicket.objects.using(facade).create(title="after"), timeout=5)  # no lock held


def test_another_thread_does_not_share_the_block(facade: Database) -> None:
    seen: list[object] = []

    def other_thread() -> None:
        seen.append(sync.run(ambient()))
        seen.append(sync.run(SyncTicket.objects.using(facade).count()))

    with sync.session(facade):
        sync.run(SyncTicket.objects.create(title="uncommitted"))
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join(10)
    assert seen == [None, 0]  # no ambient session there; the write was not yet visible


def test_threads_have_blocks_of_their_own(facade: Database) -> None:
    both_open = threading.Barrier(2, timeout=10)
    sessions: dict[str, AsyncSession] = {}
    errors: list[BaseException] = []

    def worker(title: str) -> None:
        try:
            with sync.session(facade) as session:
                both_open.wait()  # two blocks, two tasks, open at the same time
                sessions[title] = session
                assert sync.run(ambient()) is session
                sync.run(SyncTicket.objects.create(title=title))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(title,)) for title in ("t1", "t2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert sessions["t1"] is not sessions["t2"]
    assert sync.run(committed_titles(facade)) == ["t1", "t2"]
    assert checked_out(facade) == 0


async def test_works_inside_a_running_event_loop(facade: Database) -> None:
    # As in a Jupyter cell: a loop is running in this thread (asyncio.run would refuse).
    asyncio.get_running_loop()
    with sync.session(facade):
        sync.run(SyncTicket.objects.create(title="cell"))
    assert sync.run(SyncTicket.objects.using(facade).values_list("title", flat=True)) == ["cell"]


def test_close_disconnects_and_the_next_call_starts_again(
    facade: Database, backend_url: str
) -> None:
    sync.close()
    assert not facade.is_connected
    again = sync.connect(backend_url)
    assert sync.run(SyncTicket.objects.using(again).count()) == 0

    with sync.session(again), pytest.raises(SyncUsageError, match="inside"):
        sync.close()


def test_connect_to_an_unreachable_server_raises_the_orm_kit_error() -> None:
    try:
        with pytest.raises(DatabaseUnavailableError):
            sync.connect(
                "postgresql+asyncpg://nobody@127.0.0.1:1/none", connect_args={"timeout": 5}
            )
    finally:
        sync.close()


def test_connect_takes_a_database_object(db: Database, backend_url: str) -> None:
    made = Database(backend_url, name="sync_made")
    try:
        assert sync.connect(made) is made
        assert made.is_connected
        assert sync.run(SyncTicket.objects.using(made).count()) == 0
        with pytest.raises(ValidationError, match="already a Database"):
            sync.connect(made, pool_size=3)
    finally:
        sync.close()
    assert not made.is_connected


def test_connect_refuses_what_is_not_a_url() -> None:
    with pytest.raises(ValidationError, match="not a database URL"):
        sync.connect(42)  # type: ignore[arg-type]
