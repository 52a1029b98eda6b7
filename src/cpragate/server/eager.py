"""Run a coroutine synchronously when it never suspends; fall back to a Task when it does.

Most phase methods finish without awaiting anything that blocks (a header check, a
cached token). Creating an asyncio Task for each would cost more than the filter
itself, so the data plane steps the coroutine once by hand: if it finishes, the result
is used at once; if it suspends on a future, the half-run coroutine is handed to a Task
that resumes it exactly where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["run_eager"]

T = TypeVar("T")


class _Resume:
    """Awaitable that continues a coroutine which already yielded ``first``."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self.coro, self.first
        self.first = None
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as e:  # cancellation and thrown errors go to the coroutine
                try:
                    value = coro.throw(e)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _resume(coro: Coroutine[Any, Any, T], first: Any) -> T:
    result: T = await _Resume(coro, first)
    return result


def run_eager(
    coro: Coroutine[Any, Any, T],
    done: Callable[[T | None, BaseException | None], None],
    loop: asyncio.AbstractEventLoop,
) -> asyncio.Task[T] | None:
    """Step ``coro``; call ``done(result, None)`` or ``done(None, exc)`` when it ends.

    Returns the Task if one was needed (so the caller can cancel it), else None.
    """
    try:
        first = coro.send(None)
    except StopIteration as stop:
        done(stop.value, None)
        return None
    except BaseException as e:
        done(None, e)
        return None
    task = loop.create_task(_resume(coro, first))

    def _finished(t: asyncio.Task[T]) -> None:
        if t.cancelled():
            done(None, asyncio.CancelledError())
            return
        exc = t.exception()
        done(None, exc) if exc is not None else done(t.result(), None)

    task.add_done_callback(_finished)
    return task
