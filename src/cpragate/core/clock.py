"""Time is injected (STYLE §7.6): core and filters never call time.time() themselves."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock", "readers"]


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (for timestamps people read)."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds (for durations, windows and timeouts)."""
        ...


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock tests move by hand; both readings advance together."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._wall = start
        self._mono = 1000.0

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        self._wall += seconds
        self._mono += seconds


def readers(clock: Clock) -> tuple[Callable[[], float], Callable[[], float]]:
    """``(time, monotonic)`` of ``clock``, for code that reads it per request.

    For the real clock these are ``time.time`` and ``time.monotonic`` themselves: the same
    readings without an interpreted frame per call (~500 instructions each, called from
    compiled code). Any other clock (tests) is read through its methods.
    """
    if type(clock) is SystemClock:
        return time.time, time.monotonic
    return clock.time, clock.monotonic
