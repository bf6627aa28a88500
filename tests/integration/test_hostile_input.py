"""Hostile names and values never escape as anything but an orm_kit error, and change nothing.

Property-based (hypothesis): unknown, private and dunder names, SQL fragments, NUL bytes,
unicode and non-string names; integers beyond 64 bits, NaN, bytes, lone surrogates,
oversized strings, containers, objects, ``F`` / ``Q`` where a value goes, wrong datetime
flavours ... go through filter / exclude / get / ``Q``, order_by / values / values_list /
only / defer / select_related / prefetch_related, annotate / aggregate, and every write
(create, ``Model(**payload).save()``, ``obj.update(**payload).save()``, update,
bulk_create, bulk_update, get_or_create, update_or_create), outside a session and inside
``db.session()``. Each example checks that

1. any exception is an ``ORMKitError`` (never TypeError, OverflowError, a SQLAlchemy or
   driver exception ...), and not a ``DatabaseError`` for input that must be refused
   before any SQL (DESIGN.md: ``ValidationError`` / ``InvalidLookupError``);
2. after an error the tables hold what they held, every table still exists, no pooled
   connection is left checked out, the session block exits with that same error and the
   next operation works;
3. a write that succeeds reads back exactly what was written, with the same Python type;
   input the oracle (``hostile_oracle``) says PostgreSQL rejects is rejected on SQLite
   too, and input it says is valid is accepted;
4. no SQL text orm_kit runs (or ``qs.sql()`` shows) contains a hostile name or value.

Bounded by default (fixed seed). ``ORM_KIT_FUZZ=1`` runs long randomized rounds:
``ORM_KIT_FUZZ_EXAMPLES`` per test (default 2000), ``ORM_KIT_FUZZ_SEED`` to replay one.
"""

from __future__ import annotations

import math
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import (
    HealthCheck,
    Phase,
    currently_in_test_context,
    event,
    given,
    seed,
    settings,
)
from hypothesis import strategies as st
from sqlalchemy import event as sa_event
from sqlalchemy import inspect, select, text, update

from orm_kit import Database, Model
from orm_kit.exceptions import DatabaseError, ORMKitError
from tests.backends import supports
from tests.integration.hostile_cases import (
    ANY,
    LOOKUP_OPS,
    NAME_OPS,
    Context,
    LookupOp,
    Op,
    Written,
)
from tests.integration.hostile_inputs import MARKER
from tests.integration.hostile_models import (
    ITEM_TABLE,
    OWNER_TABLE,
    SEED_IDS,
    HostileItem,
    seed_tables,
)
from tests.integration.hostile_oracle import Verdict
from tests.integration.hostile_writes import WRITE_OPS, CreateOp

pytestmark = pytest.mark.fuzz

FUZZ = os.environ.get("ORM_KIT_FUZZ") == "1"
FUZZ_SEED = int(os.environ.get("ORM_KIT_FUZZ_SEED") or secrets.randbelow(2**32))
FUZZ_EXAMPLES = int(os.environ.get("ORM_KIT_FUZZ_EXAMPLES") or 2000)

FnT = TypeVar("FnT", bound=Callable[..., Any])


