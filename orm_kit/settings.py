"""Connection settings read from ``DATABASE_*`` environment variables or ``.env`` files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_URL = "sqlite+aiosqlite:///./orm_kit.db"
_PROJECT_MARKERS = ("pyproject.toml", ".git")


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


class DatabaseSettings(BaseSettings):
    """Engine and pool settings.

    Every field reads the variable of the same name with a ``DATABASE_`` prefix
    (``DATABASE_URL``, ``DATABASE_POOL_SIZE`` ...), from the environment, else a ``.env``
    file in the working directory, else one at the project root (see ``env_files``). With
    no URL the embedded SQLite default is used.
    Pool settings apply to server databases; SQLite uses the pool that suits it.
    """

    model_config = SettingsConfigDict(
        env_prefix="DATABASE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    def __init__(self, **values: Any) -> None:
        # The files are found when the settings are read, from the working directory then.
        values.setdefault("_env_file", env_files())
        super().__init__(**values)

    url: str = DEFAULT_URL
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30.0
    pool_recycle: int = 3600
    pool_pre_ping: bool = False
    echo: bool = False
    echo_pool: bool = False
    statement_cache_size: int | None = None
    """asyncpg's prepared-statement cache size; set ``0`` behind PgBouncer in transaction mode."""
    slow_query_ms: float | None = None
    """Log a WARNING naming the caller's file:line for every statement that takes at least
    this many milliseconds (``DATABASE_SLOW_QUERY_MS``; the SQL without its values)."""
