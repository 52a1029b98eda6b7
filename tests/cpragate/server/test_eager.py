import asyncio
import types

from cpragate.server.eager import run_eager


async def immediate() -> int:
    return 1


async def suspends(fut: "asyncio.Future[int]") -> int:
    return await fut + 1


async def fails() -> int:
    raise ValueError("x")


async def twice(a: "asyncio.Future[int]", b: "asyncio.Future[int]") -> int:
    x = await a
    await asyncio.sleep(0)  # a bare yield: the next loop turn
    return x + await b


@types.coroutine
def _odd() -> types.GeneratorType:  # type: ignore[type-arg]
    yield "not a future"


async def yields_something_else() -> int:
    await _odd()
    return 1


def test_immediate_result_needs_no_task() -> None:
    async def t() -> None:
        out: list[object] = []
        task = run_eager(immediate(), lambda r, e: out.append((r, e)), asyncio.get_running_loop())
        assert task is None and out == [(1, None)]

    asyncio.run(t())


def test_suspending_coroutine_is_resumed_from_its_future_without_a_task() -> None:
    async def t() -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        out: list[object] = []
        seen: list[object] = []

        async def probe() -> int:
            v = await suspends(fut)
            seen.append(asyncio.current_task())
            return v

        loop.call_soon(lambda: out.append(run_eager(probe(), lambda r, e: out.append((r, e)), loop)))
        await asyncio.sleep(0)  # started from a loop callback, as the data plane does: no Task
        assert out == [None]
        out.clear()
        fut.set_result(41)
        await asyncio.sleep(0)
        assert out == [(42, None)] and seen == [None]  # resumed by the Future's callback
        a, b = loop.create_future(), loop.create_future()
        loop.call_soon(run_eager, twice(a, b), lambda r, e: out.append((r, e)), loop)
        await asyncio.sleep(0)
        a.set_result(1)
        for _ in range(3):
            await asyncio.sleep(0)
        b.set_result(2)
        await asyncio.sleep(0)
        assert out[-1] == (3, None)
        bad: asyncio.Future[int] = loop.create_future()
        loop.call_soon(run_eager, suspends(bad), lambda r, e: out.append(type(e)), loop)
        await asyncio.sleep(0)
        bad.set_exception(ValueError("y"))
        await asyncio.sleep(0)
        assert out[-1] is ValueError

    asyncio.run(t())


def test_started_inside_a_task_a_suspended_coroutine_is_resumed_by_a_task() -> None:
    """It may have entered what needs that Task (asyncio.timeout): it gets one of its own."""

    async def t() -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        out: list[object] = []
        task = run_eager(suspends(fut), lambda r, e: out.append((r, e)), loop)
        assert task is not None and out == []
        fut.set_result(41)
        await task
        assert out == [(42, None)]

    asyncio.run(t())


def test_exceptions_and_cancellation_are_reported() -> None:
    async def t() -> None:
        loop = asyncio.get_running_loop()
        out: list[object] = []
        run_eager(fails(), lambda r, e: out.append(type(e)), loop)
        task = run_eager(yields_something_else(), lambda r, e: out.append(type(e)), loop)
        assert task is not None  # not a Future: a Task resumes it (as before), and can be cancelled
        task.cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert out == [ValueError, asyncio.CancelledError]

    asyncio.run(t())
