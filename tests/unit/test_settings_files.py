"""Where settings come from: the environment, then .env in the working directory, then .env
at the project root; no URL at all is the SQLite default, logged as a WARNING."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from orm_kit import Database, DatabaseSettings
from orm_kit.settings import DEFAULT_URL, env_files


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DATABASE_URL", "DATABASE_POOL_SIZE", "DATABASE_ECHO"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    (tmp_path / "app" / "jobs").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "app" / "jobs")
    return tmp_path


def test_the_project_roots_env_file_is_read_from_a_subfolder(project: Path) -> None:
    # Run from a subfolder, the root's .env was ignored and a SQLite file was written instead.
    (project / ".env").write_text("DATABASE_URL=postgresql://app@db/app\nDATABASE_POOL_SIZE=7\n")
    settings = DatabaseSettings()
    assert settings.url == "postgresql://app@db/app"
    assert settings.pool_size == 7
    assert env_files() == (project / ".env", project / "app" / "jobs" / ".env")


def test_the_working_directorys_env_file_wins_and_the_environment_wins_over_both(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / ".env").write_text("DATABASE_URL=sqlite:///root.db\nDATABASE_POOL_SIZE=7\n")
    (project / "app" / "jobs" / ".env").write_text("DATABASE_URL=sqlite:///here.db\n")
    settings = DatabaseSettings()
    assert (settings.url, settings.pool_size) == ("sqlite:///here.db", 7)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///env.db")
    assert DatabaseSettings().url == "sqlite:///env.db"


def test_no_url_anywhere_is_the_sqlite_default_with_a_warning(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="orm_kit"):
        db = Database()
    assert DatabaseSettings().url == DEFAULT_URL
    assert db.dialect == "sqlite"
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert "No database URL is set" in warned[0].getMessage()
    assert "DATABASE_URL" in warned[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="orm_kit"):
        Database("sqlite+aiosqlite:///:memory:")
        (project / ".env").write_text("DATABASE_URL=sqlite:///x.db\n")
        Database()
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
