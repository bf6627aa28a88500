"""Connection settings read from ``DATABASE_*`` environment variables or ``.env`` files.

A named database (``Database(name="analytics")``) reads ``ANALYTICS_DATABASE_*`` first and
falls back to ``DATABASE_*`` for every setting its own prefix leaves unset (see
``DatabaseSettings.for_name``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from orm_kit.exceptions import ValidationError

__all__ = ["DEFAULT_URL", "DatabaseSettings", "env_files", "env_prefix"]

DEFAULT_URL = "sqlite+aiosqlite:///./orm_kit.db"
PREFIX = "DATABASE_"
PG_MAX_TIMEOUT_S = 2147483.647
"""The longest ``statement_timeout`` PostgreSQL takes: 2147483647 milliseconds."""
_PROJECT_MARKERS = ("pyproject.toml", ".git")
_UNNAMED = (None, "", "default")


def env_files(start: Path | None = None) -> tuple[Path, ...]:
    """The ``.env`` files settings read, the last winning: the project root's (the nearest
    folder above ``start`` holding a pyproject.toml or .git), then ``start``'s own.

    ``start`` defaults to the working directory, so a script or ``orm-kit`` run from a
    subfolder of the project still finds the project's ``.env``.
    """
    here = Path.cwd() if start is None else start
    root = next(
        (f for f in (here, *here.parents) if any((f / m).exists() for m in _PROJECT_MARKERS)),
        here,
    )
    return (here / ".env",) if root == here else (root / ".env", here / ".env")


def env_prefix(name: str | None) -> str:
    """The variable prefix of the database called ``name``: ``DATABASE_`` for the default
    (unnamed) one, ``ANALYTICS_DATABASE_`` for ``"analytics"`` (anything but letters and
    digits becomes ``_``: ``"read-replica"`` reads ``READ_REPLICA_DATABASE_*``)."""
    if name in _UNNAMED:
        return PREFIX
    assert name is not None
    return f"{re.sub(r'[^0-9A-Za-z]+', '_', name).strip('_').upper()}_{PREFIX}"


class DatabaseSettings(BaseSettings):
    """Engine and pool settings.

    Every field reads the variable of the same name with a ``DATABASE_`` prefix
    (``DATABASE_URL``, ``DATABASE_POOL_SIZE`` ...), from the environment, else a ``.env``
    file in the working directory, else one at the project root (see ``env_files``). With
    no URL the embedded SQLite default is used. Every field is also a keyword argument of
    ``Database(...)``, which wins over the variables: ``Database(url, pool_size=20)``.

    Pool settings apply to server databases; SQLite uses the pool that suits it. A value of
    the wrong type (``DATABASE_POOL_SIZE=abc``) raises ``orm_kit.ValidationError`` naming
    the variable.
    """

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_assignment=True,
    )

    def __init__(self, **values: Any) -> None:
        # The files are found when the settings are read, from the working directory then.
        values.setdefault("_env_file", env_files())
        try:
            super().__init__(**values)
        except PydanticValidationError as exc:
            raise _invalid(exc, values.get("_env_prefix") or PREFIX) from exc

    @classmethod
    def for_name(cls, name: str | None) -> DatabaseSettings:
        """The settings of the database called ``name``.

        ``<NAME>_DATABASE_*`` first (environment, then ``.env`` files), and for each setting
        it leaves unset the ``DATABASE_*`` one, then the default. ``None`` or
        ``"default"``: the plain ``DATABASE_*`` settings.
        """
        prefix = env_prefix(name)
        if prefix == PREFIX:
            return cls()
        named = cls(_env_prefix=prefix)
        # Init values win over the DATABASE_* variables: what the named prefix set stays.
        settings = cls(**{field: getattr(named, field) for field in named.model_fields_set})
        settings._prefix = prefix  # a wrong Database(name=..., x=...) names <NAME>_DATABASE_X
        return settings

    def updated(self, **values: Any) -> DatabaseSettings:
        """A copy with ``values`` (validated, as ``Database(..., pool_size=20)`` passes them).

        Raises:
            ValidationError: A value of the wrong type, naming the setting.
        """
        copy = self.model_copy(deep=True)
        try:
            for field, value in values.items():
                setattr(copy, field, value)
        except PydanticValidationError as exc:
            raise _invalid(exc, self._prefix) from exc
        return copy

    _prefix: str = PrivateAttr(default=PREFIX)

    url: str = DEFAULT_URL
    """The database URL (``postgresql://`` and friends get orm_kit's async driver)."""
    pool_size: int = Field(default=5, ge=0)
    """Connections the pool keeps open (``0``: no limit, as in SQLAlchemy)."""
    max_overflow: int = Field(default=10, ge=-1)
    """Connections opened beyond ``pool_size`` under load (``-1``: no limit)."""
    pool_timeout: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    """Seconds to wait for a free pooled connection (``0``: fail at once)."""
    pool_recycle: int = Field(default=3600, ge=-1)
    """Seconds after which a pooled connection is replaced (``-1``: never)."""
    pool_pre_ping: bool = False
    echo: bool = False
    echo_pool: bool = False
    statement_cache_size: int | None = Field(default=None, ge=0)
    """asyncpg's prepared-statement cache size (``pgbouncer=True`` sets ``0``)."""
    connect_timeout: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    """Seconds to wait for a new connection to be established (asyncpg's ``timeout``);
    SQLite opens a file and has none."""
    statement_timeout: float | None = Field(default=None, gt=0, le=PG_MAX_TIMEOUT_S)
    """Seconds a statement may run before the server cancels it (PostgreSQL's
    ``statement_timeout``, raising ``DatabaseError``; at most 2147483.647, PostgreSQL's
    limit); ``None``: no limit. SQLite has no
    statement timeout (only its busy timeout for locks), so it is not applied there."""
    pgbouncer: bool = False
    """Connect through PgBouncer in transaction pool mode: no prepared-statement caches,
    and unique prepared-statement names (see the PgBouncer guide)."""
    slow_query_ms: float | None = Field(default=None, ge=0)
    """Log a WARNING naming the caller's file:line for every statement that takes at least
    this many milliseconds (``DATABASE_SLOW_QUERY_MS``; the SQL without its values).
    ``None``: off."""


def _invalid(exc: PydanticValidationError, prefix: str) -> ValidationError:
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        # The URL may hold a password: its value is never shown.
        shown = "" if field == "url" else f"={error.get('input')!r}"
        problems.append(f"{prefix}{field.upper()}{shown} ({field}=): {error['msg']}")
    return ValidationError(
        "Invalid database setting: "
        + "; ".join(problems)
        + ". Fix the environment variable, the .env file or the Database() keyword argument."
    )
