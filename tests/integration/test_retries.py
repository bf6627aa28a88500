"""transaction(retries=N): re-running a transaction on a serialization failure or deadlock.

The conflicts are real: two SERIALIZABLE units of work that each read what the other
writes, or two that lock two rows in opposite order, held at the conflicting point with
asyncio events so the conflict happens on every run.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import text

from orm_kit import (
    ConflictError,
    Database,
    DatabaseError,
    F,
    ValidationError,
    on_commit,
    transaction,
)
from orm_kit.context import current_session
from orm_kit.testing import rolled_back
from orm_kit.transaction import RetryingTransaction, is_retryable
from tests.models import Product, User

# NOTE(postgresql): a server error with SQLSTATE 40001, raised by the server itself.
RAISE_SERIALIZATION_FAILURE = (
    "DO $$ BEGIN RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END $$"
)


async def execute(sql: str) -> object:
    session = current_session()
    assert session is not None
    return (await session.execute(text(sql))).scalar()


@pytest.mark.requires("serialization_failures")
async def test_write_skew_is_retried_once_and_both_commit(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # Each block counts the rows, then inserts one named after the count: run one after
    # the other they insert n0 and n1. Both count before either inserts (SERIALIZABLE), so
    # one of them must fail with a serialization failure, and its retry sees the other's row.
    both_read = asyncio.Barrier(2)
    one_committed = asyncio.Event()
    attempts: list[str] = []
    committed: list[str] = []

    def done(name: str) -> None:
        committed.append(name)
        one_committed.set()

    @transaction(retries=3, backoff=0.01, isolation_level="SERIALIZABLE")
    async def add_next(name: str) -> str:
        attempts.append(name)
        if attempts.count(name) > 1:
            # The victim can be aborted before the other has committed: its retry starts
            # after that commit, so it sees the other's row (and cannot conflict again).
            await one_committed.wait()
        seen = await Product.objects.filter(region="eu").count()
        if attempts.count(name) == 1:
            await both_read.wait()
        await Product.objects.create(sku=f"n{seen}", region="eu")
        on_commit(lambda: done(name))
        return f"n{seen}"

    with caplog.at_level(logging.INFO, logger="orm_kit"):
        results = await asyncio.gather(add_next("a"), add_next("b"))
    retried = [r for r in caplog.records if getattr(r, "orm_kit_attempt", None) is not None]
    assert [r.levelno for r in retried] == [logging.INFO]
    assert "attempt 1 hit a serialization failure or deadlock; retrying in" in (
        retried[0].getMessage()
    )

    assert sorted(results) == ["n0", "n1"]
    assert len(attempts) == 3  # one retry in all
    assert sorted(attempts.count(name) for name in ("a", "b")) == [1, 2]
    assert sorted(committed) == ["a", "b"]  # once per committed block, not per attempt
    skus = await Product.objects.order_by("sku").values_list("sku", flat=True)
    assert skus == ["n0", "n1"]


@pytest.mark.requires("serialization_failures")
async def test_deadlock_is_retried(db: Database) -> None:
    first = await Product.objects.create(sku="p1")
    second = await Product.objects.create(sku="p2")
    locked = {"a": asyncio.Event(), "b": asyncio.Event()}
    attempts: list[str] = []

    async def bump_both(name: str, order: tuple[int, int], other: str) -> None:
        async for attempt in db.transaction(retries=2, backoff=0.01):
            async with attempt:
                attempts.append(name)
                await Product.objects.filter(id=order[0]).update(stock=F("stock") + 1)
                if attempt.number == 1:
                    locked[name].set()
                    await locked[other].wait()  # both hold one row, then want the other
                await Product.objects.filter(id=order[1]).update(stock=F("stock") + 1)

    await asyncio.gather(
        bump_both("a", (first.id, second.id), "b"),
        bump_both("b", (second.id, first.id), "a"),
    )

    assert len(attempts) == 3  # the deadlock victim ran again, once
    rows = await Product.objects.order_by("sku").values_list("sku", "stock")
    assert rows == [("p1", 2), ("p2", 2)]


@pytest.mark.requires("serialization_failures")
async def test_retries_run_out_and_the_error_is_raised(db: Database) -> None:
    attempts = 0
    committed: list[int] = []

    @transaction(retries=2, backoff=0)
    async def always_conflicts() -> None:
        nonlocal attempts
        attempts += 1
        await User.objects.create(email=f"try{attempts}@x.io")
        on_commit(lambda: committed.append(attempts))
        await execute(RAISE_SERIALIZATION_FAILURE)

    with pytest.raises(DatabaseError) as caught:
        await always_conflicts()
    assert attempts == 3  # the first run and two retries
    assert is_retryable(caught.value)
    assert committed == []
    assert await User.objects.count() == 0  # every attempt rolled back


@pytest.mark.requires("serialization_failures")
async def test_a_nested_retrying_block_is_not_retried(db: Database) -> None:
    attempts = 0

    @transaction(retries=3, backoff=0)
    async def inner() -> None:
        nonlocal attempts
        attempts += 1
        await execute(RAISE_SERIALIZATION_FAILURE)

    with pytest.raises(DatabaseError) as caught:
        async with db.transaction():
            await inner()  # a SAVEPOINT: the conflict goes on to the outer block
    assert attempts == 1
    assert is_retryable(caught.value)


@pytest.mark.requires("serialization_failures")
async def test_isolation_level_is_set_on_the_transaction(db: Database) -> None:
    async with transaction(isolation_level="SERIALIZABLE"):
        assert await execute("SHOW transaction_isolation") == "serializable"
    async for attempt in transaction(retries=1, isolation_level="REPEATABLE READ"):
        async with attempt:
            assert await execute("SHOW transaction_isolation") == "repeatable read"
    async with transaction():
        assert await execute("SHOW transaction_isolation") == "read committed"


async def test_a_non_retryable_error_is_not_retried(db: Database) -> None:
    await User.objects.create(email="taken@x.io")
    attempts = 0

    @transaction(retries=3, backoff=0)
    async def create_taken() -> None:
        nonlocal attempts
        attempts += 1
        await User.objects.create(email="new@x.io")
        await User.objects.create(email="taken@x.io")

    with pytest.raises(ConflictError):
        await create_taken()
    assert attempts == 1
    assert await User.objects.order_by("email").values_list("email", flat=True) == ["taken@x.io"]


async def test_python_errors_are_not_retried(db: Database) -> None:
    seen: list[int] = []
    with pytest.raises(ZeroDivisionError):
        async for attempt in db.transaction(retries=3):
            async with attempt:
                seen.append(attempt.number)
                await User.objects.create(email="a@x.io")
                _ = 1 / 0
    assert seen == [1]
    assert await User.objects.count() == 0


async def test_attempt_loop_commits_once(db: Database) -> None:
    committed: list[int] = []
    numbers: list[int] = []
    async for attempt in transaction(retries=2, isolation_level="SERIALIZABLE"):
        async with attempt as session:
            numbers.append(attempt.number)
            assert current_session() is session
            await User.objects.create(email="a@x.io")
            on_commit(lambda: committed.append(1))
    assert numbers == [1]
    assert committed == [1]
    assert await User.objects.values_list("email", flat=True) == ["a@x.io"]


async def test_decorated_function_keeps_its_result_and_name(db: Database) -> None:
    @transaction(retries=1)
    async def make(email: str) -> int:
        user = await User.objects.create(email=email)
        return user.id

    user_id = await make("a@x.io")
    assert make.__name__ == "make"
    assert (await User.objects.get(id=user_id)).email == "a@x.io"


async def test_plain_async_with_is_refused(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"cannot retry.*@transaction\(retries=\.\.\.\)"):
        async with transaction(retries=3):
            raise AssertionError("the body must not run")
    with pytest.raises(ValidationError, match="async for attempt in"):
        async with db.transaction(retries=1):
            raise AssertionError("the body must not run")


async def test_only_async_functions_are_decorated(db: Database) -> None:
    def sync_work() -> None:
        raise AssertionError("never called")

    with pytest.raises(ValidationError, match="decorates an async function"):
        transaction(retries=1)(sync_work)  # type: ignore[arg-type]


async def test_attempt_must_be_entered(db: Database) -> None:
    with pytest.raises(ValidationError, match="never entered"):
        async for _attempt in transaction(retries=1):
            pass


@pytest.mark.parametrize(
    ("retries", "backoff"), [(-1, 0.1), (True, 0.1), ("3", 0.1), (1, -0.5), (1, "fast")]
)
async def test_bad_retry_arguments_are_refused(
    db: Database, retries: object, backoff: object
) -> None:
    with pytest.raises(ValidationError, match=r"transaction\((retries|backoff)="):
        transaction(retries=retries, backoff=backoff)  # type: ignore[call-overload]


async def test_isolation_level_of_a_savepoint_is_refused(db: Database) -> None:
    async with db.transaction():
        with pytest.raises(ValidationError, match="outermost transaction"):
            async with transaction(isolation_level="SERIALIZABLE"):
                raise AssertionError("the body must not run")


async def test_without_retries_transaction_is_unchanged(db: Database) -> None:
    block = transaction()
    assert not isinstance(block, RetryingTransaction)  # the plain async context manager
    async with block as session:
        assert current_session() is session
        await User.objects.create(email="with@x.io")
    assert await User.objects.values_list("email", flat=True) == ["with@x.io"]


async def test_isolation_level_under_a_pinned_test_connection(connected: Database) -> None:
    # orm_kit.testing's rolled_back(): every transaction is a SAVEPOINT on one connection,
    # which keeps its own level; the retrying, isolated transaction still runs and commits.
    async with rolled_back(connected):
        async for attempt in transaction(retries=1, isolation_level="SERIALIZABLE"):
            async with attempt:
                await User.objects.create(email="pinned@x.io")
        assert await User.objects.values_list("email", flat=True) == ["pinned@x.io"]
    assert await User.objects.count() == 0  # rolled back with the test's connection


async def test_isolation_level_leaves_pooled_connections_as_they_were(
    db: Database, backend_url: str
) -> None:
    # SQLite: orm_kit keeps transaction control away from the sqlite3 module; an isolation
    # level set through SQLAlchemy would hand it back for good, and later autocommit writes
    # on that pooled connection would sit in a transaction nobody commits.
    for _ in range(3):
        async with transaction(isolation_level="SERIALIZABLE"):
            await User.objects.count()
    await User.objects.create(email="after@x.io")
    other = await Database(backend_url).connect()
    try:
        assert await User.objects.using(other).values_list("email", flat=True) == ["after@x.io"]
    finally:
        await other.disconnect()


async def test_an_unknown_isolation_level_is_refused(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"'SNAPSHOT'\) is not an isolation level"):
        async with transaction(isolation_level="SNAPSHOT"):
            raise AssertionError("the body must not run")
    with pytest.raises(ValidationError, match="one of 'SERIALIZABLE', 'REPEATABLE READ'"):
        db.transaction(retries=2, isolation_level="serializable")


async def test_retrying_on_a_session_of_your_own(db: Database) -> None:
    session = db.new_session()
    try:
        numbers = []
        async for attempt in transaction(session, retries=2):
            async with attempt as used:
                numbers.append(attempt.number)
                assert used is session and current_session() is session
                await User.objects.create(email="own@x.io")
        assert numbers == [1]
        assert not session.in_transaction()  # committed
    finally:
        await session.close()
    assert await User.objects.values_list("email", flat=True) == ["own@x.io"]
