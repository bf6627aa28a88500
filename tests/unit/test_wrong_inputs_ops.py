"""Wrong inputs to the operational surface (settings, a named database's keywords, replicas
options, tracing, the transaction decorator, query counting) are named orm_kit errors that
say what to do, never a raw SQLAlchemy or Python exception, and never silently accepted."""

from __future__ import annotations

import logging
import math

import pytest

from orm_kit import Database, DatabaseSettings, ValidationError, transaction
from orm_kit.observability import disable_tracing, enable_tracing
from orm_kit.testing import assert_num_queries
from tests.unit.settings_env import clean_env  # noqa: F401 - the autouse fixture

PG = "postgresql+asyncpg://app@db.invalid/app"
MEMORY = "sqlite+aiosqlite:///:memory:"


OUT_OF_RANGE = [
    ("pool_size", -1),
    ("max_overflow", -5),
    ("pool_timeout", -1),
    ("pool_timeout", math.nan),
    ("pool_timeout", math.inf),
    ("pool_recycle", -5),
    ("statement_cache_size", -1),
    ("statement_timeout", 1e12),
    ("statement_timeout", math.inf),
    ("connect_timeout", math.inf),
    ("connect_timeout", math.nan),
]


@pytest.mark.parametrize(("field", "value"), OUT_OF_RANGE)
def test_an_out_of_range_keyword_is_a_validation_error(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match="Invalid database setting") as caught:
        Database(PG, **{field: value})
    assert f"DATABASE_{field.upper()}=" in str(caught.value)
    assert f"({field}=)" in str(caught.value)


@pytest.mark.parametrize(("field", "value"), OUT_OF_RANGE)
def test_an_out_of_range_variable_is_a_validation_error(
    monkeypatch: pytest.MonkeyPatch, field: str, value: float
) -> None:
    monkeypatch.setenv(f"DATABASE_{field.upper()}", str(value))
    with pytest.raises(ValidationError, match=f"DATABASE_{field.upper()}="):
        DatabaseSettings()


def test_the_sqlalchemy_special_values_are_still_accepted() -> None:
    # pool_size=0: no size limit; max_overflow=-1: no overflow limit; pool_recycle=-1: never
    # recycle; pool_timeout=0: fail at once when the pool is empty; the longest timeout
    # PostgreSQL takes (2147483647 ms).
    s = DatabaseSettings(
        pool_size=0, max_overflow=-1, pool_recycle=-1, pool_timeout=0, statement_cache_size=0
    )
    assert (s.pool_size, s.max_overflow, s.pool_recycle, s.pool_timeout) == (0, -1, -1, 0)
    assert DatabaseSettings(statement_timeout=2147483.647).statement_timeout == 2147483.647


def test_a_named_databases_wrong_keyword_names_its_own_variable() -> None:
    with pytest.raises(ValidationError) as caught:
        Database(PG, name="analytics", pool_size="zz")
    assert "ANALYTICS_DATABASE_POOL_SIZE='zz' (pool_size=)" in str(caught.value)


def test_a_named_database_without_a_url_names_its_own_variable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="orm_kit"):
        Database(name="analytics")
    assert "ANALYTICS_DATABASE_URL" in caplog.text
    assert "DATABASE_URL" in caplog.text.replace("ANALYTICS_DATABASE_URL", "")


def test_the_default_database_without_a_url_names_database_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="orm_kit"):
        Database()
    assert "DATABASE_URL" in caplog.text and "ANALYTICS" not in caplog.text


def test_replica_cooldown_of_the_wrong_type_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="replica_cooldown='x'"):
        Database(MEMORY, replicas=[MEMORY], replica_cooldown="x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="replica_lag_window='x'"):
        Database(MEMORY, replicas=[MEMORY], replica_lag_window="x")  # type: ignore[arg-type]


def test_replica_options_without_replicas_are_refused() -> None:
    with pytest.raises(
        ValidationError, match=r"replica_lag_window=5\) was given without replicas="
    ):
        Database(MEMORY, replica_lag_window=5)


async def test_replica_instead_of_replicas_suggests_replicas() -> None:
    db = Database(MEMORY, replica=[MEMORY])
    with pytest.raises(ValidationError, match=r"Did you mean replicas=\?"):
        await db.connect()
    assert not db.is_connected


def test_enable_tracing_with_something_not_a_provider_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"tracer_provider='x'.*get_tracer"):
        enable_tracing("x")
    disable_tracing()


def test_a_bare_transaction_decorator_says_to_add_parentheses() -> None:
    async def work() -> None:
        return None

    with pytest.raises(ValidationError, match=r"@transaction\(\)"):
        transaction(work)  # type: ignore[call-overload]


@pytest.mark.parametrize("expected", ["2", -1, 1.5, True, None])
def test_assert_num_queries_takes_a_count(expected: object) -> None:
    with (
        pytest.raises(ValidationError, match=r"assert_num_queries\(.*int >= 0"),
        assert_num_queries(expected),  # type: ignore[arg-type]
    ):
        pass


@pytest.mark.parametrize(
    ("expected", "message"), [(1, "Expected 1 query, 0 ran"), (2, "Expected 2 queries, 0 ran")]
)
def test_assert_num_queries_message_is_singular_for_one(expected: int, message: str) -> None:
    with pytest.raises(AssertionError, match=message), assert_num_queries(expected):
        pass


def test_a_bare_database_transaction_decorator_says_to_add_parentheses() -> None:
    async def work() -> None:
        return None

    db = Database(MEMORY)
    with pytest.raises(ValidationError, match=r"@db\.transaction\(\)"):
        db.transaction(work)  # type: ignore[call-overload]
