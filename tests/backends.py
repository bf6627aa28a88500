"""The backends the suite runs on and what each of them can do.

Tests gate on a capability, never on a backend's name: ``@pytest.mark.requires("copy")``
skips the test (with the capability and the backend in the reason) where the backend lacks
it, and ``supports(db.dialect, "copy")`` picks the expected result where both backends
run the test but legitimately differ. A new backend declares its row here.
"""

from __future__ import annotations

import os

ALL_BACKENDS = ["sqlite", "postgresql", "mariadb"]
"""Every backend the suite knows, in the order the test ids and the summary show them."""

OPTIONAL_BACKENDS = {
    "mariadb": ("ORM_KIT_TEST_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/test_mariadb"),
}
"""Backends that run only when their URL variable is set: (the variable, an example URL).
Without it the terminal summary says the backend did not run and how to run it."""

BACKENDS = [
    name
    for name in ALL_BACKENDS
    if name not in OPTIONAL_BACKENDS or os.environ.get(OPTIONAL_BACKENDS[name][0])
]
"""The backends this run parametrizes over."""

URL_FIXTURES = {"sqlite": "sqlite_url", "postgresql": "postgres_url", "mariadb": "mysql_url"}
"""The session fixture that gives each backend's database URL (see tests/conftest.py)."""

CAPABILITIES: dict[str, str] = {
    "bigint_keys": "a BIGINT / SMALLINT primary key keeps its type in the DDL (SQLite "
    "autoincrements only an INTEGER PRIMARY KEY, the rowid)",
    "concurrent_writers": "two units of work can write at the same time (SQLite has one "
    "writer: a second one waits)",
    "copy_bulk_insert": "bulk_create sends large batches with COPY rather than INSERT",
    "database_collation": "text compares and sorts by the database's collation, which may "
    "not be code-point order",
    "native_enums": "an Enum column is a database enum type (CREATE TYPE), which migrations "
    "create, extend and drop (SQLite stores a VARCHAR)",
    "nulls_first": "NULLs sort first ascending and last descending (Django follows the backend)",
    "named_databases": "the server holds named databases that must exist before a URL can "
    "open one (SQLite creates a missing file)",
    "database_files": "the database is a file the URL names, opened in a folder that must "
    "exist (a server database lives on the server)",
    "pgbouncer": "PgBouncer can pool its connections in transaction mode (SQLite is "
    "embedded: there is no server connection to pool)",
    "prepared_statements": "the server keeps named prepared statements a connection can "
    "lose (DEALLOCATE; SQLite prepares statements inside the driver)",
    "pragmas": "connection PRAGMAs (foreign_keys, journal_mode) and in-memory databases",
    "raw_path": "orm_kit's raw path runs the direct path's cached statements on the driver "
    "connection (asyncpg, orm_kit's aiosqlite adapter, asyncmy on MariaDB; MySQL's go "
    "through SQLAlchemy)",
    "refused_connections": "the server can be told to refuse new connections and end open "
    "ones (ALLOW_CONNECTIONS false, pg_terminate_backend), as a stopped server would",
    "sequences": "generated keys come from a sequence that setval() can move",
    "streaming_replication": "a hot-standby replica can stream the server's WAL and report "
    "how far it has replayed (the replica tests start their own primary and replica)",
    "statement_counters": "the server counts the statements each connection sends (SHOW "
    "SESSION STATUS), so a test can see every round trip (PostgreSQL needs an extension)",
    "strict_type_changes": "altering a column to a type with no implicit cast from the old "
    "one fails without a USING clause (SQLite batch mode copies the values as they are)",
    "server_settings": "the driver sends server settings (statement_timeout, "
    "application_name) when it connects (SQLite has no server)",
    "serialization_failures": "units of work can fail with a serialization failure or a "
    "deadlock (SQLSTATE 40001 / 40P01) and take an isolation level (SQLite serializes them: "
    "each takes the write lock up front with BEGIN IMMEDIATE)",
    "sleep": "the server can sleep inside a query (pg_sleep, SLEEP: see sleep_sql), to test "
    "cancellation",
    "transactional_ddl": "DDL runs inside the transaction, so a migration that fails leaves "
    "nothing applied (MariaDB / MySQL commit each CREATE / ALTER / DROP at once)",
    "unicode_lower": "lower() folds non-ASCII letters whatever the database's locale "
    "(orm_kit registers Python's str.lower on SQLite; on PostgreSQL it depends on the "
    "locale, so tests probe it)",
}
"""Every capability a test may ask for, and what it means."""

