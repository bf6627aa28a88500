"""``orm-kit dumpdata`` progress, on every backend, with real pseudo-terminals: rich bars on a
terminal's stderr, a plain counter when rich is missing, nothing when stderr is not a
terminal or the fixture itself goes to the terminal; the fixture is the same bytes in every
case.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tests.integration.migration_project import TIMEOUT, Project

MODELS = """
class Writer(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Essay(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    writer_id: Mapped[int] = mapped_column(ForeignKey("writer.id"))
"""

SEED = """
import asyncio
from orm_kit import Database
from app.models import Essay, Writer

async def main():
    async with Database() as db:
        await db.create_all()
        writers = await Writer.objects.bulk_create([Writer(name=f"w{i}") for i in range(3)])
        await Essay.objects.bulk_create([Essay(writer_id=writers[0].id) for _ in range(1203)])

asyncio.run(main())
"""

# The console script's own entry point; with RICH_MISSING set, rich cannot be imported.
ENTRY = (
    "import os, sys\n"
    "if os.environ.get('RICH_MISSING'): sys.modules['rich'] = None\n"
    "from orm_kit.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@dataclass
class Shown:
    code: int
    out: bytes  # stdout (a pipe, or what the stdout terminal showed)
    err: str  # what the stderr terminal showed


def _drain(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def on_terminal(
    project: Project, *args: str, rich: bool = True, stdout_terminal: bool = False
) -> Shown:
    """``orm-kit ARGS`` with stderr (and stdout, if asked) on a pseudo-terminal."""
    env = project.env() | {"TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    if not rich:
        env["RICH_MISSING"] = "1"
    err_master, err_slave = pty.openpty()
    out_master, out_slave = pty.openpty() if stdout_terminal else (-1, -1)
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args],
        cwd=project.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out_slave if stdout_terminal else subprocess.PIPE,
        stderr=err_slave,
    )
    os.close(err_slave)
    if stdout_terminal:
        os.close(out_slave)
    else:
        assert process.stdout is not None
        out_master = process.stdout.fileno()
    # Both ends read at once: a full terminal buffer would otherwise stall the command.
    try:
        with ThreadPoolExecutor(2) as pool:
            out = pool.submit(_drain, out_master)
            err = pool.submit(_drain, err_master)
            code = process.wait(timeout=TIMEOUT)
            return Shown(code, out.result(), err.result().decode("utf-8", "replace"))
    finally:
        os.close(err_master)
        if stdout_terminal:
            os.close(out_master)
        else:
            assert process.stdout is not None
            process.stdout.close()


def seeded(project: Project) -> bytes:
    project.models(MODELS)
    seed = project.python(SEED)
    assert seed.code == 0, seed.err
    plain = project.run("dumpdata")  # stderr a pipe: no progress at all
    assert (plain.code, plain.err) == (0, "")
    assert plain.out.count('"app.models.Essay"') == 1203
    return plain.out.encode()


async def test_rich_bars_on_a_terminal_and_the_fixture_untouched(project: Project) -> None:
    fixture = seeded(project)
    shown = on_terminal(project, "dumpdata")
    assert shown.code == 0, shown.err
    assert shown.out == fixture
    assert "app.models.Writer" in shown.err
    assert "3/3" in shown.err
    assert "1203/1203" in shown.err
    assert "━" in shown.err  # rich's bar

    to_file = on_terminal(project, "dumpdata", "-o", "all.json")
    assert to_file.code == 0, to_file.err
    assert to_file.out == b"Dumped 1206 rows of 2 models to all.json.\n"
    assert (project.root / "all.json").read_bytes() == fixture
    assert "1203/1203" in to_file.err


async def test_a_plain_counter_when_rich_is_missing(project: Project) -> None:
    fixture = seeded(project)
    shown = on_terminal(project, "dumpdata", rich=False)
    assert shown.code == 0, shown.err
    assert shown.out == fixture
    assert "━" not in shown.err
    lines = shown.err.replace("\r\n", "\n").split("\n")
    assert lines[0].endswith("\rapp.models.Writer: 3/3 rows")
    assert lines[1].split("\r") == [
        "",
        "app.models.Essay: 0/1203 rows",
        "app.models.Essay: 500/1203 rows",
        "app.models.Essay: 1000/1203 rows",
        "app.models.Essay: 1203/1203 rows",
    ]
    assert lines[2:] == [""]


async def test_no_progress_when_the_fixture_goes_to_the_terminal(project: Project) -> None:
    fixture = seeded(project)
    shown = on_terminal(project, "dumpdata", stdout_terminal=True)
    assert shown.code == 0, shown.err
    assert shown.err == ""
    assert shown.out == fixture.replace(b"\n", b"\r\n")  # the terminal's line endings
    to_file = on_terminal(project, "dumpdata", "-o", "all.json", stdout_terminal=True)
    assert "1203/1203" in to_file.err  # a file: the terminal is free for the bars
