"""Blocks: one task on the facade's loop holds a ``sync.session()`` / ``sync.transaction()``
block's unit of work open and awaits the block's calls inside itself, in order, so the
session is only ever used by the task that owns it. Internal to ``orm_kit.sync``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from orm_kit.context import _current_session
from orm_kit.exceptions import SyncUsageError
from orm_kit.sync.loop import (
    Escaped,
    await_outcome,
    discard,
    loop_thread,
    refuse_in_loop_thread,
)

__all__ = ["Block", "current_block", "open_block"]

ResultT = TypeVar("ResultT")
ValueT = TypeVar("ValueT")

_CANCELLED = (
    "This sync.session() / sync.transaction() block was cancelled (a call in it timed out or "
    "was interrupted, or sync.close() ran) and rolled back: nothing in it was committed. "
    "Leave the block and start a new one."
)


class _BlockFailedError(Exception):
    """Raised inside a block's task when the caller's block raised: rolls the block back."""


@dataclass(eq=False)
class _Call:
    awaitable: Awaitable[Any]
    context: contextvars.Context
    done: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)


@dataclass(eq=False)
class _Open:
    opener: Callable[[], AbstractAsyncContextManager[Any]]
    entered: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)
    exited: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)


@dataclass(frozen=True)
class _Close:
    failed: bool


_Message = _Call | _Open | _Close


class Block:
    """The task that holds a ``session()`` / ``transaction()`` block, and every block nested
    in it, open, and awaits the block's calls inside itself, in the order they are sent."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        thread: threading.Thread,
        first: _Open,
        context: contextvars.Context,
    ) -> None:
        self._loop = loop
        self._thread = thread
        self._inbox: asyncio.Queue[_Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.cancelled = False
        self.finished: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop.call_soon_threadsafe(self._start, first, context)

    # -- on the loop --

    def _start(self, first: _Open, context: contextvars.Context) -> None:
        self._task = self._loop.create_task(self._hold(first), context=context)
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.cancelled = task.cancelled()
        if not self.cancelled:
            task.exception()  # its outcome already reached the caller through the futures
        self.finished.set_result(None)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _hold(self, block: _Open) -> None:
        """Hold ``block`` open, running what the caller sends, until its ``_Close``."""
        try:
            async with block.opener() as value:
                block.entered.set_result(value)
                while True:
                    message = await self._inbox.get()
                    if isinstance(message, _Call):
                        await self._run(message)
                    elif isinstance(message, _Open):
                        await self._hold(message)  # nested: the same task, the same inbox
                    elif message.failed:
                        raise _BlockFailedError
                    else:
                        break
        except _BlockFailedError:
            block.exited.set_result(None)  # rolled back; the caller raises its own error
        except asyncio.CancelledError:
            _fail(block, SyncUsageError(_CANCELLED))
            raise
        except BaseException as exc:
            _fail(block, Escaped(exc) if isinstance(exc, KeyboardInterrupt | SystemExit) else exc)
        else:
            block.exited.set_result(None)  # committed

    async def _run(self, call: _Call) -> None:
        adopted = _adopt(call.context)
        try:
            result = await call.awaitable
        except asyncio.CancelledError:
            call.done.cancel()
            raise
        except (KeyboardInterrupt, SystemExit) as exc:
            call.done.set_exception(Escaped(exc))
        except BaseException as exc:
            call.done.set_exception(exc)
        else:
            call.done.set_result(result)
        finally:
            for var, token in reversed(adopted):
                var.reset(token)

    # -- in the caller's thread --

    def _send(self, message: _Message) -> None:
        self._loop.call_soon_threadsafe(self._inbox.put_nowait, message)

    def _abort(self) -> None:
        self._loop.call_soon_threadsafe(self._cancel)

    def _wait(self, done: concurrent.futures.Future[ResultT], timeout: float | None) -> ResultT:
        return await_outcome(done, timeout, self._abort, self.finished, self._thread)

    def check_alive(self, awaitable: object = None) -> None:
        if self.finished.done():
            discard(awaitable)
            raise SyncUsageError(_CANCELLED)

    def call(self, awaitable: Awaitable[ResultT], timeout: float | None) -> ResultT:
        self.check_alive(awaitable)
        call = _Call(awaitable, contextvars.copy_context())
        self._send(call)
        result: ResultT = self._wait(call.done, timeout)
        return result

    def enter(self, block: _Open, *, nested: bool) -> Any:
        if nested:
            self.check_alive()
            self._send(block)
        return self._wait(block.entered, None)

    def exit(self, block: _Open, *, failed: bool) -> None:
        if failed and self.cancelled:
            return  # the caller's own error (the interrupt) says it all
        if not block.exited.done():
            self._send(_Close(failed))
        self._wait(block.exited, None)


current_block: contextvars.ContextVar[Block | None] = contextvars.ContextVar(
    "orm_kit_sync_block", default=None
)
"""The block the caller is in (per thread, per task): ``run()`` sends its work there."""

_NOT_ADOPTED: tuple[contextvars.ContextVar[Any], ...] = (_current_session, current_block)


def _fail(block: _Open, error: BaseException) -> None:
    (block.exited if block.entered.done() else block.entered).set_exception(error)


def _adopt(
    context: contextvars.Context,
) -> list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]]:
    """Give the block's task the caller's ContextVars (the acting user ...) for one call;
    never the ambient session, which in the block's task is the block's own."""
    return [(var, var.set(value)) for var, value in context.items() if var not in _NOT_ADOPTED]


@contextmanager
def open_block(
    opener: Callable[[], AbstractAsyncContextManager[ValueT]], what: str
) -> Iterator[ValueT]:
    refuse_in_loop_thread(what)
    opening = _Open(opener)
    outer = current_block.get()
    if outer is None:
        loop, thread = loop_thread.get()
        host = Block(loop, thread, opening, contextvars.copy_context())
    else:
        host = outer
    value: ValueT = host.enter(opening, nested=outer is not None)
    token = current_block.set(host)
    failed = False
    try:
        yield value
    except BaseException:
        failed = True
        raise
    finally:
        current_block.reset(token)
        host.exit(opening, failed=failed)
