from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
from collections.abc import Iterator

import pytest

from cpragate.server.accesslog import AccessLines, sink
from cpragate.server.serve import _Formatter, _Handler

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


@pytest.fixture
def handler() -> Iterator[_Handler]:
    """The gateway's handler alone on the root logger, writing to a string (as setup_logging does)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, root.filters[:])
    h = _Handler(io.StringIO())
    h.setFormatter(_Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"))
    root.handlers[:] = [h]
    root.filters.clear()
    root.setLevel(logging.INFO)
    try:
        yield h
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        root.filters[:] = saved[2]


def alone(h: _Handler) -> None:
    """pytest's logging plugin adds its capture handlers to the root logger for each test
    phase, after the fixture ran: take them off for the test's body (the fixture restores)."""
    logging.getLogger().handlers[:] = [h]


def text(h: _Handler) -> str:
    s = h.stream
    assert isinstance(s, io.StringIO)
    return s.getvalue()


def test_a_batched_line_is_the_line_logging_writes(handler: _Handler) -> None:
    alone(handler)
    loop = asyncio.new_event_loop()
    try:
        lines = sink(loop)
        assert isinstance(lines, AccessLines) and handler.access is lines
        msg = "req-1 127.0.0.1 GET /v1/customers/{id} 200 1.2ms ok consumer=support-app pi=identifiers:3 spi=1"
        logging.getLogger("cpragate.access").info("%s", msg)  # the plain path
        lines.add(msg)
        lines.flush()
        a, b = text(handler).splitlines()
        assert STAMP.sub("", a) == STAMP.sub("", b) and STAMP.match(a) and STAMP.match(b)
        assert b.endswith(" INFO [" + str(__import__("os").getpid()) + "] cpragate.access: " + msg)
        assert sink(loop) is lines  # one writer per handler and loop
    finally:
        loop.close()


def test_lines_wait_for_the_timer_the_size_limit_or_another_record(handler: _Handler) -> None:
    alone(handler)
    loop = asyncio.new_event_loop()
    try:
        lines = sink(loop)
        assert lines is not None
        lines.add("one")
        assert text(handler) == "" and lines.scheduled  # written at most `interval` later
        loop.run_until_complete(asyncio.sleep(lines.interval + 0.05))
        assert text(handler).endswith("cpragate.access: one\n") and not lines.scheduled
        lines.add("two")
        logging.getLogger("cpragate.x").warning("after two")  # another record: the queued line goes first
        out = text(handler).splitlines()
        assert out[-2].endswith("cpragate.access: two") and out[-1].endswith("cpragate.x: after two")
        lines.limit = 200
        for i in range(5):
            lines.add(f"line {i} " + "x" * 40)
        assert "line 3" in text(handler)  # the limit flushed without the timer
        lines.add("last")
        handler.flush()  # logging.shutdown at exit
        assert text(handler).endswith("cpragate.access: last\n")
        loop.run_until_complete(asyncio.sleep(lines.interval + 0.05))  # a timer with nothing left: no-op
        assert text(handler).count("cpragate.access: last") == 1
    finally:
        loop.close()


def test_only_the_owner_thread_writes(handler: _Handler) -> None:
    alone(handler)
    loop = asyncio.new_event_loop()
    try:
        lines = sink(loop)
        assert lines is not None
        lines.add("mine")
        t = threading.Thread(target=lambda: logging.getLogger("cpragate.audit").warning("from the writer thread"))
        t.start()
        t.join()
        assert "mine" not in text(handler) and "from the writer thread" in text(handler)
        lines.flush()
        assert text(handler).endswith("cpragate.access: mine\n")
    finally:
        loop.close()


def test_anything_else_listening_keeps_the_logging_path(handler: _Handler) -> None:
    alone(handler)
    loop = asyncio.new_event_loop()
    access = logging.getLogger("cpragate.access")
    try:
        assert sink(loop) is not None
        extra = logging.StreamHandler(io.StringIO())
        logging.getLogger().addHandler(extra)  # e.g. pytest's caplog
        assert sink(loop) is None
        logging.getLogger().removeHandler(extra)
        access.addHandler(extra)  # a handler of its own
        assert sink(loop) is None
        access.removeHandler(extra)
        access.setLevel(logging.WARNING)  # access lines off by level
        assert sink(loop) is None
        access.setLevel(logging.NOTSET)
        handler.addFilter(lambda r: True)
        assert sink(loop) is None
        handler.filters.clear()
        other = asyncio.new_event_loop()
        try:
            lines = sink(loop)
            assert lines is not None
            lines.add("old loop")
            fresh = sink(other)  # another loop (a second gateway in one process): the old lines go out first
            assert fresh is not None and fresh is not lines and "old loop" in text(handler)
        finally:
            other.close()
    finally:
        access.setLevel(logging.NOTSET)
        loop.close()


def test_a_broken_stream_loses_lines_without_raising(handler: _Handler) -> None:
    alone(handler)
    loop = asyncio.new_event_loop()
    try:
        lines = sink(loop)
        assert lines is not None
        lines.add("x")
        handler.stream.close()
        lines.flush()  # ValueError from the closed stream: dropped, as logging would report and go on
        assert lines.pending == [] and lines.size == 0
    finally:
        handler.stream = io.StringIO()
        loop.close()


@pytest.mark.parametrize(("frac", "ms"), [(0.0, "000"), (0.0054, "005"), (0.0421, "042"), (0.9999, "999")])
def test_the_stamp_milliseconds_are_three_digits(
    handler: _Handler, monkeypatch: pytest.MonkeyPatch, frac: float, ms: str
) -> None:
    # As logging's "%(asctime)s" writes them: ",005", never ",5" (built without a format spec).
    alone(handler)
    loop = asyncio.new_event_loop()
    try:
        lines = sink(loop)
        assert isinstance(lines, AccessLines)
        import time

        monkeypatch.setattr(time, "time", lambda: 1_700_000_000 + frac)
        lines.add("req-1 127.0.0.1 GET / 200 0.1ms served")
        monkeypatch.undo()
        lines.flush()
        line = text(handler)
        assert STAMP.match(line) and line[19:24] == f",{ms} ", line
    finally:
        loop.close()
