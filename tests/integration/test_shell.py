"""``orm-kit shell`` on every backend: top-level await with the models and the database."""

from __future__ import annotations

from tests.integration.migration_project import Project

MODELS = """
class Author(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
"""

SESSION = """\
await Author.objects.create(name="ann")
print("count", await Author.objects.count())
names = await Author.objects.values_list("name", flat=True)
print("names", names)
1 / 0
print("still here", db.is_connected)
"""


async def test_shell_runs_awaits_with_the_models_imported(project: Project) -> None:
    project.models(MODELS)
    project.ok("init")
    project.ok("makemigrations", "-m", "authors")
    project.ok("migrate")
    result = project.run("shell", stdin=SESSION)
    assert result.code == 0, result.err
    printed = [line.lstrip("> ").strip() for line in result.out.splitlines()]
    assert "count 1" in printed
    assert "names ['ann']" in printed
    assert "still here True" in printed  # an error in one line does not end the shell
    assert "In scope: db, asyncio, Author" in result.err
    assert "ZeroDivisionError: division by zero" in result.err


async def test_shell_on_an_unreachable_database(project: Project) -> None:
    project.models(MODELS)
    result = project.run("--url", "postgresql+asyncpg://nobody@127.0.0.1:1/none", "shell", stdin="")
    assert result.code == 1
    assert result.err == (
        "orm-kit: error: Cannot reach the database at "
        "postgresql+asyncpg://nobody@127.0.0.1:1/none (ConnectionRefusedError).\n"
    )
