"""``orm-kit`` without a database: help, usage errors, configuration errors (in-process).

Nothing here imports a models module (that would add tables to the suite's metadata);
the end-to-end runs are in tests/integration/test_migrations.py and test_cli_errors.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orm_kit.cli import build_parser, main
from orm_kit.migrations import load_project_config

COMMANDS = [
    "init",
    "makemigrations",
    "migrate",
    "downgrade",
    "history",
    "current",
    "showmigrations",
    "check",
    "sql",
    "dumpdata",
    "loaddata",
    "shell",
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, with no DATABASE_URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no traceback
    return err.rstrip("\n")


def test_every_command_is_listed() -> None:
    assert build_parser().format_help().count("\n    ") >= len(COMMANDS)
    for name in COMMANDS:
        assert name in build_parser().format_help()


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_on_every_command(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"] if command else ["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: orm-kit {command or ''}".rstrip())
    assert "--url URL" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["frobnicate"], "orm-kit: error: argument COMMAND: invalid choice: 'frobnicate' "),
        (
            ["makemigrations"],
            "orm-kit makemigrations: error: the following arguments are required: -m/--message",
        ),
        (["downgrade"], "orm-kit downgrade: error: the following arguments are required: REVISION"),
        (["migrate", "a", "b"], "orm-kit: error: unrecognized arguments: b"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: orm-kit")
    assert err.splitlines()[-1].startswith(message)


@pytest.mark.parametrize("command", ["migrate", "downgrade base", "history", "current", "check"])
def test_missing_migrations_folder(
    command: str, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(command.split()) == 1
    assert error_line(capsys) == (
        f"orm-kit: error: No migrations folder at {folder / 'migrations'}: run `orm-kit init` "
        "first (or pass --migrations)."
    )


def test_init_writes_the_folder_and_the_config(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    assert main(["init", "--models", "shop.models"]) == 0
    assert {p.name for p in (folder / "migrations").iterdir()} == {
        "env.py",
        "script.py.mako",
        "versions",
        "README",
    }
    assert (folder / "pyproject.toml").read_text() == (
        '[project]\nname = "demo"\n\n[tool.orm_kit]\nmodels = "shop.models"\n'
        'migrations = "migrations"\n'
    )
    config = load_project_config()
    assert config.models == ("shop.models",)
    assert config.migrations_dir == folder / "migrations"
    capsys.readouterr()
    assert main(["init"]) == 1
    assert error_line(capsys) == (
        f"orm-kit: error: {folder / 'migrations'} already exists and is not empty; "
        "nothing was changed."
    )


def test_no_models_configured(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    assert (folder / "pyproject.toml").read_text() == (
        '[tool.orm_kit]\n# models = "app.models"\nmigrations = "migrations"\n'
    )
    capsys.readouterr()
    assert main(["makemigrations", "-m", "first"]) == 1
    assert error_line(capsys) == (
        'orm-kit: error: No models module is configured: set models = "app.models" under '
        f"[tool.orm_kit] in {folder / 'pyproject.toml'}, or pass --models."
    )


def test_flags_and_database_url_override_the_file(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "pyproject.toml").write_text(
        '[tool.orm_kit]\nmodels = ["a.models", "b.models"]\nmigrations = "db/migrations"\n'
    )
    (folder / "sub").mkdir()
    config = load_project_config(folder / "sub")
    assert config.root == folder
    assert config.models == ("a.models", "b.models")
    assert config.migrations_dir == folder / "db" / "migrations"
    assert config.url == "sqlite+aiosqlite:///./orm_kit.db"
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db/app")
    assert load_project_config().url == "postgresql+asyncpg://app@db/app"  # async driver
    flagged = load_project_config(models="c.models,d", migrations_dir="m", url="sqlite://")
    assert flagged.models == ("c.models", "d")
    assert flagged.migrations_dir == folder / "m"
    assert flagged.url == "sqlite+aiosqlite://"


def test_a_malformed_section_is_one_clear_line(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "pyproject.toml").write_text("[tool.orm_kit]\nmodels = 3\n")
    assert main(["history"]) == 1
    assert error_line(capsys) == (
        f"orm-kit: error: models in {folder / 'pyproject.toml'} must be a module name or a "
        "list of them."
    )


def test_an_unexpected_driver_error_is_one_line_without_sql_or_values(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy.exc import OperationalError

    import orm_kit.cli

    async def fails(args: object) -> int:
        raise OperationalError(
            "UPDATE account SET password = ?", ("hunter2",), Exception("database is locked")
        )

    monkeypatch.setattr(orm_kit.cli, "_history", fails)
    assert main(["history"]) == 1
    assert error_line(capsys) == (
        "orm-kit: error: OperationalError: database is locked (--traceback shows where)"
    )


def test_no_command_prints_the_usage_with_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: orm-kit")
    for name in COMMANDS:
        assert f"\n    {name} " in captured.err, name
    assert captured.err.rstrip().endswith("Exit codes: 0 ok, 1 error, 2 usage.")


@pytest.mark.parametrize(
    ("command", "forms"),
    [("migrate", ["head", "prefix", "+N"]), ("downgrade", ["base", "prefix", "-N"])],
)
def test_revision_is_described(
    command: str, forms: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for form in forms:
        assert form in out.split("REVISION", 2)[-1], (form, out)


@pytest.mark.parametrize(
    "existing",
    [
        '[tool.orm_kit]\n# models = "app.models"\nmigrations = "migrations"\n',
        '[project]\nname = "demo"\n\n[tool.orm_kit]\nmigrations = "migrations"\n'
        "\n[tool.x]\ny = 1\n",
    ],
)
def test_init_models_fills_in_an_existing_section(
    existing: str, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "pyproject.toml").write_text(existing)
    assert main(["init", "--models", "shop.models"]) == 0
    text = (folder / "pyproject.toml").read_text()
    assert load_project_config().models == ("shop.models",)
    assert "# models" not in text
    assert text.count("[tool.orm_kit]") == 1
    assert text.endswith('migrations = "migrations"\n' if "[tool.x]" not in existing else "y = 1\n")
    out = capsys.readouterr().out
    assert f'Set models = "shop.models" under [tool.orm_kit] in {folder / "pyproject.toml"}.' in out
    assert "Next:" not in out


def test_init_models_leaves_a_different_setting_and_says_so(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = '[tool.orm_kit]\nmodels = "app.models"\n'
    (folder / "pyproject.toml").write_text(existing)
    assert main(["init", "--models", "shop.models"]) == 0
    assert (folder / "pyproject.toml").read_text() == existing
    err = capsys.readouterr().err
    assert err == (
        f'orm-kit: note: {folder / "pyproject.toml"} already sets models = "app.models" '
        "under [tool.orm_kit]; left as it is (edit it to use shop.models).\n"
    )


def test_an_unknown_key_is_refused(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "pyproject.toml").write_text('[tool.orm_kit]\nmodel = "app.models"\n')
    assert main(["history"]) == 1
    assert error_line(capsys) == (
        f"orm-kit: error: Unknown key 'model' under [tool.orm_kit] in {folder / 'pyproject.toml'} "
        "(did you mean 'models'?); the known keys are migrations, models."
    )


def test_the_shell_banner_names_a_model_of_the_project() -> None:
    from orm_kit.shell import banner_text

    assert "`await Genre.objects.count()`" in banner_text("db", ["app.models.Genre", "app.Z"])
    assert "User" not in banner_text("db", ["app.models.Genre"])
    bare = banner_text("db", [])
    assert "objects" not in bare and "Use await at the top level" in bare
