"""Run the example test suite of the Testing guide (examples/testing/) with pytest, as a user
would, on SQLite and on PostgreSQL; twice, so that its tables and rows are gone after a run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_examples import EXAMPLES_DIR

EXAMPLE = EXAMPLES_DIR / "testing"
TESTS = 7


def run_example_suite(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("ORM_KIT_TEST_DATABASE_URL", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLE),
            "--orm-kit-db",
            url,
            "-p",
            "no:cacheprovider",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_testing_example_passes(backend: str, backend_url: str, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'blog.db'}" if backend == "sqlite" else backend_url
    for attempt in (1, 2):
        proc = run_example_suite(url, tmp_path)
        assert proc.returncode == 0, f"run {attempt} on {backend}:\n{proc.stdout}\n{proc.stderr}"
        assert f"{TESTS} passed" in proc.stdout.splitlines()[-1]
