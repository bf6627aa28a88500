"""Database URLs: the forms users are handed, turned into orm_kit's async drivers.

Hosting providers and other tools hand out ``postgresql://``, ``postgres://``, ``sqlite://``
and ``mysql://`` URLs, which SQLAlchemy would give a blocking driver. orm_kit is async, so a
URL without a driver gets orm_kit's async one; a blocking driver named explicitly is refused
with the URL to use instead; a driver that is not installed names the extra to install.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from orm_kit.exceptions import DatabaseUnavailableError, ValidationError

__all__ = ["ASYNC_DRIVERS", "missing_driver_error", "normalize_url"]

ASYNC_DRIVERS = {
    "postgresql": "asyncpg",
    "sqlite": "aiosqlite",
    "mysql": "asyncmy",
}
"""The driver a URL without one gets, per backend."""

# NOTE(mysql): MariaDB runs on SQLAlchemy's mysql dialect, which recognises the server when it
# connects; one dialect name ("mysql") keeps one set of SQL constructs for both servers.
_ALIASES = {"postgres": "postgresql", "mariadb": "mysql"}
_BLOCKING = {
    "postgresql": ("psycopg2", "psycopg2cffi", "pg8000", "pygresql"),
    "sqlite": ("pysqlite", "pysqlcipher"),
    "mysql": ("pymysql", "mysqldb", "mysqlconnector", "mariadbconnector", "cymysql", "pyodbc"),
}
_EXTRAS = {"asyncpg": "postgres", "asyncmy": "mysql", "aiomysql": "mysql", "psycopg": "postgres"}
_EXAMPLE = "postgresql://user:password@host:5432/app or sqlite:///./app.db"


def normalize_url(url: str | URL) -> URL:
    """Return ``url`` with orm_kit's async driver where it names none.

    ``postgresql://`` and ``postgres://`` get asyncpg (and libpq's ``sslmode`` becomes
    asyncpg's ``ssl``), ``sqlite://`` aiosqlite, ``mysql://`` asyncmy. ``mariadb://`` (and
    ``mariadb+asyncmy://``) becomes ``mysql+asyncmy://``: SQLAlchemy's mysql dialect tells
    MariaDB from MySQL when it connects. An async driver named explicitly
    (``postgresql+psycopg://``) is kept.

    Raises:
        ValidationError: ``url`` is not a database URL, names a blocking driver, or a
            backend orm_kit does not support (the message says what to use; the password
            never shows).
    """
    if not isinstance(url, str | URL):
        raise ValidationError(
            f"A {type(url).__name__} is not a database URL; give a string or a SQLAlchemy "
            f"URL like {_EXAMPLE}."
        )
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        raise ValidationError(
            f"{_shown(url)!r} is not a database URL; give one like {_EXAMPLE}."
        ) from None
    backend = _ALIASES.get(parsed.get_backend_name(), parsed.get_backend_name())
    if backend not in ASYNC_DRIVERS:
        raise ValidationError(
            f"{_shown(parsed)}: orm_kit supports {', '.join(sorted(ASYNC_DRIVERS))} "
            f"(MariaDB through mysql://) databases, not {backend}."
        )
    driver = parsed.get_driver_name() if "+" in parsed.drivername else ASYNC_DRIVERS[backend]
    if driver in _BLOCKING[backend]:
        fixed = parsed.set(drivername=f"{backend}+{ASYNC_DRIVERS[backend]}")
        raise ValidationError(
            f"{_shown(parsed)}: {driver} is a blocking driver and orm_kit is async; use "
            f"{_shown(fixed)} (or {backend}://..., which gets {ASYNC_DRIVERS[backend]})."
        )
    parsed = parsed.set(drivername=f"{backend}+{driver}")
    if driver == "asyncpg" and "sslmode" in parsed.query:
        # NOTE(postgresql): asyncpg takes libpq's sslmode values as ssl=.
        query = {k: v for k, v in parsed.query.items() if k != "sslmode"}
        parsed = parsed.set(query={**query, "ssl": parsed.query["sslmode"]})
    return parsed


def missing_driver_error(url: URL, exc: ImportError) -> DatabaseUnavailableError:
    """The error for a URL whose driver is not installed, naming what to install."""
    driver = url.get_driver_name()
    extra = _EXTRAS.get(driver)
    hint = f"pip install 'orm_kit[{extra}]'" if extra else f"install the {driver} package"
    return DatabaseUnavailableError(
        f"Cannot use {_shown(url)}: its driver {driver} is not installed ({exc}); {hint}."
    )


def _shown(url: str | URL) -> str:
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url if ":" not in url else url.split(":", 1)[0] + ":..."
