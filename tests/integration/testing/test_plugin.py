"""The pytest plugin (orm_kit.testing), run by pytest itself: small test projects under
``pytester``, in a subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

# pytester drops the modules a test imported when it ends, and importing asyncpg's compiled
# modules a second time crashes the process: the outer engines' drivers are imported here.
import aiosqlite  # noqa: F401
import asyncpg  # noqa: F401
import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from tests.integration.testing.inner_project import (
    FROM_VARIABLE,
    IN_MEMORY,
    ISOLATION,
    LOOPS,
    MIXED_LOOPS,
    OTHER_LOOP,
    UNIQUE,
    UNUSED,
    write_project,
)

pytest_plugins = ["pytester"]

TABLES = ("plug_note", "plug_post", "plug_country")


@pytest.fixture
def inner_url(backend: str, backend_url: str, tmp_path: Path) -> str:
    """The database the inner run uses: PostgreSQL under test, or a SQLite file (so that
    another connection can look at it)."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'inner.db'}"
    return backend_url


async def tables_left(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return [name for name in TABLES if name in names]


@pytest.mark.parametrize("loops", LOOPS)
async def test_everything_a_test_writes_is_rolled_back(
    pytester: pytest.Pytester, inner_url: str, loops: str
) -> None:
    write_project(pytester, loops, test_isolation=ISOLATION)
    result = pytester.runpytest_subprocess("--orm-kit-db", inner_url, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=11, failed=1)
    result.stdout.fnmatch_lines(
        ["FAILED test_isolation.py::test_fails_midway - AssertionError: failing midway*"]
    )
    assert await tables_left(inner_url) == []  # created once, dropped at the end


@pytest.mark.parametrize("loops", LOOPS)
@pytest.mark.parametrize("order", ["first-second", "second-first"])
async def test_the_same_unique_value_in_two_tests(
    pytester: pytest.Pytester, inner_url: str, order: str, loops: str
) -> None:
    write_project(pytester, loops, test_unique=UNIQUE)
    ids = [f"test_unique.py::test_{name}" for name in order.split("-")]
    result = pytester.runpytest_subprocess(
        "--orm-kit-db", inner_url, "-p", "no:cacheprovider", "-v", *ids
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"*{ids[0]}*PASSED*", f"*{ids[1]}*PASSED*"])


async def test_class_session_and_function_loops_in_one_run(
    pytester: pytest.Pytester, inner_url: str
) -> None:
    write_project(pytester, "function", test_mixed=MIXED_LOOPS)
    result = pytester.runpytest_subprocess("--orm-kit-db", inner_url, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    assert await tables_left(inner_url) == []


async def test_the_url_from_the_environment(
    pytester: pytest.Pytester, inner_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester, test_variable=FROM_VARIABLE)
    monkeypatch.setenv("ORM_KIT_TEST_DATABASE_URL", inner_url)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


async def test_a_fixture_in_another_event_loop_is_refused(
    pytester: pytest.Pytester, inner_url: str
) -> None:
    write_project(pytester, "function", test_loop=OTHER_LOOP)
    result = pytester.runpytest_subprocess("--orm-kit-db", inner_url, "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*DatabaseUnavailableError*another event loop*"])
    result.stdout.fnmatch_lines(["*the test's loop_scope*"])


@pytest.mark.parametrize("loops", LOOPS)
def test_in_memory_sqlite_by_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, loops: str
) -> None:
    monkeypatch.delenv("ORM_KIT_TEST_DATABASE_URL", raising=False)
    write_project(pytester, loops, test_memory=IN_MEMORY)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_unused_fixtures_change_nothing(pytester: pytest.Pytester) -> None:
    write_project(pytester, test_unused=UNUSED)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    assert "--orm-kit-db=URL" in help_text
