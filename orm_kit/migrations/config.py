"""The project's migration settings: ``[tool.orm_kit]`` in the nearest pyproject.toml.

Flags and ``DATABASE_URL`` override the file; the models modules are imported so that
autogenerate sees every ``Model`` subclass.
"""

from __future__ import annotations

import difflib
import importlib
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orm_kit.exceptions import ORMKitError
from orm_kit.settings import DatabaseSettings
from orm_kit.urls import normalize_url

__all__ = ["MigrationError", "ProjectConfig", "find_pyproject", "load_project_config"]

DEFAULT_MIGRATIONS = "migrations"
# The settings [tool.orm_kit] may hold; any other key is refused (a typo would otherwise
# be ignored without a word).
KNOWN_KEYS = ("migrations", "models")


class MigrationError(ORMKitError):
    """A migration command could not run; the message says why and what to do."""


@dataclass(frozen=True)
class ProjectConfig:
    """Where a project's models, migrations and database are.

    Attributes:
        root: The project root: the folder of the pyproject.toml (or the working folder).
        models: The modules to import so every model is on ``Model.metadata``.
        migrations_dir: The Alembic script folder (``env.py``, ``versions/``).
        url: The database URL (``--url``, else ``DATABASE_URL`` / ``.env``, else the
            SQLite default).
        pyproject: The pyproject.toml read, if any.
    """

    root: Path
    models: tuple[str, ...]
    migrations_dir: Path
    url: str
    pyproject: Path | None = None

    def import_models(self) -> None:
        """Import the models modules (the project root first on ``sys.path``).

        Raises:
            MigrationError: No module is configured, or one fails to import.
        """
        if not self.models:
            where = f"in {self.pyproject}" if self.pyproject else "in pyproject.toml"
            raise MigrationError(
                'No models module is configured: set models = "app.models" under '
                f"[tool.orm_kit] {where}, or pass --models."
            )
        root = str(self.root)
        if root not in sys.path:
            sys.path.insert(0, root)
        for name in self.models:
            try:
                importlib.import_module(name)
            except Exception as exc:  # any failure of user code becomes one clear line
                detail = str(exc).splitlines()[0] if str(exc) else ""
                raise MigrationError(
                    f"Could not import the models module {name!r} "
                    f"({type(exc).__name__}: {detail}). Check models under [tool.orm_kit] "
                    "or --models, and run orm-kit from the project root."
                ) from exc

    def require_migrations_dir(self) -> Path:
        """The migrations folder, which must exist.

        Raises:
            MigrationError: It does not exist yet.
        """
        if not (self.migrations_dir / "env.py").is_file():
            raise MigrationError(
                f"No migrations folder at {self.migrations_dir}: run `orm-kit init` first "
                "(or pass --migrations)."
            )
        return self.migrations_dir


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml in ``start`` or a folder above it."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _read_section(pyproject: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MigrationError(f"Could not read {pyproject}: {exc}.") from exc
    section = data.get("tool", {}).get("orm_kit", {})
    if not isinstance(section, dict):
        raise MigrationError(f"[tool.orm_kit] in {pyproject} must be a table.")
    for key in section:
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            raise MigrationError(
                f"Unknown key {key!r} under [tool.orm_kit] in {pyproject}{guess}; the known "
                f"keys are {', '.join(KNOWN_KEYS)}."
            )
    return section


def _as_modules(value: object, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise MigrationError(f"models in {source} must be a module name or a list of them.")


def load_project_config(
    start: Path | None = None,
    *,
    models: str | Sequence[str] | None = None,
    migrations_dir: str | Path | None = None,
    url: str | None = None,
) -> ProjectConfig:
    """Read ``[tool.orm_kit]`` from the nearest pyproject.toml, overridden by arguments.

    Args:
        start: Where to look for pyproject.toml (default: the working folder).
        models: Module name(s) instead of the file's ``models`` (a comma-separated string
            or a list).
        migrations_dir: Instead of the file's ``migrations`` (relative to the project root).
        url: Instead of ``DATABASE_URL``.

    Raises:
        MigrationError: The file cannot be read or its section is malformed.
    """
    start = (start or Path.cwd()).resolve()
    pyproject = find_pyproject(start)
    section = _read_section(pyproject) if pyproject else {}
    root = pyproject.parent if pyproject else start
    source = str(pyproject) if pyproject else "pyproject.toml"
    modules = (
        _as_modules(models, "--models")
        if models is not None
        else _as_modules(section.get("models"), source)
    )
    folder = Path(migrations_dir or section.get("migrations") or DEFAULT_MIGRATIONS)
    return ProjectConfig(
        root=root,
        models=modules,
        migrations_dir=folder if folder.is_absolute() else root / folder,
        url=normalize_url(url or DatabaseSettings().url).render_as_string(hide_password=False),
        pyproject=pyproject,
    )
