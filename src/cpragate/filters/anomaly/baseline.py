"""Sliding-window counts and baselines: the arithmetic every detector shares.

Rules:

* A window is a fixed interval ``[k·W, (k+1)·W)``. The *sliding* count at time t is the
  current window's count plus the previous window's count weighted by the part of it
  still inside ``(t − W, t]`` (the two-window estimate rate limiters use): O(1) state
  and cost, and a burst is seen as soon as it happens, not at a window boundary.
* When a window closes its count is learned into two moving averages of the subject's
  windows, a fast one (α = 0.2, ≈ 5 windows) and a slow one (α = 0.02, ≈ 50 windows);
  the baseline is the larger, so a daily ramp-up (fast) and a quiet night after a busy
  day (slow) both keep the threshold high enough. Idle windows are not learned (a subject
  is judged against its active windows).
* The threshold is ``max(floor, factor × m, slow + sigmas × sd, 1.5 × peak)``: ``m``
  the baseline shrunk towards the population prior, ``m = (n·own + w·prior) / (n + w)``
  (``n`` the windows learned, capped at 50, ``w`` the prior's weight), ``sd`` the slow
  moving standard deviation of the subject's windows (a bursty subject gets a wider
  band), ``peak`` its largest learned window, decaying by 1 % per learned window (a
  subject that did this much before, benignly, may do it again). A new subject (n = 0)
  is judged against the population prior alone.
* A window over its threshold is learned only by the slow average, clamped to the
  threshold, and never by the population: a 10-minute attack moves the baseline by
  under a fifth of the way, while a consumer whose real volume grew for good is adopted
  within about an hour (after the alerts its cooldown allows).
* The population prior itself is a slow moving average (α = 0.01) of every subject's
  learned windows, seeded with the configured ``prior``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["FAST", "SLOW", "Population", "Rate", "threshold"]

FAST: Final = 0.2
SLOW: Final = 0.02
_POP: Final = 0.01
_N_CAP: Final = 50
_PEAK_DECAY: Final = 0.99
_PEAK_FACTOR: Final = 1.5
_NEVER: Final = -1e18


class Population:
    """The population prior of one detector signal."""

    __slots__ = ("mean",)

    def __init__(self, prior: float) -> None:
        self.mean = prior

    def learn(self, x: float) -> None:
        self.mean += _POP * (x - self.mean)


def threshold(
    fast: float, slow: float, n: int, prior: float, weight: float, factor: float, floor: float,
    var: float = 0.0, peak: float = 0.0, sigmas: float = 0.0,
) -> float:  # fmt: skip
    """``max(floor, factor × m, slow + sigmas × sd, 1.5 × peak)`` (see the module doc)."""
    k = n if n < _N_CAP else _N_CAP
    own = fast if fast > slow else slow
    tot = k + weight
    m = (k * own + weight * prior) / tot if tot > 0 else own
    t = factor * m
    if n:
        band = slow + sigmas * var**0.5
        if band > t:
            t = band
        if _PEAK_FACTOR * peak > t:
            t = _PEAK_FACTOR * peak
    return t if t > floor else float(floor)


class Rate:
    """One signal of one subject: the sliding count and its baseline."""

    __slots__ = ("alarmed", "cur", "ext", "fast", "n", "peak", "pending", "prev", "pushed", "slow", "start", "thr", "var")

    def __init__(self) -> None:
        self.start = _NEVER
        self.cur = 0.0
        self.prev = 0.0
        self.fast = 0.0
        self.slow = 0.0
        self.n = 0
        self.var = 0.0
        self.peak = 0.0
        self.alarmed = False
        self.thr = -1.0
        """The threshold of the current window (computed once per window; -1: not yet)."""
        self.ext = 0.0
        """Shared windows: what other instances counted in the current window (last sync)."""
        self.pending = 0.0
        """Shared windows: counted here since the last sync."""
        self.pushed = 0.0
        """Shared windows: counted here and already added to the shared count."""

    def roll(self, now: float, window: float, pop: Population | None) -> None:
        """Move to the window holding ``now``, learning the one that closed."""
        start = now - (now % window)
        if start == self.start:
            return
        if self.start != _NEVER:
            real = x = self.cur + self.ext
            if self.alarmed:
                # Over its threshold: only the slow average learns it, clamped to the
                # threshold. A 10-minute attack moves it by under a fifth of the way; a
                # consumer whose real volume grew for good is adopted within about an hour.
                if self.thr >= 0 and x > self.thr:
                    x = self.thr
                self.slow = x if self.n == 0 else self.slow + SLOW * (x - self.slow)
                self.n += 1
            elif x > 0:
                if self.n == 0:
                    self.fast = self.slow = x
                else:
                    self.fast += FAST * (x - self.fast)
                    d = x - self.slow
                    self.slow += SLOW * d
                    self.var = (1.0 - SLOW) * (self.var + SLOW * d * d)
                p = self.peak * _PEAK_DECAY
                self.peak = x if x > p else p
                self.n += 1
                if pop is not None:
                    pop.learn(x)  # the population never learns an alarmed window
            self.prev = real if start - self.start <= window else 0.0
        self.start = start
        self.cur = self.ext = self.pending = self.pushed = 0.0
        self.alarmed = False
        self.thr = -1.0

    def add(self, now: float, window: float, x: float, pop: Population | None) -> float:
        """Count ``x`` at ``now``; the sliding count afterwards."""
        if now - self.start >= window or now < self.start:
            self.roll(now, window, pop)
        self.cur += x
        return self.cur + self.ext + self.prev * (1.0 - (now - self.start) / window)

    def sliding(self, now: float, window: float) -> float:
        """The sliding count at ``now`` without adding (0 when the windows are stale)."""
        if now - self.start >= 2 * window or now < self.start:
            return 0.0
        if now - self.start >= window:
            return (self.cur + self.ext) * (1.0 - (now - self.start - window) / window)
        return self.cur + self.ext + self.prev * (1.0 - (now - self.start) / window)

    def synced(self, start: float, delta: float, total: float) -> None:
        """The shared count of window ``start`` is ``total`` after adding our ``delta``."""
        if start != self.start:
            return  # the window rolled meanwhile
        self.pushed += delta
        self.pending -= delta
        ext = total - self.pushed
        self.ext = ext if ext > 0 else 0.0

    def limit(self, prior: float, weight: float, factor: float, floor: float, sigmas: float = 0.0) -> float:
        """This window's threshold (cached until the window rolls)."""
        t = self.thr
        if t < 0:
            t = self.thr = threshold(
                self.fast, self.slow, self.n, prior, weight, factor, floor, self.var, self.peak, sigmas
            )
        return t
