"""Shared pytest configuration.

A session-wide watch on logging: every record that reaches the root logger during the
test run (unit tests and in-process gateways) is checked for SSN- and card-shaped
strings; at the end, any that is one of the demo's raw SSNs or card numbers
(cpragate.demo.data) fails the run, naming the test and logger — never the value.
Subprocess gateways are covered by tests/e2e/test_scrubbing.py.
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Iterator

import pytest

_SHAPES = re.compile(r"\b\d{3}-\d{2}-\d{4}\b|\b(?:\d[ -]?){13,19}\b")


class _PiiWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.test = "(collection)"
        self.hits: list[tuple[str, str, str]] = []  # (test, logger, text)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            return
        if _SHAPES.search(text) and len(self.hits) < 10_000:
            self.hits.append((self.test, record.name, text))


_WATCH = _PiiWatch()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(_WATCH)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _WATCH.test = item.nodeid


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_WATCH)
    if not _WATCH.hits:
        return
    from cpragate.demo.data import generate

    data = generate()
    raw = {c["ssn"] for c in data.customers} | {c["card_number"] for c in data.customers}
    leaks = sorted({(test, logger) for test, logger, text in _WATCH.hits if any(v in text for v in raw)})
    if leaks:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"  {test}: logger {logger}" for test, logger in leaks]
        msg = "raw demo SSNs or card numbers were logged during the tests (values not shown):\n" + "\n".join(lines)
        if tr is not None:
            tr.write_line(msg, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _gc_threshold_restored() -> Iterator[None]:
    """A gateway sets the cyclic collector's young threshold process-wide
    (``limits.gc_young_threshold``, server/memory.py): each test starts from the one the
    suite started with, so when a cycle is collected (and its ResourceWarning shows) does not
    depend on which gateway ran before."""
    saved = gc.get_threshold()
    yield
    if gc.get_threshold() != saved:
        gc.set_threshold(*saved)
