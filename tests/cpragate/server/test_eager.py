import asyncio

from cpragate.server.eager import run_eager


async def immediate() -> int:
    return 1


async def suspends(fut: "asyncio.Future[int]") -> int:
    return await fut + 1


async def fails() -> int:
    raise ValueError("x")


def test_immediate_result_needs_no_task() -> None:
    async def t() -> None:
        out: list[object] = []
        task = run_eager(immediate(), lambda r, e: out.append((r, e)), asyncio.get_running_loop())
        assert task is None and out == [(1, None)]

    asyncio.run(t())


def test_suspending_coroutine_is_resumed_by_a_task() -> None:
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
        fut: asyncio.Future[int] = loop.create_future()
        task = run_eager(suspends(fut), lambda r, e: out.append(type(e)), loop)
        assert task is not None
        task.cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert out == [ValueError, asyncio.CancelledError]

    asyncio.run(t())
