"""``orm-kit shell``: an interactive Python console with top-level ``await``, the models
imported and the database connected.

The console reads input in the main thread (so Ctrl-C reaches it); the event loop runs in
a thread of its own, where the database is connected, and each line that awaits runs there
as a task, so ``await User.objects.count()`` works as in ``python -m asyncio``. No IPython
is needed (nor used).
"""

from __future__ import annotations

import ast
import asyncio
import code
import contextvars
import inspect
import threading
import types
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from orm_kit.database import Database
from orm_kit.fixtures import model_label, resolve_models
from orm_kit.migrations.commands import project_database
from orm_kit.migrations.config import ProjectConfig

__all__ = ["AsyncConsole", "run_shell"]


class AsyncConsole(code.InteractiveConsole):
    """``code.InteractiveConsole`` that compiles top-level ``await`` and runs it on ``loop``."""

    def __init__(self, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(namespace, filename="<orm-kit shell>")
        self.compile.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        self.loop = loop

    def runcode(self, code: types.CodeType) -> None:
        """Run one compiled input; a coroutine (top-level ``await``) runs on the loop."""
        try:
            result = types.FunctionType(code, self.locals)()
            if inspect.iscoroutine(result):
                self._await(result)
        except SystemExit:
            raise
        except BaseException:  # the console's own behaviour: show it and carry on
            self.showtraceback()

    def _await(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run ``coroutine`` as a task on the loop, in a copy of this thread's context (so a
        ContextVar set by an earlier line, ``acting_as(...)``, reaches it), and wait.

        Ctrl-C cancels the task and waits for its clean-up (``finally`` blocks, a session's
        rollback) before the ``KeyboardInterrupt`` is shown, as ``python -m asyncio`` does.
        """
        context = contextvars.copy_context()
        finished = threading.Event()
        tasks: list[asyncio.Task[Any]] = []

        def start() -> None:
            task = self.loop.create_task(_carried(coroutine), context=context)
            task.add_done_callback(lambda _: finished.set())
            tasks.append(task)

        def cancel() -> None:
            # call_soon_threadsafe keeps order: if start() was queued, it has run.
            if tasks:
                tasks[0].cancel()
            else:  # the Ctrl-C came before the line was queued: it never ran
                coroutine.close()
                finished.set()

        try:
            # Inside the try: a Ctrl-C right after the line is queued must cancel it too.
            self.loop.call_soon_threadsafe(start)
            _wait(finished)
        except KeyboardInterrupt:
            self.loop.call_soon_threadsafe(cancel)
            _wait(finished)
            raise
        try:
            tasks[0].result()  # the line's exception, if any, is raised here
        except _Carried as carried:
            raise carried.original from None


class _Carried(Exception):  # noqa: N818 - a carrier, never raised to users
    """Carries a SystemExit / KeyboardInterrupt out of a line's task: raised in the task,
    it would stop the console's event loop instead of reaching the console."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(original)
        self.original = original


async def _carried(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        return await coroutine
    except (SystemExit, KeyboardInterrupt) as exc:
        raise _Carried(exc) from exc


def _wait(finished: threading.Event) -> None:
    # Short waits: Ctrl-C gets through between them on every platform.
    while not finished.wait(0.2):
        pass


def _namespace(db: Database) -> dict[str, Any]:
    namespace: dict[str, Any] = {"asyncio": asyncio, "db": db}
    for model in resolve_models():
        namespace.setdefault(model.__name__, model)
    return namespace


def _banner(db: Database, namespace: Mapping[str, Any]) -> str:
    return banner_text(repr(db), [model_label(m) for m in resolve_models()])


def banner_text(database: str, labels: Sequence[str]) -> str:
    """The console's greeting: the database, what is in scope, an example with one of the
    project's own models (the first by name), or none when it has no model."""
    names = sorted(label.rsplit(".", 1)[-1] for label in labels)
    example = f", e.g. `await {names[0]}.objects.count()`" if names else ""
    return (
        f"orm_kit shell on {database}\n"
        f"In scope: {', '.join(['db', 'asyncio', *names])}\n"
        f"Use await at the top level{example}; Ctrl-D leaves."
    )


def run_shell(project: ProjectConfig) -> int:
    """Import the models, connect the database, and run the console until end of input.

    Returns:
        The exit code: 0.

    Raises:
        MigrationError: The models fail to import or the database cannot be reached.
    """
    project.import_models()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="orm-kit-shell-loop", daemon=True)
    thread.start()
    context = project_database(project)
    try:
        db = asyncio.run_coroutine_threadsafe(context.__aenter__(), loop).result()
        try:
            namespace = _namespace(db)
            AsyncConsole(namespace, loop).interact(banner=_banner(db, namespace), exitmsg="")
        finally:
            asyncio.run_coroutine_threadsafe(context.__aexit__(None, None, None), loop).result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
    return 0
