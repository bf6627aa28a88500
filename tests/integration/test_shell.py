"""``orm-kit shell`` on every backend: top-level await with the models and the database."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.integration.migration_project import TIMEOUT, Project

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
        "postgresql+asyncpg://nobody@127.0.0.1:1/none (ConnectionRefusedError: [Errno 111] "
        "Connect call failed ('127.0.0.1', 1)).\n"
    )


INTERRUPTED = """\
try:
    print("sleeping", flush=True)
    await asyncio.sleep(60)
finally:
    print("sleep cleaned up", flush=True)

"""

AFTER_INTERRUPT = """\
print(await Author.objects.count())
from orm_kit import acting_as, current_actor
scope = acting_as("ann"); _ = scope.__enter__()
print("actor", await asyncio.sleep(0, current_actor()))
await asyncio.sleep(0); raise SystemExit(3)
print("not reached")
"""


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_cancels_the_awaited_line_and_the_shell_goes_on(project: Project) -> None:
    # The console reads a pipe, as `orm-kit shell < script.py` would; no IPython involved.
    project.models(MODELS)
    project.ok("init")
    project.ok("makemigrations", "-m", "authors")
    project.ok("migrate")
    shell = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['IPython'] = None; "
            "from orm_kit.cli import main; sys.exit(main(['shell']))",
        ],
        cwd=project.root,
        env=project.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a suite started in the background by a shell (as CI may run
        # it) passes SIGINT on ignored, and the child would never see the Ctrl-C.
        preexec_fn=_default_sigint,
    )
    assert shell.stdin is not None and shell.stdout is not None
    started = time.monotonic()
    shell.stdin.write(INTERRUPTED)
    shell.stdin.flush()
    assert "sleeping" in shell.stdout.readline()
    shell.send_signal(signal.SIGINT)
    out, err = shell.communicate(AFTER_INTERRUPT, timeout=TIMEOUT)
    assert time.monotonic() - started < 30  # the sleep was cancelled, not waited out
    assert shell.returncode == 3, err  # SystemExit in an awaited line ends the shell
    printed = [line.lstrip("> .").strip() for line in out.splitlines()]
    assert "not reached" not in out
    assert printed[0] == "sleep cleaned up"  # its finally ran before the next prompt
    assert "0" in printed
    assert "actor ann" in printed  # a ContextVar set by one line reaches a later await
    assert "KeyboardInterrupt" in err
