"""The connected databases of this process: found by name, and the default one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orm_kit.exceptions import DatabaseUnavailableError, ValidationError

if TYPE_CHECKING:
    from orm_kit.database import Database

__all__ = ["DEFAULT_NAME", "get_database", "registry"]

DEFAULT_NAME = "default"
"""The name that always means the default database: ``using("default")``."""


class _Registry:
    """The connected databases of this process.

    The first database connected while there is no default becomes the default one.
    Named databases are found by name; ``"default"`` names whichever is the default. When
    the default disconnects there is none until the next ``connect()``: queries never
    move to another connected database behind the caller's back.
    """

    def __init__(self) -> None:
        self.by_name: dict[str, Database] = {}
        self.default: Database | None = None

    def lookup(self, name: str | None) -> Database | None:
        if name is None or name == DEFAULT_NAME:
            return self.default
        return self.by_name.get(name)

    def check_free(self, db: Database) -> None:
        if db.name is None:
            return  # unnamed: reached through the object (and as the default, if it is)
        if db.name == DEFAULT_NAME:
            if self.default is not None and self.default is not db:
                raise ValidationError(
                    f"{db!r} is named 'default', but the default database is already "
                    f"connected ({self.default!r}). Leave name= out, or pass another name."
                )
            return
        existing = self.by_name.get(db.name)
        if existing is not None and existing is not db:
            raise ValidationError(
                f"A database named {db.name!r} is already connected ({existing!r}). "
                "Disconnect it first or pass a different name= to Database()."
            )

    def add(self, db: Database) -> None:
        self.check_free(db)
        if db.name is not None and db.name != DEFAULT_NAME:
            self.by_name[db.name] = db
        if self.default is None:
            self.default = db

    def remove(self, db: Database) -> None:
        if db.name is not None and self.by_name.get(db.name) is db:
            del self.by_name[db.name]
        if self.default is db:
            self.default = None


registry = _Registry()
"""The one registry of the process (``Database.connect`` adds to it)."""


def get_database(name: str | None = None) -> Database:
    """Return the connected database called ``name``, or the default one.

    ``"default"`` is the default database too, whatever its own name.

    Raises:
        DatabaseUnavailableError: No such database is connected.
    """
    db = registry.lookup(name)
    if db is None:
        which = (
            "No database is connected"
            if name is None or name == DEFAULT_NAME
            else f"No database named {name!r} is connected"
        )
        raise DatabaseUnavailableError(
            f"{which}. Connect it first, e.g. when the application starts: "
            "`await Database(url).connect()` (or `async with Database(url):`), or "
            "`await init_database()` for the default database."
        )
    return db
