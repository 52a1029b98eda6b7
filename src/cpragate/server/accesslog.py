"""The access log's lines, written in batches (``logging.access_log: true``).

One ``logging`` record per request cost ~9 µs end to end under the demo policy (a
``LogRecord``, the formatter, a ``write`` and a ``flush`` system call per line: 4 % of the
whole request). When the access log would end in the gateway's own log handler anyway
(``serve.setup_logging``: nothing else attached to the ``cpragate.access`` logger or its
parents, INFO enabled), the data plane formats the line itself — the same text the
handler would have written — and this class writes the lines a batch at a time: at most
``interval`` seconds after the first one, at ``limit`` bytes, before any other log record
the handler writes from the same thread (so the log keeps its order), when the gateway
stops and at interpreter exit (``logging.shutdown`` flushes the handler). nginx's
``access_log … buffer= flush=`` does the same. A crash of the process may lose the last
``interval`` of access lines; the audit trail, not the access log, is the durable
record of who received what.

Anything else attached (another handler, a filter, a level above INFO, pytest's
``caplog``) keeps the plain ``logging`` path: ``sink()`` returns None.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

__all__ = ["AccessLines", "sink"]

ACCESS_LOGGER = "cpragate.access"


class AccessLines:
    """Pre-formatted access-log lines waiting to be written to ``handler``'s stream.

    Only the thread that created it (the event loop's) adds and flushes lines.
    """

    __slots__ = ("_second", "_stamp", "handler", "interval", "limit", "loop", "owner", "pending", "prefix", "scheduled", "size")

    def __init__(self, handler: logging.StreamHandler, loop: asyncio.AbstractEventLoop,  # type: ignore[type-arg]
                 interval: float = 0.1, limit: int = 32 * 1024) -> None:  # fmt: skip
        self.handler = handler
        self.loop = loop
        self.interval = interval
        self.limit = limit
        self.owner = threading.get_ident()
        self.pending: list[str] = []
        self.size = 0
        self.scheduled = False
        self.prefix = f" INFO [{os.getpid()}] {ACCESS_LOGGER}: "
        self._second = -1
        self._stamp = ""

    def add(self, msg: str) -> None:
        """Queue one line: the text ``logging`` would have written for ``access.info(msg)``."""
        t = time.time()
        sec = int(t)
        if sec != self._second:  # the formatter's asctime, its date part once per second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec))
            self._second = sec
        # ",MMM" zero-padded: 0 <= ms <= 999, so str(1000 + ms)[1:] (no format spec to parse)
        line = "".join((self._stamp, ",", str(1000 + int((t - sec) * 1000))[1:], self.prefix, msg, "\n"))
        self.pending.append(line)
        self.size += len(line)
        if self.size >= self.limit:
            self.flush()
        elif not self.scheduled:
            self.scheduled = True
            self.loop.call_later(self.interval, self._timer)

    def _timer(self) -> None:
        self.scheduled = False
        self.flush()

    def flush(self) -> None:
        """Write what is queued (in the owner thread; elsewhere a no-op: the owner will)."""
        if not self.pending or threading.get_ident() != self.owner:
            return
        text = "".join(self.pending)
        self.pending.clear()
        self.size = 0
        h = self.handler
        h.acquire()
        try:
            h.stream.write(text)
            h.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr: the lines are lost, as with logging
            pass
        finally:
            h.release()


def _plain_path(lg: logging.Logger) -> bool:
    """No handler, filter or stop between ``lg`` and the root logger."""
    c: logging.Logger | None = lg
    while c is not None and c is not logging.root:
        if c.handlers or c.filters or not c.propagate:
            return False
        c = c.parent
    return True


def sink(loop: asyncio.AbstractEventLoop) -> AccessLines | None:
    """The batched writer for this loop's access lines, or None when the lines must go
    through ``logging`` (something other than the gateway's handler would see them)."""
    lg = logging.getLogger(ACCESS_LOGGER)
    root = logging.root
    if not lg.isEnabledFor(logging.INFO) or not _plain_path(lg) or root.filters or len(root.handlers) != 1:
        return None
    h = root.handlers[0]
    if not getattr(h, "_cpragate", False) or h.filters or h.level > logging.INFO or not isinstance(h, logging.StreamHandler):
        return None
    lines = getattr(h, "access", None)
    if isinstance(lines, AccessLines) and lines.loop is loop and lines.owner == threading.get_ident():
        return lines
    if isinstance(lines, AccessLines):
        lines.flush()  # a previous loop's lines (tests run several gateways in one process)
    lines = AccessLines(h, loop)
    h.access = lines  # type: ignore[attr-defined]
    return lines
