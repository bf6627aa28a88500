"""Every setting is a DATABASE_* variable and a Database() keyword; a named database reads
<NAME>_DATABASE_* first; wrong values are orm_kit ValidationErrors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from orm_kit import Database, DatabaseSettings, ValidationError
from orm_kit.settings import env_prefix
from tests.unit.settings_env import clean_env  # noqa: F401 - the autouse fixture

DESIGN_VARIABLES = [
    "DATABASE_URL",
    "DATABASE_POOL_SIZE",
    "DATABASE_MAX_OVERFLOW",
    "DATABASE_POOL_TIMEOUT",
    "DATABASE_POOL_RECYCLE",
    "DATABASE_POOL_PRE_PING",
    "DATABASE_ECHO",
    "DATABASE_ECHO_POOL",
    "DATABASE_STATEMENT_CACHE_SIZE",
    "DATABASE_CONNECT_TIMEOUT",
    "DATABASE_STATEMENT_TIMEOUT",
    "DATABASE_PGBOUNCER",
    "DATABASE_SLOW_QUERY_MS",
]
PG = "postgresql+asyncpg://app@db.invalid/app"


def test_the_fields_are_the_designs_variables() -> None:
    assert [f"DATABASE_{f.upper()}" for f in DatabaseSettings.model_fields] == DESIGN_VARIABLES


def test_the_new_fields_defaults() -> None:
    s = DatabaseSettings()
    assert (s.connect_timeout, s.statement_timeout, s.pgbouncer, s.slow_query_ms) == (
        10.0,
        None,
        False,
        None,
    )


def test_every_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "DATABASE_URL": PG,
        "DATABASE_POOL_SIZE": "3",
        "DATABASE_MAX_OVERFLOW": "4",
        "DATABASE_POOL_TIMEOUT": "1.5",
        "DATABASE_POOL_RECYCLE": "60",
        "DATABASE_POOL_PRE_PING": "true",
        "DATABASE_ECHO": "1",
        "DATABASE_ECHO_POOL": "yes",
        "DATABASE_STATEMENT_CACHE_SIZE": "0",
        "DATABASE_CONNECT_TIMEOUT": "2.5",
        "DATABASE_STATEMENT_TIMEOUT": "30",
        "DATABASE_PGBOUNCER": "true",
        "DATABASE_SLOW_QUERY_MS": "250",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    s = DatabaseSettings()
    assert s.model_dump() == {
        "url": PG,
        "pool_size": 3,
        "max_overflow": 4,
        "pool_timeout": 1.5,
        "pool_recycle": 60,
        "pool_pre_ping": True,
        "echo": True,
        "echo_pool": True,
        "statement_cache_size": 0,
        "connect_timeout": 2.5,
        "statement_timeout": 30.0,
        "pgbouncer": True,
        "slow_query_ms": 250.0,
    }


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DATABASE_POOL_SIZE", "abc", "DATABASE_POOL_SIZE='abc' (pool_size=)"),
        ("DATABASE_PGBOUNCER", "maybe", "DATABASE_PGBOUNCER='maybe' (pgbouncer=)"),
        ("DATABASE_CONNECT_TIMEOUT", "0", "DATABASE_CONNECT_TIMEOUT='0' (connect_timeout=)"),
        ("DATABASE_STATEMENT_TIMEOUT", "-1", "DATABASE_STATEMENT_TIMEOUT='-1'"),
        ("DATABASE_SLOW_QUERY_MS", "soon", "DATABASE_SLOW_QUERY_MS='soon'"),
    ],
)
def test_a_wrong_value_is_a_validation_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match="Invalid database setting") as caught:
        Database()
    assert expected in str(caught.value)
    assert "Fix the environment variable" in str(caught.value)


def test_a_wrong_value_in_a_env_file_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DATABASE_MAX_OVERFLOW=lots\n")
    with pytest.raises(ValidationError, match=r"DATABASE_MAX_OVERFLOW='lots' \(max_overflow=\)"):
        DatabaseSettings()


def test_a_wrong_url_value_never_shows_the_value() -> None:
    # A URL can hold a password: the message names the variable, not what it holds.
    with pytest.raises(ValidationError, match=r"DATABASE_URL \(url=\)") as caught:
        DatabaseSettings(url=["postgresql://app:s3cret@db/app"])
    assert "s3cret" not in str(caught.value)


def test_settings_keywords_override_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("DATABASE_ECHO", "true")
    db = Database(PG, pool_size=2, statement_cache_size=0, connect_timeout=1, pool_recycle=9)
    assert (db.settings.pool_size, db.settings.statement_cache_size) == (2, 0)
    assert (db.settings.connect_timeout, db.settings.pool_recycle) == (1.0, 9)
    assert db.settings.echo is True  # not given: the variable's
    assert db._engine_kwargs == {}  # none of them reaches create_async_engine


def test_settings_keywords_override_explicit_settings_without_changing_them() -> None:
    given = DatabaseSettings(url=PG, pool_size=4, _env_file=None)
    db = Database(settings=given, pool_size=9, pgbouncer=True)
    assert (db.settings.pool_size, db.settings.pgbouncer, db.settings.url) == (9, True, PG)
    assert (given.pool_size, given.pgbouncer) == (4, False)


def test_other_keywords_still_go_to_the_engine() -> None:
    db = Database(PG, pool_size=2, isolation_level="SERIALIZABLE")
    assert db._engine_kwargs == {"isolation_level": "SERIALIZABLE"}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"pool_size": "many"}, "DATABASE_POOL_SIZE='many' (pool_size=)"),
        ({"statement_timeout": 0}, "DATABASE_STATEMENT_TIMEOUT=0 (statement_timeout=)"),
        ({"pgbouncer": "perhaps"}, "(pgbouncer=)"),
    ],
)
def test_a_wrong_keyword_value_is_a_validation_error(
    kwargs: dict[str, object], expected: str
) -> None:
    with pytest.raises(ValidationError, match="Invalid database setting") as caught:
        Database(PG, **kwargs)
    assert expected in str(caught.value)


async def test_a_keyword_the_engine_does_not_take_is_a_validation_error() -> None:
    db = Database("sqlite+aiosqlite:///:memory:", pool_sise=3)
    with pytest.raises(ValidationError, match="'pool_sise'") as caught:
        await db.connect()
    assert "pool_size" in str(caught.value)  # the settings keywords are listed
    assert "Did you mean pool_size=?" in str(caught.value)
    assert not db.is_connected


async def test_a_replica_url_not_in_a_list_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"list of URLs, not one URL"):
        Database("sqlite+aiosqlite:///:memory:", replicas="sqlite+aiosqlite:///:memory:")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pgbouncer": True, "statement_cache_size": 100}, "needs statement_cache_size=0"),
        ({"pgbouncer": True, "statement_timeout": 5}, "ALTER ROLE app SET statement_timeout"),
    ],
)
async def test_contradicting_pgbouncer_settings_are_refused(
    kwargs: dict[str, object], match: str
) -> None:
    db = Database(PG, **kwargs)
    with pytest.raises(ValidationError, match=match):
        await db.connect()  # refused before any connection is attempted


async def test_pgbouncer_on_a_driver_it_does_not_configure_is_refused() -> None:
    db = Database("sqlite+aiosqlite:///:memory:", pgbouncer=True)
    with pytest.raises(ValidationError, match="configures the asyncpg driver"):
        await db.connect()


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        (None, "DATABASE_"),
        ("default", "DATABASE_"),
        ("analytics", "ANALYTICS_DATABASE_"),
        ("read-replica", "READ_REPLICA_DATABASE_"),
        ("Reports2", "REPORTS2_DATABASE_"),
    ],
)
def test_env_prefix(name: str | None, prefix: str) -> None:
    assert env_prefix(name) == prefix


def test_a_named_database_reads_its_prefix_first_then_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@main/app")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("DATABASE_ECHO", "true")
    monkeypatch.setenv("ANALYTICS_DATABASE_URL", "postgresql://app@warehouse/analytics")
    monkeypatch.setenv("ANALYTICS_DATABASE_POOL_SIZE", "2")
    db = Database(name="analytics")
    assert db.url.host == "warehouse"
    assert (db.settings.pool_size, db.settings.echo) == (2, True)  # echo falls back
    plain = Database()
    assert (plain.url.host, plain.settings.pool_size) == ("main", 7)


def test_a_named_database_reads_env_files_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "DATABASE_URL=postgresql://app@main/app\n"
        "DATABASE_STATEMENT_TIMEOUT=30\n"
        "ANALYTICS_DATABASE_URL=postgresql://app@warehouse/analytics\n"
        "ANALYTICS_DATABASE_PGBOUNCER=true\n"
    )
    db = Database(name="analytics")
    assert (db.url.host, db.settings.pgbouncer, db.settings.statement_timeout) == (
        "warehouse",
        True,
        30.0,
    )
    # The environment wins over the file, per variable.
    monkeypatch.setenv("ANALYTICS_DATABASE_PGBOUNCER", "false")
    assert Database(name="analytics").settings.pgbouncer is False


def test_a_named_databases_own_value_masks_a_wrong_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_POOL_SIZE", "abc")
    monkeypatch.setenv("ANALYTICS_DATABASE_POOL_SIZE", "4")
    assert Database(PG, name="analytics").settings.pool_size == 4
    monkeypatch.setenv("ANALYTICS_DATABASE_POOL_SIZE", "four")
    with pytest.raises(ValidationError, match="ANALYTICS_DATABASE_POOL_SIZE='four'"):
        Database(PG, name="analytics")


def test_a_named_database_without_its_own_url_uses_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@main/app")
    assert Database(name="analytics").url.host == "main"


def test_connection_counts_fold_the_servers_states() -> None:
    from orm_kit.engine import connection_counts

    rows = [("active", 2), ("idle", 5), ("idle in transaction (aborted)", 1), ("unknown", 1)]
    assert connection_counts(rows) == {
        "active": 2,
        "idle": 5,
        "idle_in_transaction": 0,
        "idle_in_transaction_aborted": 1,
        "unknown": 1,
        "total": 9,
    }
    assert connection_counts([]) == {"active": 0, "idle": 0, "idle_in_transaction": 0, "total": 0}


def test_prepared_statement_names_are_unique() -> None:
    from orm_kit.engine import prepared_statement_name

    names = {prepared_statement_name() for _ in range(1000)}
    assert len(names) == 1000
    assert all(n.startswith("__orm_kit_") and n.endswith("__") for n in names)
