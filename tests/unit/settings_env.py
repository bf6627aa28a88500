"""The unit tests' fixture for settings read from the environment and ``.env`` files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No DATABASE_* / <NAME>_DATABASE_* variable from outside, and no .env file: the
    working directory is an empty project folder (returned)."""
    for name in list(os.environ):
        if "DATABASE_" in name:
            monkeypatch.delenv(name)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path
