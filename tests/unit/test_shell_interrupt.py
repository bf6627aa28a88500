"""Ctrl-C in ``orm-kit shell`` at the worst moment: just after the line's task was queued.

The console's loop runs on a thread of its own and the Ctrl-C reaches the main thread, so
the KeyboardInterrupt can land between queueing the line's task and waiting for it. It
must still cancel the task (its ``finally`` runs), not leave it running behind the prompt.
No database is involved.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from orm_kit.shell import AsyncConsole


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


class _InterruptAfterQueueing:
    """``loop.call_soon_threadsafe`` whose first call queues its callback, waits for the
    loop to have run it, then raises KeyboardInterrupt: a Ctrl-C arriving right after."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.real = loop.call_soon_threadsafe
        self.calls = 0

    def __call__(self, callback: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        handle = self.real(callback, *args, **kwargs)
        if self.calls == 1:
            ran = threading.Event()
            self.real(ran.set)
            ran.wait(5)
            raise KeyboardInterrupt
        return handle


def test_a_ctrl_c_just_after_the_line_was_queued_cancels_it(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = AsyncConsole({}, loop)
    events: list[str] = []

    async def line() -> None:
        try:
            events.append("started")
            await asyncio.sleep(30)
            events.append("not reached")
        finally:
            events.append("cleaned up")

    monkeypatch.setattr(loop, "call_soon_threadsafe", _InterruptAfterQueueing(loop))
    with pytest.raises(KeyboardInterrupt):
        console._await(line())
    assert events == ["started", "cleaned up"]


def test_a_ctrl_c_before_the_line_was_queued_does_not_hang(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = AsyncConsole({}, loop)
    real = loop.call_soon_threadsafe
    calls: list[object] = []

    def refuse_first(callback: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(callback)
        if len(calls) == 1:
            raise KeyboardInterrupt  # before anything was queued
        return real(callback, *args, **kwargs)

    async def line() -> None:
        raise AssertionError("a line interrupted before it was queued never runs")

    monkeypatch.setattr(loop, "call_soon_threadsafe", refuse_first)
    with pytest.raises(KeyboardInterrupt):
        console._await(line())
