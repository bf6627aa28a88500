"""Transaction bounds on every backend, written for MariaDB / MySQL, whose connections stay
in autocommit (orm_kit.dialects.set_up_mysql): transaction(isolation_level=...) holds for
that transaction and no other, a single statement outside a transaction costs one round
trip, and the statements after DDL (which commits) are in a transaction again.

The levels are told apart by what a transaction sees: a row another connection commits
between two counts is seen by the second count under READ COMMITTED, not under REPEATABLE
READ (whose snapshot is taken at the first read). The database has one connection, so a
level left on the connection would show in the next transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from orm_kit import Database
from tests.backends import SUPPORTS, dialect_of
from tests.models import User

# The server's default level: PostgreSQL's is READ COMMITTED, InnoDB's REPEATABLE READ.
SEES_A_CONCURRENT_COMMIT_BY_DEFAULT = {"postgresql": True, "mariadb": False}


@pytest.fixture
async def one_connection(db: Database) -> AsyncIterator[Database]:
    """A second database on the test database's URL whose pool holds one connection."""
    url = db.url.render_as_string(hide_password=False)
    async with Database(url, name="one_connection", pool_size=1, max_overflow=0) as single:
        yield single


async def _sees_a_concurrent_commit(
    single: Database, writer: Database, level: str | None, n: int
) -> bool:
    async with single.transaction(isolation_level=level):
        before = await User.objects.count()
        await User.objects.using(writer).create(email=f"concurrent{n}@x.io")  # committed
        after = await User.objects.count()
    assert after - before in (0, 1)
    return after == before + 1


@pytest.mark.requires("concurrent_writers")
async def test_an_isolation_level_holds_for_its_transaction_alone(
    db: Database, one_connection: Database, backend: str
) -> None:
    default = SEES_A_CONCURRENT_COMMIT_BY_DEFAULT[backend]
    steps = [
        ("READ COMMITTED", True),
        (None, default),  # not READ COMMITTED still (on MariaDB)
        ("REPEATABLE READ", False),
        (None, default),  # not REPEATABLE READ still (on PostgreSQL)
    ]
    seen = [
        (level, await _sees_a_concurrent_commit(one_connection, db, level, n))
        for n, (level, _) in enumerate(steps)
    ]
    assert seen == steps
    # And the direct path, between transactions, on the same connection: autocommit.
    await User.objects.using(one_connection).create(email="direct@x.io")
    assert await User.objects.using(db).filter(email="direct@x.io").count() == 1


@pytest.mark.requires("statement_counters")
async def test_a_single_statement_outside_a_transaction_is_one_round_trip(
    one_connection: Database, backend: str
) -> None:
    assert dialect_of(backend) == "mysql"

    async def sent() -> int:  # statements this connection has sent, this one included
        async with one_connection.read_session() as session:  # autocommit too
            row = (await session.execute(text("SHOW SESSION STATUS LIKE 'Questions'"))).one()
        return int(row[1])

    users = User.objects.using(one_connection)
    created = await users.create(email="one@x.io")
    start = await sent()
    await users.create(email="two@x.io")
    await users.get(id=created.id)
    await users.filter(id=created.id).update(name="Ann")
    await users.count()
    await users.filter(email="two@x.io").delete()
    # Five statements, and the one that counts them: no SET AUTOCOMMIT, no isolation level
    # put back, no COMMIT or ROLLBACK around any of them.
    assert await sent() - start == 5 + 1
    async with one_connection.transaction():
        await users.count()
    # START TRANSACTION, the count, COMMIT, and the count of them.
    assert await sent() - start == 6 + 3 + 1


class _UndoError(Exception):
    """Raised to roll the unit of work back on purpose."""


async def test_statements_after_ddl_are_still_in_the_transaction(
    db: Database, backend: str
) -> None:
    with pytest.raises(_UndoError):
        async with db.transaction() as session:
            await User.objects.create(email="before@x.io")
            await session.execute(text("CREATE TABLE orm_kit_ddl_probe (id INTEGER)"))
            await User.objects.create(email="after@x.io")
            raise _UndoError
    try:
        emails = await User.objects.order_by("email").values_list("email", flat=True)
        # MariaDB / MySQL commit the transaction at the DDL (what came before stays); what
        # follows it is in a new transaction, rolled back.
        assert emails == ([] if "transactional_ddl" in SUPPORTS[backend] else ["before@x.io"])
    finally:
        async with db.connection(transaction=True) as conn:
            await conn.execute(text("DROP TABLE IF EXISTS orm_kit_ddl_probe"))