def fuzz_settings(bounded_examples: int) -> Callable[[FnT], FnT]:
    """Fixed-seed and bounded by default; long and randomized under ``ORM_KIT_FUZZ=1``."""
    common: dict[str, Any] = {
        "deadline": None,
        "database": None,
        # No "explain" phase: it re-runs every failure many times and adds little here.
        "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        # One database per test, not per example: each example restores the seed rows.
        "suppress_health_check": [
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    }

    def decorate(fn: FnT) -> FnT:
        if FUZZ:
            fn = settings(max_examples=FUZZ_EXAMPLES, derandomize=False, **common)(fn)
            return seed(FUZZ_SEED)(fn)
        return settings(max_examples=bounded_examples, derandomize=True, **common)(fn)

    return decorate


# --- what a violation is --------------------------------------------------------------------


class HostileInputError(AssertionError):
    """A broken promise; the subclasses keep distinct bugs apart in hypothesis' report."""


class RawExceptionError(HostileInputError):
    """Something other than an ORMKitError came out."""


class DriverReachedError(HostileInputError):
    """Input that must be refused before SQL reached the driver (DatabaseError)."""


class InvalidAcceptedError(HostileInputError):
    """Input that must be refused (PostgreSQL would, or it is no name of the model) worked."""


class ValidRejectedError(HostileInputError):
    """Input that is valid on every backend was refused."""


class StateChangedError(HostileInputError):
    """A failed operation (or a read) changed the tables, or a table is gone."""


class ConnectionLeakError(HostileInputError):
    """A pooled connection stayed checked out."""


class SessionBrokenError(HostileInputError):
    """The session block did not exit with the operation's error, or the next call failed."""


class RoundTripError(HostileInputError):
    """A successful write reads back a different value or type."""


class SqlEchoError(HostileInputError):
    """A hostile name or value appeared in SQL text."""


class WrongResultError(HostileInputError):
    """A successful call returned the wrong shape or count."""


# --- plain SQLAlchemy views of the tables ---------------------------------------------------

Snapshot = dict[str, list[dict[str, Any]]]
_TABLES = (OWNER_TABLE, ITEM_TABLE)


async def snapshot(db: Database) -> Snapshot:
    """Every row of the hostile tables, read with SQLAlchemy Core (no orm_kit involved)."""
    async with db.engine.connect() as conn:
        out: Snapshot = {}
        for table in _TABLES:
            rows = (await conn.execute(select(table).order_by(table.c.id))).mappings().all()
            out[table.name] = [dict(row) for row in rows]
    return out


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        names: list[str] = await conn.run_sync(lambda c: inspect(c).get_table_names())
    return set(names)


async def reseed(db: Database) -> None:
    async with db.engine.begin() as conn:
        await seed_tables(conn)
        if supports(db.dialect, "sequences"):
            # Keep generated ids clear of the seed ids and of explicit ids (5000-5100).
            await conn.execute(
                text("SELECT setval(pg_get_serial_sequence('hostile_item', 'id'), 2000)")
            )


def same(expected: Any, actual: Any, column: str | None = None) -> bool:
    """Whether ``actual`` is exactly ``expected``: same value and same Python type."""
    if expected is ANY:
        return True
    if type(expected) is float and math.isnan(expected):
        return type(actual) is float and math.isnan(actual)
    if type(expected) is Decimal and expected.is_nan():
        return type(actual) is Decimal and actual.is_nan()
    if type(expected) is int and column == "f":  # an int stored in a float column
        return type(actual) is float and actual == expected
    if type(expected) is int and column == "d":  # an int stored in a Numeric column
        return type(actual) is Decimal and actual == expected
    if type(expected) is float and column == "d":  # a float stored in a Numeric column
        return type(actual) is Decimal and actual == Decimal(str(expected))
    if type(expected) is str and column == "u":  # a UUID written in its string form
        return isinstance(actual, uuid.UUID) and uuid.UUID(expected) == actual
    if isinstance(expected, uuid.UUID):  # asyncpg returns its own uuid.UUID subclass
        return isinstance(actual, uuid.UUID) and expected == actual
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, datetime):
        aware = expected.utcoffset() is not None
        return aware == (actual.utcoffset() is not None) and expected == actual
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(map(same, expected, actual))
    if isinstance(expected, dict):
        return expected.keys() == actual.keys() and all(
            same(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


def same_snapshot(a: Snapshot, b: Snapshot) -> bool:
    return all(
        len(a[t]) == len(b[t])
        and all(
            ra.keys() == rb.keys() and all(same(ra[k], rb[k]) for k in ra)
            for ra, rb in zip(a[t], b[t], strict=True)
        )
        for t in a
    )


def short(value: Any, limit: int = 160) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else f"{shown[:limit]}... ({len(shown)} chars)"


def _echoed(sql: str) -> str | None:
    low = sql.lower()
    for fragment in (MARKER, "drop table", "1=1", "\x00"):
        if fragment in low:
            return fragment
    return None


def check_written(before: Snapshot, after: Snapshot, written: Written) -> str | None:
    """The first difference between what a write should have left and what it left."""
    if not same_snapshot({"o": before["hostile_owner"]}, {"o": after["hostile_owner"]}):
        return "the hostile_owner rows changed"
    old = {row["id"]: row for row in before["hostile_item"]}
    new = {row["id"]: row for row in after["hostile_item"]}
    for pk, row in old.items():
        if pk not in new:
            return f"row {pk} vanished"
        for column, value in row.items():
            if column not in written.rows.get(pk, {}) and not same(value, new[pk][column]):
                return f"row {pk}: {column} changed from {short(value)} to {short(new[pk][column])}"
    if set(new) - set(old) != written.created:
        return (
            f"new rows {sorted(set(new) - set(old))}, expected {sorted(written.created, key=repr)}"
        )
    for pk, columns in written.rows.items():
        if pk not in new:
            return f"row {pk} is missing after the write"
        for column, value in columns.items():
            got = new[pk][column]
            if not same(value, got, column):
                return (
                    f"{column}: wrote {short(value)} ({type(value).__name__}), read back "
                    f"{short(got)} ({type(got).__name__})"
                )
    return None


def check_handed_back(obj: Any, after: Snapshot) -> str | None:
    """create() hands back the row as stored: each value and its type, as a read gives it
    (SQLite's RETURNING gave a whole float as an int)."""
    pk = obj.__dict__.get("id")
    row = next((r for r in after["hostile_item"] if r["id"] == pk), None)
    if row is None:
        return f"create() handed back id={short(pk)}, and no such row exists"
    for column, stored in row.items():
        mine = obj.__dict__.get(column)
        if not same(stored, mine):
            return (
                f"create() handed back {column}={short(mine)} ({type(mine).__name__}); the "
                f"row holds {short(stored)} ({type(stored).__name__})"
            )
    return None


# --- the runner ------------------------------------------------------------------------------


class Env:
    """The database under test, its seed rows and what the examples have seen."""

    def __init__(self, db: Database, seed: Snapshot, tables: set[str], checked_out: Any) -> None:
        self.db, self.seed, self.tables, self.checked_out = db, seed, tables, checked_out
        self.sql: list[str] = []
        self.capturing = False
        self.outcomes: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<hostile tables on {self.db.dialect}>"

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if currently_in_test_context():
            event(outcome)


@pytest.fixture
async def hostile(db: Database) -> AsyncIterator[Env]:
    """The hostile tables seeded, SQL capture on, pool baseline taken."""
    await reseed(db)
    env = Env(db, await snapshot(db), await table_names(db), (await db.info())["checked_out"])
    assert {t.name for t in Model.metadata.sorted_tables} <= env.tables

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if env.capturing:
            env.sql.append(statement)

    sa_event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    if FUZZ:
        print(f"\nORM_KIT_FUZZ_SEED={FUZZ_SEED} ORM_KIT_FUZZ_EXAMPLES={FUZZ_EXAMPLES}")
    try:
        yield env
    finally:
        sa_event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
        print(f"\nhostile-input outcomes on {db.dialect}: {env.outcomes}")


async def _attempt(
    env: Env, op: Op, ctx: Context, in_session: bool
) -> tuple[Any, BaseException | None]:
    """Run ``op``; return its result and the error that came out (if any)."""
    op_error: BaseException | None = None
    try:
        if not in_session:
            return await op.run(ctx), None
        async with env.db.session():
            try:
                result = await op.run(ctx)
            except Exception as exc:
                op_error = exc
                raise
        return result, None
    except Exception as exc:
        if op_error is not None and exc is not op_error:
            raise SessionBrokenError(
                f"{op!r} inside db.session() raised {type(op_error).__name__}, but the "
                f"session block exited with {type(exc).__name__}: {short(str(exc))}"
            ) from exc
        return None, exc


async def _probe(env: Env, label: str, error: BaseException) -> None:
    """After a failure: the direct path and a new session still work (the failure did not
    leave a broken connection in the pool or a broken ambient session behind)."""
    try:
        await HostileItem.objects.filter(id=SEED_IDS[0]).count()
        async with env.db.session():
            await HostileItem.objects.filter(id=SEED_IDS[0]).exists()
    except Exception as exc:
        raise SessionBrokenError(
            f"after {label} raised {type(error).__name__}, the next, unrelated operation "
            f"failed: {exc!r}"
        ) from exc


async def run_example(env: Env, op: Op, in_session: bool) -> None:
    """Run one operation and check every promise (see the module docstring)."""
    label = f"{op!r}" + (" inside db.session()" if in_session else "")
    verdict: Verdict = op.verdict()
    ctx = Context(in_session=in_session)
    env.sql.clear()
    env.capturing = True
    try:
        result, error = await _attempt(env, op, ctx, in_session)
    finally:
        env.capturing = False
    try:
        await _check(env, op, label, verdict, ctx, result, error)
    finally:
        try:
            current: Snapshot | None = await snapshot(env.db)
        except Exception:
            current = None
        if current is None or not same_snapshot(current, env.seed):
            await reseed(env.db)


async def _check(
    env: Env,
    op: Op,
    label: str,
    verdict: Verdict,
    ctx: Context,
    result: Any,
    error: BaseException | None,
) -> None:
    env.count(f"{type(op).__name__}: {'error' if error else 'ok'}")
    # 2a. first, before anything else touches the pool: the next operation still works
    if error is not None:
        await _probe(env, label, error)
    # 1. only orm_kit errors
    if error is not None and not isinstance(error, ORMKitError):
        raise RawExceptionError(
            f"{label} raised {type(error).__module__}.{type(error).__name__}: {short(str(error))}"
        ) from error
    # 2. the tables, the pool and the SQL text
    try:
        after = await snapshot(env.db)
    except Exception as exc:
        if error is None:
            raise RoundTripError(
                f"{label} succeeded, but its rows cannot be read back (corrupted): {exc!r}"
            ) from exc
        raise StateChangedError(f"after {label}, the tables cannot be read back: {exc!r}") from exc
    missing = env.tables - await table_names(env.db)
    if missing:
        raise StateChangedError(f"after {label}, tables are gone: {sorted(missing)}")
    checked_out = (await env.db.info())["checked_out"]
    if checked_out != env.checked_out:
        raise ConnectionLeakError(
            f"after {label}, {checked_out} connections are checked out (baseline {env.checked_out})"
        )
    for sql in [*ctx.sql, *env.sql]:
        fragment = _echoed(sql)
        if fragment is not None:
            raise SqlEchoError(f"{label} put {fragment!r} into SQL: {short(sql, 400)}")
    before = env.seed
    if error is not None:
        if not same_snapshot(before, after):
            raise StateChangedError(
                f"{label} failed with {type(error).__name__} but changed the tables"
            )
        if isinstance(error, op.benign()):
            return
        if isinstance(error, DatabaseError) and not verdict.db_ok:
            raise DriverReachedError(
                f"{label} reached the driver instead of being refused before SQL "
                f"(ValidationError / InvalidLookupError): {short(str(error), 300)}"
            ) from error
        if verdict.must == "succeed":
            raise ValidRejectedError(
                f"{label} raised {type(error).__name__}: {short(str(error))}"
            ) from error
        return
    # 3. success
    if verdict.must == "fail":
        raise InvalidAcceptedError(f"{label} succeeded but must be refused: {verdict.why}")
    write_verdict = getattr(op, "write_verdict", None)
    if write_verdict is not None:
        created_verdict = write_verdict(result[1])
        if created_verdict.must == "fail":
            raise InvalidAcceptedError(
                f"{label} succeeded but must be refused: {created_verdict.why}"
            )
    if op.writes:
        problem = check_written(before, after, op.written(result))
        if problem is None and isinstance(op, CreateOp) and op.style == "create":
            problem = check_handed_back(result, after)
        if problem is not None:
            raise RoundTripError(f"{label}: {problem}")
    elif not same_snapshot(before, after):
        raise StateChangedError(f"the read {label} changed the tables")
    problem = op.check_result(result)
    if problem is not None:
        raise WrongResultError(f"{label}: {problem}")


# --- the properties ------------------------------------------------------------------------------


@fuzz_settings(bounded_examples=400)
@given(op=LOOKUP_OPS, in_session=st.booleans())
async def test_hostile_lookups(hostile: Env, op: Op, in_session: bool) -> None:
    """filter / exclude / get / Q with hostile lookup names and values."""
    await run_example(hostile, op, in_session)


@fuzz_settings(bounded_examples=300)
@given(op=NAME_OPS, in_session=st.booleans())
async def test_hostile_names(hostile: Env, op: Op, in_session: bool) -> None:
    """order_by / values / only / defer / select_related / annotate / aggregate names."""
    await run_example(hostile, op, in_session)


@fuzz_settings(bounded_examples=350)
@given(op=WRITE_OPS, in_session=st.booleans())
async def test_hostile_writes(hostile: Env, op: Op, in_session: bool) -> None:
    """Every write path with hostile names and values."""
    await run_example(hostile, op, in_session)


# --- the harness can fail ----------------------------------------------------------------------


class _Planted(Op):
    """An operation with a known bug, to prove each check fires."""

    writes = True

    def __init__(self, bug: str, db: Database) -> None:
        self.bug, self.db = bug, db

    def verdict(self) -> Verdict:
        return Verdict("fail") if self.bug == "accepts" else Verdict("succeed")

    async def run(self, ctx: Context) -> Any:
        if self.bug == "raw":
            raise TypeError("planted")
        if self.bug == "partial":
            await HostileItem.objects.filter(id=1001).update(i=99)
            raise DatabaseError("planted, after a write")
        if self.bug == "corrupts":
            async with self.db.engine.begin() as conn:
                await conn.execute(update(ITEM_TABLE).where(ITEM_TABLE.c.id == 1002).values(i=3))
        if self.bug == "echo":
            await HostileItem.objects.filter(HostileItem.s == text(f"'{MARKER}'")).count()
        return None

    def describe(self) -> str:
        return f"<planted {self.bug}>"

    def written(self, result: Any) -> Written:
        return Written({1002: {"i": 2}})


@pytest.mark.parametrize(
    ("bug", "violation"),
    [
        ("raw", RawExceptionError),
        ("partial", StateChangedError),
        ("corrupts", RoundTripError),
        ("echo", SqlEchoError),
        ("accepts", InvalidAcceptedError),
    ],
)
async def test_harness_catches_planted_bugs(
    hostile: Env, bug: str, violation: type[HostileInputError]
) -> None:
    """Each check fires on a planted bug, and the tables are restored afterwards."""
    with pytest.raises(violation):
        await run_example(hostile, _Planted(bug, hostile.db), in_session=False)
    assert same_snapshot(await snapshot(hostile.db), hostile.seed)


async def test_harness_passes_valid_input(hostile: Env) -> None:
    """Valid input goes through every check (the success paths are live)."""
    await run_example(hostile, LookupOp("filter", {"i__gt": 0}, False, "count"), in_session=False)
    await run_example(hostile, CreateOp({"i": 5, "s": "ok"}, "create"), in_session=True)
    assert hostile.outcomes == {"LookupOp: ok": 1, "CreateOp: ok": 1}