SUPPORTS: dict[str, frozenset[str]] = {
    "sqlite": frozenset(
        {"database_files", "nulls_first", "pragmas", "raw_path"}
        | {"transactional_ddl"}
        | {"unicode_lower"}
    ),
    "postgresql": frozenset(
        {"bigint_keys", "concurrent_writers", "copy_bulk_insert", "database_collation"}
        | {"named_databases", "native_enums", "pgbouncer", "refused_connections", "sequences"}
        | {"prepared_statements", "raw_path", "serialization_failures", "server_settings"}
        | {"sleep"}
        | {"streaming_replication"}
        | {"strict_type_changes", "transactional_ddl"}
    ),
    # MariaDB 10.6+ (and MySQL 8) through asyncmy: InnoDB row locks, NULLs first ascending,
    # a server with named databases. Text columns orm_kit creates are binary-collated
    # (orm_kit.types.MYSQL_COLLATIONS): code-point order, as on SQLite.
    "mariadb": frozenset(
        {"bigint_keys", "concurrent_writers", "named_databases", "nulls_first", "sleep"}
        | {"raw_path", "statement_counters", "unicode_lower"}
    ),
}
"""The capabilities of each backend."""


DIALECT_BACKENDS = {"mysql": "mariadb"}
"""Backends whose SQLAlchemy dialect name (``db.dialect``) is not the backend's name: MariaDB
runs on the mysql dialect."""


def dialect_of(backend: str) -> str:
    """The SQLAlchemy dialect name (``db.dialect``) of ``backend``: ``"mysql"`` for MariaDB."""
    return next((d for d, b in DIALECT_BACKENDS.items() if b == backend), backend)


def supports(backend: str, capability: str) -> bool:
    """Whether ``backend`` (a backend or its dialect name, ``db.dialect``) has ``capability``
    (a name from :data:`CAPABILITIES`).

    Raises:
        KeyError: An unknown backend or capability: a typo must not skip a test silently.
    """
    if capability not in CAPABILITIES:
        raise KeyError(f"Unknown capability {capability!r}; declare it in tests/backends.py.")
    return capability in SUPPORTS[DIALECT_BACKENDS.get(backend, backend)]


def missing_reason(backend: str, capability: str) -> str:
    """The skip reason of a test that needs ``capability`` on a backend without it."""
    backend = DIALECT_BACKENDS.get(backend, backend)
    return f"requires {capability} ({CAPABILITIES[capability]}): {backend} does not have it"


def drop_database_sql(dialect: str, name: str) -> str:
    """SQL that drops the server database ``name`` if it exists, ending its connections
    where the server can (PostgreSQL's FORCE; MariaDB drops it under open connections)."""
    if dialect == "mysql":
        return f"DROP DATABASE IF EXISTS `{name}`"
    return f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'


def create_database_sql(dialect: str, name: str) -> str:
    """SQL that creates the server database ``name`` (utf8mb4 on MariaDB)."""
    if dialect == "mysql":
        return f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
    return f'CREATE DATABASE "{name}"'


def sleep_sql(backend: str, seconds: float) -> str:
    """A query that sleeps ``seconds`` on the server of ``backend`` (or its dialect name) and
    returns one row; for a backend with the ``sleep`` capability."""
    if DIALECT_BACKENDS.get(backend, backend) == "mariadb":
        return f"SELECT SLEEP({seconds})"
    return f"SELECT pg_sleep({seconds})"
