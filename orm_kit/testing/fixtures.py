"""The pytest fixtures ``orm_database`` and ``orm_session`` (registered by
``orm_kit.testing.plugin``); they need pytest-asyncio, part of the ``testing`` extra.

They work whatever event loop pytest-asyncio runs a test in (function, class, module,
package or session loop): ``orm_database`` keeps no connection across loops, and
``orm_session`` opens the test's connection in the test's own loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal, cast

import pytest
import pytest_asyncio
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from orm_kit.database import Database
from orm_kit.dialects import is_memory_sqlite
from orm_kit.testing import create_missing_tables, drop_tables, rolled_back

__all__ = [
    "MEMORY_URL",
    "OPTION",
    "URL_VARIABLE",
    "orm_database",
    "orm_session",
    "test_url",
]

OPTION = "--orm-kit-db"
URL_VARIABLE = "ORM_KIT_TEST_DATABASE_URL"
MEMORY_URL = "sqlite+aiosqlite:///:memory:"

LoopScope = Literal["function", "class", "module", "package", "session"]
LOOP_SCOPES: tuple[LoopScope, ...] = ("function", "class", "module", "package", "session")


def test_url(config: pytest.Config) -> str:
    """The URL of the test database: ``--orm-kit-db``, else ``ORM_KIT_TEST_DATABASE_URL``,
    else in-memory SQLite."""
    option: str | None = config.getoption("orm_kit_db", None)
    return option or os.environ.get(URL_VARIABLE) or MEMORY_URL


test_url.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever its name


def test_loop_scope(request: pytest.FixtureRequest) -> LoopScope:
    """The scope of the event loop pytest-asyncio runs the requesting test in: the
    ``loop_scope`` of its closest ``asyncio`` mark, else ``asyncio_default_test_loop_scope``,
    else ``"function"`` (pytest-asyncio's own rule)."""
    marker = request.node.get_closest_marker("asyncio")
    kwargs: dict[str, Any] = marker.kwargs if marker is not None else {}
    scope = kwargs.get("loop_scope") or kwargs.get("scope")
    scope = scope or request.config.getini("asyncio_default_test_loop_scope") or "function"
    return cast(LoopScope, scope) if scope in LOOP_SCOPES else "function"


test_loop_scope.__test__ = False  # type: ignore[attr-defined]


def _in_memory_sqlite(url: URL) -> bool:
    """Whether ``url`` is an in-memory SQLite database (``Database`` gives it a pool of one
    working connection, which works from any event loop)."""
    return is_memory_sqlite(url)


@pytest.fixture(scope="session")
def orm_database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A connected ``Database`` for the whole test session, its tables created once.

    On ``--orm-kit-db URL``, else ``ORM_KIT_TEST_DATABASE_URL``, else in-memory SQLite. The
    tables of every model imported by then (``Model.metadata``) that the database lacks are
    created at the start and dropped at the end; tables already there are left alone. It is
    the default database unless another one is connected first. Override this fixture in
    your ``conftest.py`` to hand ``orm_session`` a database of your own.

    A database connection belongs to the event loop that opened it, and pytest-asyncio may
    run each test in a loop of its own; so this database keeps none between uses
    (``NullPool``), except in-memory SQLite, whose one pooled working connection works from
    any loop (aiosqlite runs SQLite in a thread of its own). Set-up and tear-down run in a
    private event loop.
    """
    url = test_url(request.config)
    db = Database(url)
    if not _in_memory_sqlite(db.url):
        db = Database(url, poolclass=NullPool)
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(db.connect())
        try:
            created = runner.run(create_missing_tables(db))
            try:
                yield db
            finally:
                runner.run(drop_tables(db, created))
        finally:
            runner.run(db.disconnect())


def _orm_session_in(loop_scope: LoopScope) -> Any:
    """A variant of ``orm_session`` run in pytest-asyncio's ``loop_scope`` loop (a function
    of its own: pytest-asyncio marks the function object with its loop scope)."""

    async def rolled_back_session(orm_database: Database) -> AsyncIterator[AsyncSession]:
        async with rolled_back(orm_database) as session:
            yield session

    return pytest_asyncio.fixture(
        rolled_back_session, name=f"_orm_session_{loop_scope}_loop", loop_scope=loop_scope
    )


# orm_session picks the variant of the test's loop, so that its connection and the pin
# belong to the loop the test runs in.
_orm_session_function = _orm_session_in("function")
_orm_session_class = _orm_session_in("class")
_orm_session_module = _orm_session_in("module")
_orm_session_package = _orm_session_in("package")
_orm_session_session = _orm_session_in("session")


@pytest.fixture
def orm_session(request: pytest.FixtureRequest) -> AsyncSession:
    """Roll back everything the test writes through ``orm_database``, commits included.

    The test runs on one connection inside a transaction (``orm_kit.testing.rolled_back``):
    manager calls outside a session, ``db.session()``, ``transaction()`` and
    ``session.commit()`` behave as in production, each commit releasing a SAVEPOINT, and
    the transaction rolls back when the test ends, passed or failed. Yields a session of
    ``orm_database`` joined to it (not ambient) for explicit use.

    The connection is opened in the event loop pytest-asyncio runs the test in (its
    ``asyncio`` mark's ``loop_scope``, else ``asyncio_default_test_loop_scope``): fixtures
    of yours that use the pinned database must run in that loop too.
    """
    session: AsyncSession = request.getfixturevalue(f"_orm_session_{test_loop_scope(request)}_loop")
    return session
