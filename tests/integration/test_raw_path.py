"""The raw path (``orm_kit.raw_path``) returns and raises exactly what the plain direct path
does, on every backend.

Each case runs in one process with warm caches on the raw path and again with
``raw_path.ENABLED`` off (SQLAlchemy's ``Connection``), and the two outcomes must be equal
value for value and type for type; a spy proves which path ran. The data tells the types
apart (int, str, naive and aware datetimes, Decimal, UUID, JSON, bool, NULLs), soft-deleted
rows exist, and the listeners (statement counting, slow-query log, spans), errors
(constraint names, cancellation, a lost connection) are checked on the raw path.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import JSON, DateTime, Numeric, String, Text, TypeDecorator, Uuid, event, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import NullPool

from orm_kit import (
    ConflictError,
    Database,
    InvalidLookupError,
    Model,
    ORMKitError,
    raw_path,
)
from orm_kit.mixins import (
    AuditMixin,
    ReadOnlyMixin,
    SoftDeleteMixin,
    TimestampMixin,
    acting_as,
    allow_writes,
)
from orm_kit.observability import statement_watcher
from orm_kit.testing import assert_num_queries
from tests.integration.typed_values import typed

# MySQL 8 (no server here): asyncmy's statements would take the plain path there.
pytestmark = pytest.mark.requires("raw_path")


class Picky(TypeDecorator[str]):
    """A type of the user's own whose bind processing refuses one value."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value == "boom":
            raise ValueError("Picky refuses 'boom'")
        return value


