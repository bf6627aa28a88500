"""Connection settings read from ``DATABASE_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_URL = "sqlite+aiosqlite:///./orm_kit.db"


class DatabaseSettings(BaseSettings):
    """Engine and pool settings.

    Every field reads the variable of the same name with a ``DATABASE_`` prefix
    (``DATABASE_URL``, ``DATABASE_POOL_SIZE`` ...), from the environment or a ``.env``
    file in the working directory. With no URL the embedded SQLite default is used.
    Pool settings apply to server databases; SQLite uses the pool that suits it.
    """

    model_config = SettingsConfigDict(
        env_prefix="DATABASE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

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
