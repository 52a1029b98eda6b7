"""Run a coroutine synchronously when it never suspends; resume it from its Future when it does.

Most phase methods finish without awaiting anything that blocks (a header check, a
cached token). Creating an asyncio Task for each would cost more than the filter
itself, so the data plane steps the coroutine once by hand: if it finishes, the result
is used at once. If it suspends on a Future (a Redis reply), the next step runs from
that Future's done callback, as a Task's would, but without the Task: no Task object and
registration, no extra loop turn to start it, none to deliver its result (measured in
bench/AUTH_RESULTS.md, round 4). Code after the suspension then runs outside a Task, as
the first step did (the stores that need one make their own, see storage/fetch.py). So
only when the first step ran outside a Task (the data plane's protocol callbacks): a
coroutine started inside one may have entered what needs that Task (an
``asyncio.timeout``), and, like anything it yields other than a Future of this loop or
None, it is handed to a Task that resumes it exactly where it stopped, as before.
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


class _Stepper:
    """Steps a coroutine from the done callback of each Future it waits on (a Task's job)."""

    __slots__ = ("coro", "done", "loop")

    def __init__(
        self,
        coro: Coroutine[Any, Any, Any],
        done: Callable[[Any, BaseException | None], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.coro = coro
        self.done = done
        self.loop = loop

    def wait(self, yielded: Any) -> bool:
        """Arrange the next step after what the coroutine yielded; False when that is not
        a Future of this loop nor None (a bare yield: next loop turn)."""
        if yielded is None:
            self.loop.call_soon(self.step)
            return True
        if getattr(yielded, "_asyncio_future_blocking", False) and asyncio.isfuture(yielded):
            if yielded.get_loop() is not self.loop:
                return False
            yielded._asyncio_future_blocking = False
            yielded.add_done_callback(self.wakeup)
            return True
        return False

    def wakeup(self, fut: Any) -> None:
        self.step()

    def step(self) -> None:
        try:
            yielded = self.coro.send(None)  # the awaited Future's result (or exception) goes in
        except StopIteration as stop:
            self.done(stop.value, None)
            return
        except BaseException as e:
            self.done(None, e)
            return
        if not self.wait(yielded):
            _task(self.coro, yielded, self.done, self.loop)


def run_eager(
    coro: Coroutine[Any, Any, T],
    done: Callable[[T | None, BaseException | None], None],
    loop: asyncio.AbstractEventLoop,
) -> asyncio.Task[T] | None:
    """Step ``coro``; call ``done(result, None)`` or ``done(None, exc)`` when it ends.

    Returns the Task if one was needed (called inside a Task, or the coroutine yielded
    something other than a Future of this loop; the caller may cancel it), else None.
    """
    try:
        first = coro.send(None)
    except StopIteration as stop:
        done(stop.value, None)
        return None
    except BaseException as e:
        done(None, e)
        return None
    if asyncio.current_task(loop) is None and _Stepper(coro, done, loop).wait(first):
        return None
    return _task(coro, first, done, loop)


def _task(
    coro: Coroutine[Any, Any, T],
    first: Any,
    done: Callable[[T | None, BaseException | None], None],
    loop: asyncio.AbstractEventLoop,
) -> asyncio.Task[T]:
    task = loop.create_task(_resume(coro, first))

    def _finished(t: asyncio.Task[T]) -> None:
        if t.cancelled():
            done(None, asyncio.CancelledError())
            return
        exc = t.exception()
        done(None, exc) if exc is not None else done(t.result(), None)

    task.add_done_callback(_finished)
    return task
