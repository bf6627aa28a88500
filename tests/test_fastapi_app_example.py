"""Run the example service's own test suite (examples/fastapi_app/tests) with pytest, as its
user would — from its folder, with its pyproject.toml — on SQLite and on PostgreSQL.

A subprocess rather than a testpaths entry: the example is a project of its own (its `app`
package and `tests` package, its pytest options, orm_kit's plugin fixtures rather than this
suite's overrides, and models that would otherwise join this suite's `Model.metadata`).
Each run gets an empty database; the example migrates it and must leave it empty again.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.backends import create_database_sql, drop_database_sql
from tests.test_examples import EXAMPLES_DIR

PROJECT = EXAMPLES_DIR / "fastapi_app"
TESTS = 23  # the example's tests, every one of which must pass


@pytest.fixture
async def empty_database(backend: str, backend_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of an empty database of the backend: a new SQLite file, or a new PostgreSQL
    database next to the suite's (dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'blog.db'}"
        return
    server = make_url(backend_url)
    name = f"{server.database}_fastapi_app"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(drop_database_sql(server.get_backend_name(), name)))
            await conn.execute(text(create_database_sql(server.get_backend_name(), name)))
        yield server.set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as conn:
            await conn.execute(text(drop_database_sql(server.get_backend_name(), name)))
    finally:
        await admin.dispose()


async def table_names(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()


async def test_the_example_service_suite_passes(backend: str, empty_database: str) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("ORM_KIT_TEST_DATABASE_URL", None)
    env.pop("DATABASE_URL", None)
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pytest", "--orm-kit-db", empty_database, "-p", "no:cacheprovider"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = f"{proc.stdout}\n{proc.stderr}"
    assert proc.returncode == 0, f"on {backend}:\n{output}"
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"=* {TESTS} passed in [\d.]+s( \([\d:]+\))? =*", summary), output
    # Migrated down again: none of the example's tables is left (Alembic's own stays).
    assert await table_names(empty_database) == ["alembic_version"]
