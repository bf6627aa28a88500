"""Scripts on the blocking facade, each in its own process, on every backend: a plain
``def main():`` script with no asyncio code, and the same calls from inside a running event
loop (a notebook cell). What they committed is checked from this process's own connection."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from orm_kit import Database, sync
from tests.backends import dialect_of

SCRIPTS = Path(__file__).resolve().parent / "sync_scripts"
ROOT = SCRIPTS.parents[2]

PRINTED = [
    "created: ['bread', 'eggs', 'milk']",
    "done: ['eggs', 'milk']",
    "rolled back: 4 notes",
    "checked out: 0",
]
COMMITTED = [("bread", False), ("butter", False), ("eggs", True), ("milk", True)]


def run_script(name: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONSAFEPATH", None)
    return subprocess.run(
        [sys.executable, "-W", "error", str(SCRIPTS / name)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def committed_rows(db: Database) -> list[tuple[str, bool]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT title, done FROM script_note ORDER BY title"))
        return [(title, bool(done)) for title, done in rows]


def test_the_plain_script_has_no_asyncio_code() -> None:
    tree = ast.parse((SCRIPTS / "sync_script.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert "asyncio" not in imported
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef | ast.Await)]


@pytest.mark.parametrize("script", ["sync_script.py", "sync_notebook.py"])
def test_script_creates_queries_commits_and_rolls_back(
    script: str, backend: str, backend_url: str, tmp_path: Path
) -> None:
    proc = run_script(script, backend_url, tmp_path)
    assert proc.returncode == 0, f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.stderr == ""  # the facade's exit hook disconnected cleanly: no warnings
    lines = proc.stdout.splitlines()
    assert lines == [f"connected: {dialect_of(backend)}", *PRINTED]

    checker = sync.connect(backend_url)  # another process, another connection
    try:
        assert sync.run(committed_rows(checker)) == COMMITTED  # "jam" rolled back, bread not done
    finally:
        sync.close()
    assert not checker.is_connected
