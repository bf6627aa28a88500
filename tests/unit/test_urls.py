"""Database URLs: the common forms get orm_kit's async drivers; a bad one is a clear error."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy.engine import make_url

from orm_kit import Database, DatabaseUnavailableError, ValidationError
from orm_kit.database import normalize_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "postgresql://app:pw@db.example.com:5433/app",
            "postgresql+asyncpg://app:pw@db.example.com:5433/app",
        ),
        ("postgres://app@db/app", "postgresql+asyncpg://app@db/app"),
        ("postgresql+asyncpg://app@db/app", "postgresql+asyncpg://app@db/app"),
        ("postgresql+psycopg://app@db/app", "postgresql+psycopg://app@db/app"),
        # libpq's sslmode is asyncpg's ssl.
        ("postgresql://app@db/app?sslmode=require", "postgresql+asyncpg://app@db/app?ssl=require"),
        ("sqlite:///./app.db", "sqlite+aiosqlite:///./app.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("mysql://root@127.0.0.1/test", "mysql+asyncmy://root@127.0.0.1/test"),
        # MariaDB runs on the mysql dialect, which recognises the server when it connects.
        ("mariadb://root@127.0.0.1/test", "mysql+asyncmy://root@127.0.0.1/test"),
        ("mariadb+asyncmy://root@127.0.0.1/test", "mysql+asyncmy://root@127.0.0.1/test"),
        (
            "mysql+asyncmy://root@db/test?charset=utf8mb4",
            "mysql+asyncmy://root@db/test?charset=utf8mb4",
        ),
    ],
)
def test_common_forms_get_the_async_driver(given: str, expected: str) -> None:
    assert normalize_url(given) == make_url(expected)
    assert Database(given).url == make_url(expected)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("notaurl", "is not a database URL"),
        ("", "is not a database URL"),
        ("postgresql+psycopg2://app@db/app", "psycopg2 is a blocking driver"),
        ("sqlite+pysqlite:///x.db", "pysqlite is a blocking driver"),
        ("mysql+pymysql://root@db/test", "pymysql is a blocking driver"),
        ("mariadb+mariadbconnector://root@db/test", "mariadbconnector is a blocking driver"),
        ("oracle://scott@db/xe", "orm_kit supports"),
    ],
)
def test_bad_urls_are_refused_with_what_to_use(given: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Database(given)


def test_the_password_never_shows_in_the_error() -> None:
    with pytest.raises(ValidationError) as caught:
        Database("postgresql+psycopg2://app:s3cret@db/app")
    assert "s3cret" not in str(caught.value)


async def test_a_driver_that_is_not_installed_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As on a machine without psycopg (the bench extra installs it): importing it fails.
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(DatabaseUnavailableError, match=r"pip install 'orm_kit\[postgres\]'"):
        await Database("postgresql+psycopg://app@127.0.0.1:5432/app").connect()