class RawRow(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    level: Mapped[int]
    flag: Mapped[bool | None]
    amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    naive: Mapped[datetime | None] = mapped_column(DateTime)
    aware: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    key: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    picky: Mapped[str | None] = mapped_column(Picky)


class RawStamped(Model, TimestampMixin, AuditMixin):
    """Python-side defaults (scalar, zero-argument callables, onupdate) on every write."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    level: Mapped[int] = mapped_column(default=7)


class RawFrozen(Model, ReadOnlyMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[int]


def _row(i: int) -> dict[str, Any]:
    if i % 4 == 3:  # every nullable column NULL
        return {"id": i, "name": f"n{i}", "level": i % 3}
    return {
        "id": i,
        "name": f"n{i}",
        "level": i % 3,
        "flag": i % 2 == 0,
        "amount": Decimal(f"{i}.25"),
        "naive": datetime(2026, 1, 1, 12, 0, i),
        "aware": datetime(2026, 1, 1, 12, 0, i, tzinfo=UTC),
        "key": uuid.UUID(int=i + 1),
        "data": {"i": i, "tags": ["a", str(i)], "nested": {"ok": True}},
        "note": f"note {i}",
    }


ROWS = 12
DELETED = {2, 5, 9}
LIVE = [i for i in range(ROWS) if i not in DELETED]


@pytest.fixture
async def seeded(db: Database) -> Database:
    await RawRow.objects.bulk_create([RawRow(**_row(i)) for i in range(ROWS)])
    for i in sorted(DELETED):
        await (await RawRow.objects.get(id=i)).delete()
    with allow_writes(RawFrozen):
        await RawFrozen.objects.bulk_create([RawFrozen(id=1, level=1)])
    return db


async def outcome(run: Callable[[], Awaitable[Any]]) -> Any:
    """What ``run()`` returns, or the type and message of the orm_kit error it raises."""
    try:
        return typed(await run())
    except ORMKitError as exc:
        return ("raised", type(exc).__name__, str(exc), getattr(exc, "constraint", None))


async def both(spy: list[str], run: Callable[[], Awaitable[Any]], *, raw: bool = True) -> Any:
    """``run()`` on the raw path and on the plain path: equal; the raw path ran (``raw``)."""
    before = len(spy)
    fast = await outcome(run)
    assert (len(spy) > before) is raw, "the raw path was not taken" if raw else "it was"
    raw_path.ENABLED = False
    try:
        taken = len(spy)
        plain = await outcome(run)
        assert len(spy) == taken, "the plain path ran on the raw path"
    finally:
        raw_path.ENABLED = True
    assert fast == plain
    return fast


READS: list[Callable[[], Awaitable[Any]]] = [
    *[(lambda i=i: RawRow.objects.get(id=i)) for i in range(ROWS)],  # soft-deleted: not found
    lambda: RawRow.objects.get(name="n4"),
    lambda: RawRow.objects.get(name="n9"),  # soft-deleted
    lambda: RawRow.objects.get(level=1),  # several rows
    lambda: RawRow.objects.get(id=-1),
    lambda: RawRow.objects.filter(level=1),
    lambda: RawRow.objects.filter(level=2, name="n8"),
    lambda: RawRow.objects.filter(name="nobody"),
    lambda: RawRow.objects.filter(level=0).count(),
    lambda: RawRow.objects.filter(level=2).count(),
    lambda: RawRow.objects.filter(id=5).count(),  # soft-deleted
    # Comparisons: each value one a row holds, so lt / lte and gt / gte differ.
    lambda: RawRow.objects.filter(level__lt=1),
    lambda: RawRow.objects.filter(level__lte=1, id__gt=4),
    lambda: RawRow.objects.filter(name__gte="n6", name__lt="n8"),
    lambda: RawRow.objects.filter(amount__gt=Decimal("4.25")).count(),
    lambda: RawRow.objects.filter(naive__lte=datetime(2026, 1, 1, 12, 0, 4)).count(),
    lambda: RawRow.objects.filter(aware__gte=datetime(2026, 1, 1, 12, 0, 6, tzinfo=UTC)),
    lambda: RawRow.objects.filter(key__lt=uuid.UUID(int=5)),
    lambda: RawRow.objects.get(id__gte=10),  # 11 (10 is live too: several rows)
    lambda: RawRow.objects.get(id__gt=10),
    # Ordered by fields, sliced, first / last / exists: still one cached statement.
    lambda: RawRow.objects.filter(level__gte=1).order_by("-name", "id"),
    lambda: RawRow.objects.filter(level__lte=1).order_by("id")[1:4],
    lambda: RawRow.objects.filter(level=2).first(),
    lambda: RawRow.objects.filter(level=2).order_by("-aware", "id").last(),
    lambda: RawRow.objects.filter(level=0).exists(),
    lambda: RawRow.objects.filter(id=2).exists(),  # soft-deleted
    lambda: RawRow.objects.filter(level=1).order_by("id")[2:].count(),
]


@pytest.mark.parametrize("case", range(len(READS)))
async def test_reads_match_the_plain_path(seeded: Database, spy: list[str], case: int) -> None:
    await both(spy, READS[case])


async def test_reads_return_the_rows_by_hand(seeded: Database, spy: list[str]) -> None:
    got = await RawRow.objects.get(id=0)
    assert typed(got)["amount"] == ("Decimal", Decimal("0.25"))
    assert got.key == uuid.UUID(int=1) and got.data == _row(0)["data"] and got.flag is True
    assert got.naive == datetime(2026, 1, 1, 12, 0, 0)
    nulls = await RawRow.objects.get(id=3)
    assert (nulls.flag, nulls.amount, nulls.key, nulls.data, nulls.note) == (None,) * 5
    assert sorted(r.id for r in await RawRow.objects.filter(level=2)) == [8, 11]
    assert await RawRow.objects.filter(level=2).count() == 2  # 5 is soft-deleted
    with pytest.raises(RawRow.DoesNotExist):
        await RawRow.objects.get(id=2)
    assert spy


async def test_other_reads_fall_back(seeded: Database, spy: list[str]) -> None:
    # Not cached statements of the direct path: the plain path, with the same result.
    await both(spy, lambda: RawRow.objects.filter(level__gte=1).exclude(id=4), raw=False)
    await both(spy, lambda: RawRow.objects.filter(level=1).order_by("pk"), raw=False)
    await both(spy, lambda: RawRow.objects.with_deleted().filter(id=2), raw=False)
    await both(spy, lambda: RawRow.objects.order_by("id").values(), raw=False)
    async with seeded.session():
        await both(spy, lambda: RawRow.objects.get(id=1), raw=False)


async def test_unknown_lookups_are_refused_alike(seeded: Database, spy: list[str]) -> None:
    refused = await both(spy, lambda: RawRow.objects.get(id__bogus=1), raw=False)
    assert refused[:2] == ("raised", "InvalidLookupError")
    with pytest.raises(InvalidLookupError):
        await RawRow.objects.filter(level__nope=1).count()


async def test_writes_match_the_plain_path(seeded: Database, spy: list[str]) -> None:
    changes: dict[str, Any] = {
        "note": "changed",
        "amount": Decimal("7.50"),
        "naive": datetime(2027, 5, 6, 7, 8, 9),
        "aware": datetime(2027, 5, 6, 7, 8, 9, tzinfo=UTC),
        "key": uuid.UUID(int=99),
        "flag": None,
    }
    results = []
    for enabled, pk in ((True, 0), (False, 1)):
        raw_path.ENABLED = enabled
        try:
            before = len(spy)
            n = await RawRow.objects.filter(id=pk).update(**changes)
            hidden = await RawRow.objects.filter(id=2).update(note="x")  # soft-deleted
            assert (len(spy) > before) is enabled
        finally:
            raw_path.ENABLED = True
        row = typed(await RawRow.objects.get(id=pk))
        results.append((n, hidden, {k: row[k] for k in [*changes, "deleted_at"]}))
    assert results[0] == results[1]
    assert results[0][:2] == (1, 0)
    ranged = []
    for enabled, mark in ((True, "raw"), (False, "plain")):
        raw_path.ENABLED = enabled
        try:
            before = len(spy)
            n = await RawRow.objects.filter(level__lt=1, id__gte=3).update(note=mark)
            assert (len(spy) > before) is enabled
        finally:
            raw_path.ENABLED = True
        marked = await RawRow.objects.filter(note=mark).values_list("id", flat=True)
        ranged.append((n, sorted(marked)))
    assert ranged[0] == ranged[1] == (2, [3, 6])  # 9 is soft-deleted


async def test_create_and_delete_match_the_plain_path(seeded: Database, spy: list[str]) -> None:
    made, deleted = [], []
    for enabled, pk in ((True, 100), (False, 101)):
        raw_path.ENABLED = enabled
        try:
            before = len(spy)
            values = _row(0) | {"id": pk, "name": f"new{pk}"}
            obj = typed(await RawRow.objects.create(**values))
            assert (len(spy) > before) is enabled
            # A soft delete is an UPDATE of the cached kind; a second one finds nothing.
            deleted.append(
                (
                    await RawRow.objects.filter(id=pk).delete(),
                    await RawRow.objects.filter(id=pk).delete(),
                    await RawRow.objects.filter(id=pk).count(),
                )
            )
        finally:
            raw_path.ENABLED = True
        obj.pop("id"), obj.pop("name")
        made.append(obj)
    assert made[0] == made[1]
    assert deleted[0] == deleted[1] == (1, 0, 0)


async def test_python_side_defaults_are_made_per_call(seeded: Database, spy: list[str]) -> None:
    seen = []
    for enabled, pk in ((True, 1), (False, 2)):
        raw_path.ENABLED = enabled
        try:
            before = len(spy)
            with acting_as("maker"):
                made = await RawStamped.objects.create(id=pk, name="a")
            await asyncio.sleep(0.01)
            with acting_as(f"changer{pk}"):
                n = await RawStamped.objects.filter(id=pk).update(name="b")
            assert (len(spy) - before == 2) is enabled
        finally:
            raw_path.ENABLED = True
        got = await RawStamped.objects.get(id=pk)
        assert made.created_at == got.created_at and got.updated_at > made.updated_at
        assert got.created_at.tzinfo is not None
        seen.append((n, got.name, got.level, got.created_by, got.updated_by))
    assert seen == [(1, "b", 7, "maker", "changer1"), (1, "b", 7, "maker", "changer2")]


async def test_read_only_models_are_refused_alike(seeded: Database, spy: list[str]) -> None:
    refused = await both(spy, lambda: RawFrozen.objects.filter(id=1).update(level=2), raw=False)
    assert refused[:2] == ("raised", "ReadOnlyError")
    await both(spy, lambda: RawFrozen.objects.filter(id=1).delete(), raw=False)
    await both(spy, lambda: RawFrozen.objects.get(id=1))  # reading is allowed


async def test_a_unique_violation_names_its_constraint(seeded: Database, spy: list[str]) -> None:
    conflict = await both(spy, lambda: RawRow.objects.filter(id=1).update(name="n4"))
    assert conflict[:2] == ("raised", "ConflictError")
    assert conflict[3] == "uq_raw_row_name"
    created = await both(spy, lambda: RawRow.objects.create(id=200, name="n4", level=1))
    assert created[:2] == ("raised", "ConflictError") and created[3] == "uq_raw_row_name"
    with pytest.raises(ConflictError):
        await RawRow.objects.create(id=1, name="fresh", level=1)


async def test_a_value_bind_processing_refuses_raises_alike(
    seeded: Database, spy: list[str]
) -> None:
    refused = await both(spy, lambda: RawRow.objects.filter(id=1).update(picky="boom"))
    assert refused[0] == "raised" and "Picky" not in refused[1]
    assert await both(spy, lambda: RawRow.objects.filter(id=1).update(picky="fine")) == (
        "int",
        1,
    )


async def test_the_statement_counter_sees_the_raw_path(seeded: Database, spy: list[str]) -> None:
    with assert_num_queries(3) as counted:
        await RawRow.objects.get(id=1)
        await RawRow.objects.filter(id=1).update(note="counted")
        await RawRow.objects.filter(level=1).count()
    assert len(spy) == 3
    assert counted.statements == spy


async def test_the_slow_query_log_sees_the_raw_path(
    seeded: Database,
    spy: list[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only the default database's plain managers have cached statements: its engine's
    # watcher is made to find every statement slow (as DATABASE_SLOW_QUERY_MS=0 would).
    watcher = statement_watcher(seeded.engine.sync_engine)
    assert watcher is not None
    monkeypatch.setattr(watcher, "slow_query_ms", 0.0)
    with caplog.at_level(logging.WARNING, logger="orm_kit"):
        await RawRow.objects.get(id=4)
    assert spy
    slow = [r for r in caplog.records if getattr(r, "orm_kit_operation", None) == "slow_query"]
    assert [r.orm_kit_statement for r in slow] == spy  # type: ignore[attr-defined]
    assert __file__ in slow[0].orm_kit_call_site  # type: ignore[attr-defined]


async def test_spans_see_the_raw_path(
    seeded: Database, spans: InMemorySpanExporter, spy: list[str]
) -> None:
    await RawRow.objects.get(id=4)
    with pytest.raises(ConflictError):
        await RawRow.objects.filter(id=1).update(name="n4")
    assert len(spy) == 2
    got = [s for s in spans.get_finished_spans() if s.attributes]
    assert [s.name for s in got] == ["SELECT raw_row", "UPDATE raw_row"]
    assert got[0].attributes["orm_kit.model"] == "RawRow"  # type: ignore[index]
    assert got[1].attributes["error.type"] == "IntegrityError"  # type: ignore[index]


async def test_a_listener_of_the_users_sends_statements_down_the_plain_path(
    seeded: Database, spy: list[str]
) -> None:
    seen: list[str] = []

    def listener(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sync = seeded.engine.sync_engine
    event.listen(sync, "before_cursor_execute", listener)
    try:
        await RawRow.objects.get(id=1)
    finally:
        event.remove(sync, "before_cursor_execute", listener)
    assert len(seen) == 1 and not spy
    await RawRow.objects.get(id=1)
    assert len(spy) == 1


# --- faults ---------------------------------------------------------------------------------
# The cached statements belong to the default database's plain managers, so these run on
# the suite's default database itself, looking at its pool.


def _checked_out(db: Database) -> int:
    return int(db.engine.pool.checkedout())  # type: ignore[attr-defined]


async def test_cancellation_returns_the_connection(seeded: Database, spy: list[str]) -> None:
    baseline = _checked_out(seeded)
    async with seeded.engine.connect() as holder:
        # Another connection's open transaction holds row 1 (on SQLite: the write lock).
        await holder.execute(text("UPDATE raw_row SET level = level WHERE id = 1"))
        task = asyncio.ensure_future(RawRow.objects.filter(id=1).update(note="late"))
        await asyncio.sleep(0.3)  # waiting for the lock now
        assert not task.done() and spy
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _checked_out(seeded) == baseline + 1  # the holder's only
        await holder.rollback()
    assert _checked_out(seeded) == baseline
    # The pool's connections work, and none was left in a transaction.
    assert await RawRow.objects.filter(id=1).update(note="after") == 1
    assert (await RawRow.objects.get(id=1)).note == "after"
    assert _checked_out(seeded) == baseline
    assert len(spy) == 3


async def test_a_lost_connection_raises_what_the_plain_path_raises(
    seeded: Database, spy: list[str]
) -> None:
    messages = []
    for enabled in (True, False):
        await seeded.engine.dispose()  # a new pool, empty: no record waiting to reconnect
        await RawRow.objects.get(id=1)  # the pool holds one open connection
        await _break_pooled_connections(seeded)
        raw_path.ENABLED = enabled
        try:
            messages.append(await outcome(lambda: RawRow.objects.get(id=1)))
        finally:
            raw_path.ENABLED = True
        assert _checked_out(seeded) == 0
        assert (await RawRow.objects.get(id=1)).id == 1  # a new connection serves
    assert messages[0] == messages[1]
    assert messages[0][:2] == ("raised", "DatabaseUnavailableError")
    assert spy


async def _break_pooled_connections(db: Database) -> None:
    """Make every connection idle in ``db``'s pool dead under the pool's feet."""
    records = list(db.engine.pool._pool._queue._queue)  # type: ignore[attr-defined]
    assert len(records) == 1 and records[0].driver_connection is not None
    if db.dialect == "sqlite":
        # NOTE(sqlite): no server to end them: the driver connections are closed.
        for record in records:
            await record.driver_connection.close()
        return
    admin = create_async_engine(db.url, poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            for record in records:
                driver = record.driver_connection
                if db.dialect == "mysql":
                    await conn.execute(text(f"KILL {int(driver.thread_id())}"))
                    continue
                pid = driver.get_server_pid()
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()
    await asyncio.sleep(0.1)


async def test_this_sqlalchemy_has_every_internal_the_raw_path_reads(db: Database) -> None:
    # Fails on a SQLAlchemy release that renamed one (the raw path would then be off).
    engine = db.engine.sync_engine
    path = raw_path.RawPath(engine)
    assert path.kind is not None
    assert raw_path.missing_internals(engine.dialect, engine.pool, path.kind) == []


async def test_a_missing_internal_turns_the_raw_path_off_with_a_warning(
    seeded: Database,
    spy: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    expected = await RawRow.objects.using(seeded).get(id=1)
    assert spy  # (the raw path served that)
    spy.clear()
    monkeypatch.setattr(raw_path, "_COMPILED_NAMES", (*raw_path._COMPILED_NAMES, "_gone_"))
    with caplog.at_level(logging.WARNING, logger="orm_kit.raw_path"):
        other = await Database(seeded.url).connect()
    try:
        assert "raw path is off" in caplog.text
        assert "SQLCompiler._gone_" in caplog.text
        got = await RawRow.objects.using(other).get(id=1)
        assert typed(got) == typed(expected)
        assert spy == []  # the plain path served it
    finally:
        await other.disconnect()
