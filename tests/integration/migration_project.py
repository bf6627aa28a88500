"""A throw-away project for the migration tests: its own pyproject.toml, models module
and clean database, with ``orm-kit`` run as a subprocess in it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

TIMEOUT = 120
_OPERATION = re.compile(r"\b(?:op|batch_op)\.(\w+)\(")
# op.f() marks a name; batch_alter_table() groups the operations of one table.
_NOT_OPERATIONS = {"f", "batch_alter_table"}


@dataclass
class Run:
    """One ``orm-kit`` run: exit code and output."""

    code: int
    out: str
    err: str


@dataclass
class Project:
    """A project folder with ``app/models.py`` and ``[tool.orm_kit]`` in pyproject.toml."""

    root: Path
    url: str

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def models(self, text: str) -> None:
        """Replace ``app/models.py`` (header: the usual imports)."""
        header = (
            "from datetime import datetime\n"
            "from decimal import Decimal\n"
            "from sqlalchemy import ForeignKey, Index, Numeric, String, Text\n"
            "from sqlalchemy.orm import Mapped, mapped_column\n"
            "from orm_kit import Model\n"
        )
        self.write("app/models.py", header + textwrap.dedent(text))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
        env["DATABASE_URL"] = self.url
        return env

    def run(self, *args: str, url: bool = True, stdin: str | None = None) -> Run:
        """``orm-kit ARGS`` in the project folder (``DATABASE_URL`` set unless not ``url``)."""
        env = self.env() if url else {k: v for k, v in self.env().items() if k != "DATABASE_URL"}
        done = subprocess.run(
            [sys.executable, "-m", "orm_kit.cli", *args],
            cwd=self.root,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> str:
        """``orm-kit ARGS``, which must succeed; its stdout (stderr: progress lines only)."""
        result = self.run(*args)
        assert result.code == 0, f"orm-kit {' '.join(args)} failed: {result.err}{result.out}"
        assert progress_lines(result.err) == result.err.splitlines(), result.err
        return result.out

    def python(self, code: str) -> Run:
        """Run a script in the project folder with its database."""
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def versions(self) -> list[Path]:
        return sorted((self.root / "migrations" / "versions").glob("*.py"), key=_mtime)

    async def tables(self) -> set[str]:
        engine = create_async_engine(self.url)
        try:
            async with engine.connect() as conn:
                names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        finally:
            await engine.dispose()
        return set(names)

    async def columns(self, table: str) -> dict[str, str]:
        engine = create_async_engine(self.url)
        try:
            async with engine.connect() as conn:
                found = await conn.run_sync(lambda c: inspect(c).get_columns(table))
        finally:
            await engine.dispose()
        return {column["name"]: str(column["type"]) for column in found}

    async def enum_labels(self, name: str) -> list[str]:
        """The labels of PostgreSQL enum type ``name``, in order (empty: no such type)."""
        engine = create_async_engine(self.url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
                        "WHERE t.typname = :name ORDER BY e.enumsortorder"
                    ),
                    {"name": name},
                )
                return list(rows.scalars())
        finally:
            await engine.dispose()


def progress_lines(err: str) -> list[str]:
    """Alembic's "Running upgrade ..." / "Running downgrade ..." lines in ``err``."""
    return [
        line
        for line in err.splitlines()
        if line.startswith(("Running upgrade ", "Running downgrade "))
    ]


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def upgrade_operations(script: Path) -> list[str]:
    """The Alembic operations in a migration's ``upgrade()``, in order."""
    text = script.read_text(encoding="utf-8")
    upgrade = text.split("def upgrade()", 1)[1].split("def downgrade()", 1)[0]
    return [name for name in _OPERATION.findall(upgrade) if name not in _NOT_OPERATIONS]
