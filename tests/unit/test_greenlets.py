"""orm_kit.greenlets.spawn behaves as SQLAlchemy's greenlet_spawn, on reused greenlets.

Each scenario runs with both and must give the same outcome; then what only spawn() has
(reuse, nothing kept by an idle worker, the per-thread idle list) is checked directly.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from greenlet import getcurrent  # type: ignore[import-untyped]
from sqlalchemy.util import await_, greenlet_spawn

from orm_kit.greenlets import spawn

Spawner = Callable[..., Awaitable[Any]]
SPAWNERS = [pytest.param(greenlet_spawn, id="greenlet_spawn"), pytest.param(spawn, id="spawn")]

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


async def tick(value: Any) -> Any:
    await asyncio.sleep(0)
    return value


class BoomError(Exception):
    pass


async def boom() -> None:
    await asyncio.sleep(0)
    raise BoomError("from the awaited coroutine")


@pytest.mark.parametrize("spawner", SPAWNERS)
async def test_returns_what_the_function_returns_after_several_awaits(spawner: Spawner) -> None:
    def work(a: int, b: int) -> list[int]:
        return [await_(tick(a)), await_(tick(b)), a + b]

    assert await spawner(work, 2, 3) == [2, 3, 5]
    assert await spawner(lambda: "no await at all") == "no await at all"


@pytest.mark.parametrize("spawner", SPAWNERS)
async def test_the_function_runs_in_the_callers_context(spawner: Spawner) -> None:
    var.set("caller")

    def work() -> str:
        seen = var.get()
        await_(tick(None))
        var.set("set inside")  # greenlet_spawn runs in the caller's Context object itself
        return seen

    assert await spawner(work) == "caller"
    assert var.get() == "set inside"


@pytest.mark.parametrize("spawner", SPAWNERS)
async def test_errors_raised_inside_come_out(spawner: Spawner) -> None:
    def work() -> None:
        await_(tick(None))
        raise BoomError("raised by the function")

    with pytest.raises(BoomError, match="raised by the function"):
        await spawner(work)
    assert await spawner(lambda: 1) == 1  # and the next call still works


@pytest.mark.parametrize("spawner", SPAWNERS)
async def test_an_error_while_awaiting_is_thrown_into_the_function(spawner: Spawner) -> None:
    def catches() -> str:
        try:
            await_(boom())
        except BoomError as error:
            return f"caught: {error}"
        return "not raised"

    def cleans_up(log: list[str]) -> None:
        try:
            await_(boom())
        finally:
            log.append("finally ran")

    assert await spawner(catches) == "caught: from the awaited coroutine"
    log: list[str] = []
    with pytest.raises(BoomError):
        await spawner(cleans_up, log)
    assert log == ["finally ran"]


@pytest.mark.parametrize("spawner", SPAWNERS)
async def test_a_cancelled_task_runs_the_functions_finally_and_is_cancelled(
    spawner: Spawner,
) -> None:
    log: list[str] = []
    started = asyncio.Event()

    def work() -> None:
        try:
            started.set()
            await_(asyncio.sleep(30))
            log.append("slept")
        except asyncio.CancelledError:
            log.append("cancelled inside")
            raise
        finally:
            log.append("finally")

    task = asyncio.ensure_future(spawner(work))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["cancelled inside", "finally"]
    assert await spawner(lambda: "after") == "after"


@pytest.mark.parametrize("spawner", SPAWNERS)
async def test_interleaved_tasks_each_get_their_own_greenlet(spawner: Spawner) -> None:
    def work(name: str) -> list[str]:
        out = []
        for step in range(5):
            out.append(f"{name}{await_(tick(step))}")
        return out

    results = await asyncio.gather(*(spawner(work, name) for name in "abcd"))
    assert results == [[f"{name}{i}" for i in range(5)] for name in "abcd"]


@pytest.mark.parametrize("spawner", SPAWNERS)
async def test_nested_inside_another_greenlet(spawner: Spawner) -> None:
    def inner() -> str:
        return str(await_(tick("inner")))

    def outer() -> str:
        return "outer+" + str(await_(spawner(inner)))

    assert await spawner(outer) == "outer+inner"


async def test_spawn_reuses_an_idle_greenlet() -> None:
    first = await spawn(getcurrent)
    assert await spawn(getcurrent) is first
    assert first is not getcurrent()
    # Two at once: the second one cannot have the busy one.
    both = await asyncio.gather(
        spawn(lambda: (await_(tick(None)), getcurrent())[1]), spawn(getcurrent)
    )
    assert both[0] is not both[1]


async def test_an_idle_greenlet_keeps_nothing_of_its_last_job() -> None:
    class Result:
        pass

    class Job:
        def __call__(self) -> Result:
            await_(tick(None))
            return Result()

    job = Job()
    result = await spawn(job)
    gone_result, gone_job = weakref.ref(result), weakref.ref(job)
    del result, job
    gc.collect()
    assert gone_result() is None
    assert gone_job() is None

    class FailureError(Exception):
        pass

    def fails() -> None:
        raise FailureError

    with pytest.raises(FailureError) as info:
        await spawn(fails)
    gone_error = weakref.ref(info.value)
    del info
    gc.collect()
    assert gone_error() is None


def test_each_thread_has_its_own_idle_greenlets() -> None:
    seen: dict[str, Any] = {}

    def in_thread(name: str) -> None:
        async def go() -> None:
            first = await spawn(getcurrent)
            seen[name] = (first, await spawn(getcurrent) is first)

        asyncio.run(go())

    threads = [threading.Thread(target=in_thread, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["a"][1] and seen["b"][1]
    assert seen["a"][0] is not seen["b"][0]
