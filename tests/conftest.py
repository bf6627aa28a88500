"""Backends for the whole suite: every integration test runs on SQLite and PostgreSQL, and
on MariaDB when ORM_KIT_TEST_MYSQL_URL names a database.

PostgreSQL comes from ORM_KIT_TEST_POSTGRES_URL, or else an embedded server started with
the `pgserver` dev dependency (never a skip). The report header says which; the terminal
summary counts the results per backend, and names a backend that did not run and the
variable that runs it. ``@pytest.mark.requires("capability")`` gates a
test on what a backend can do (tests/backends.py declares the capabilities).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from orm_kit import Database, Model
from tests.backends import (
    ALL_BACKENDS,
    BACKENDS,
    CAPABILITIES,
    OPTIONAL_BACKENDS,
    URL_FIXTURES,
    missing_reason,
    supports,
)

POSTGRES_URL_VAR = "ORM_KIT_TEST_POSTGRES_URL"
MYSQL_URL_VAR, MYSQL_EXAMPLE_URL = OPTIONAL_BACKENDS["mariadb"]
PG_DATA_DIR = pytest.StashKey[Path]()
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "deselected")
NO_BACKEND = "no backend"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(*capabilities): skip on a backend without these capabilities "
        f"(one of: {', '.join(CAPABILITIES)}; see tests/backends.py)",
    )
    if not os.environ.get(POSTGRES_URL_VAR):
        # Chosen now so the report header can name it; the server starts on first use.
        config.stash[PG_DATA_DIR] = Path(tempfile.mkdtemp(prefix="orm_kit_pg_"))


def pytest_unconfigure(config: pytest.Config) -> None:
    data_dir = config.stash.get(PG_DATA_DIR, None)
    if data_dir is not None and data_dir.is_dir() and not any(data_dir.iterdir()):
        data_dir.rmdir()  # no PostgreSQL test ran


def postgres_source(config: pytest.Config) -> str:
    """Where the PostgreSQL under test comes from (the URL's password masked)."""
    url = os.environ.get(POSTGRES_URL_VAR)
    if url:
        return f"{POSTGRES_URL_VAR}={make_url(url).render_as_string(hide_password=True)}"
    spec = importlib.util.find_spec("pgserver")
    binaries = (
        Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if spec is not None and spec.submodule_search_locations
        else "(pgserver is not installed)"
    )
    return f"embedded pgserver at {config.stash[PG_DATA_DIR]} (binaries: {binaries})"


def pytest_report_header(config: pytest.Config) -> list[str]:
    mysql_url = os.environ.get(MYSQL_URL_VAR)
    mysql = (
        f"{MYSQL_URL_VAR}={make_url(mysql_url).render_as_string(hide_password=True)}"
        if mysql_url
        else f"not run (set {MYSQL_URL_VAR}={MYSQL_EXAMPLE_URL})"
    )
    return [
        f"orm_kit backends: {', '.join(BACKENDS)} (make test-sqlite / make test-pg run one)",
        f"orm_kit postgresql: {postgres_source(config)}",
        f"orm_kit mariadb: {mysql}",
    ]


def backend_of(nodeid: str) -> str:
    """The backend in a test id, or NO_BACKEND for a test that takes none.

    The backend is a dash-separated part of the parametrized id, the first one in practice:
    ``test_x[sqlite]``, ``test_x[postgresql-name__exact-expected1]``.
    """
    if not nodeid.endswith("]") or "[" not in nodeid:
        return NO_BACKEND
    parts = nodeid[nodeid.index("[") + 1 : -1].split("-")
    return next((part for part in parts if part in ALL_BACKENDS), NO_BACKEND)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker in item.iter_markers("requires"):
            callspec = getattr(item, "callspec", None)
            backend = callspec.params.get("backend") if callspec is not None else None
            if backend is None:
                raise pytest.UsageError(
                    f"{item.nodeid} is marked requires{marker.args} but takes no backend; "
                    "use the db or backend fixture."
                )
            for capability in marker.args:
                if not supports(backend, capability):  # KeyError on an unknown name
                    item.add_marker(pytest.mark.skip(reason=missing_reason(backend, capability)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts: dict[str, Counter[str]] = {name: Counter() for name in (*ALL_BACKENDS, NO_BACKEND)}
    for outcome in OUTCOMES:
        for report in terminalreporter.stats.get(outcome, []):
            counts[backend_of(getattr(report, "nodeid", ""))][outcome] += 1
    terminalreporter.ensure_newline()  # after the progress line, not inside the section
    terminalreporter.section("orm_kit backends")
    for name, counted in counts.items():
        shown = ", ".join(f"{counted[o]} {o}" for o in OUTCOMES if counted[o])
        if name in OPTIONAL_BACKENDS and name not in BACKENDS:
            variable, example = OPTIONAL_BACKENDS[name]
            shown = f"not run (set {variable}={example})"
        elif not any(counted[o] for o in OUTCOMES if o != "deselected"):
            shown = f"not run ({shown})" if shown else "not run"
        terminalreporter.write_line(f"{name + ':':12} {shown}")


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The PostgreSQL URL under test (an embedded server when none is configured)."""
    url = os.environ.get(POSTGRES_URL_VAR)
    if url:
        yield url
        return
    data_dir = request.config.stash[PG_DATA_DIR]
    with warnings.catch_warnings():
        # platformdirs (used by pgserver) warns when XDG_RUNTIME_DIR is unset, as on CI.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver

        server = pgserver.get_server(data_dir, cleanup_mode="delete")
        socket_dir = server.get_uri().split("host=", 1)[1]
    try:
        yield f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"
    finally:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            server.cleanup()


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """The MariaDB / MySQL URL under test (ORM_KIT_TEST_MYSQL_URL; the database must exist,
    created ``CHARACTER SET utf8mb4``). The backend is parametrized only when it is set."""
    return os.environ[MYSQL_URL_VAR]


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file database, so the direct path and sessions use separate pooled connections."""
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"


@pytest.fixture(scope="session")
def backend_url(backend: str, request: pytest.FixtureRequest) -> str:
    """The database URL of the backend under test."""
    url: str = request.getfixturevalue(URL_FIXTURES[backend])
    return url


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name; part of every integration test id."""
    name: str = request.param
    return name


@pytest.fixture(scope="session")
async def connected(backend_url: str) -> AsyncIterator[Database]:
    """The default Database of the backend under test, with every test table created."""
    import tests.models  # noqa: F401 - registers the test models on Model.metadata

    db = Database(backend_url)
    await db.connect()
    await db.drop_all()
    await db.create_all()
    try:
        yield db
    finally:
        await db.drop_all()
        await db.disconnect()


@pytest.fixture
async def db(connected: Database) -> AsyncIterator[Database]:
    """The connected default database; every table is emptied after the test."""
    yield connected
    async with connected.engine.begin() as conn:
        if conn.dialect.name == "mysql":
            # NOTE(mysql): InnoDB checks a self-referencing foreign key row by row, so one
            # DELETE of a tree whose rows point at each other fails; the suite empties all.
            await conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
        for table in reversed(Model.metadata.sorted_tables):
            await conn.execute(table.delete())
        if conn.dialect.name == "mysql":
            await conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")


@pytest.fixture(scope="session")
def orm_database(connected: Database) -> Database:
    """What orm_kit.testing's ``orm_session`` runs on: the backend under test (replacing the
    plugin's own ``orm_database``, an in-memory SQLite database)."""
    return connected


@pytest.fixture
def rolled_back_db(orm_session: AsyncSession, connected: Database) -> Database:
    """The connected default database; everything the test writes, commits included, is
    rolled back at its end (orm_kit.testing's ``orm_session``) instead of being deleted."""
    return connected
