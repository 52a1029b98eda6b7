"""Process lifecycle: one worker in-process, or N forked workers sharing the port.

Signals: SIGTERM/SIGINT drain in-flight requests (bounded by ``limits.drain_timeout``)
then exit; SIGHUP reloads the config without dropping connections (a bad file is
refused and logged, the running config keeps serving). With ``--workers N`` the parent
forwards both signals to every worker and restarts a worker that dies unexpectedly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from cpragate.config import load_config
from cpragate.config.model import GatewayConfig
from cpragate.errors import CpraGateError
from cpragate.server.accesslog import AccessLines
from cpragate.server.gateway import Gateway, open_default_stores

__all__ = ["run_worker", "serve", "setup_logging"]

log = logging.getLogger("cpragate")


class _Formatter(logging.Formatter):
    """The stdlib formatter with the timestamp's date part computed once per second.

    With ``logging.access_log`` on, every request writes a line: ``time.localtime`` +
    ``strftime`` per record were ~1.5 of its ~11 µs. Same output as ``logging.Formatter``.
    """

    _second = -1
    _stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        sec = int(record.created)
        if sec != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(sec))
            self._second = sec
        return f"{self._stamp},{int(record.msecs):03d}"  # = default_msec_format '%s,%03d'


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The gateway's stderr handler. Access-log lines batched by ``accesslog.AccessLines``
    (``access``) are written before any other record from the same thread, so the log
    keeps its order, and by ``flush`` (``logging.shutdown`` at exit)."""

    _cpragate = True
    access: AccessLines | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.access is not None:
            self.access.flush()
        super().emit(record)

    def flush(self) -> None:
        if self.access is not None:
            self.access.flush()
        super().flush()


def setup_logging(level: str = "info") -> None:
    # The logging HOWTO's "Optimization": our format uses neither the caller's file/line
    # nor thread or multiprocessing names, so skip collecting them (sys._getframe walk
    # and lookups per record: ~2 of the ~11 µs an access-log line cost).
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    if not any(getattr(h, "_cpragate", False) for h in root.handlers):
        h = _Handler(sys.stderr)
        h.setFormatter(_Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"))
        root.addHandler(h)
    root.setLevel(level.upper())


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        log.warning("uvloop not available: the stdlib loop is much slower for TLS")
        return asyncio.new_event_loop()


async def _serve_async(
    cfg: GatewayConfig,
    config_path: str | None,
    reuse_port: bool,
    on_ready: Callable[[Gateway], None] | None,
) -> None:
    loop = asyncio.get_running_loop()
    # Relative paths in a config (state_dir, certificates) are relative to the working directory.
    stores = await open_default_stores(cfg)
    gw = Gateway(cfg, loop, config_path=config_path, reuse_port=reuse_port, stores=stores)
    await gw.start()
    stopping: list[asyncio.Task[None]] = []

    def on_term() -> None:
        if not stopping:
            log.info("draining (up to %.0fs)", cfg.limits.drain_timeout)
            stopping.append(loop.create_task(gw.stop()))

    loop.add_signal_handler(signal.SIGTERM, on_term)
    loop.add_signal_handler(signal.SIGINT, on_term)
    loop.add_signal_handler(signal.SIGHUP, gw.reload)
    if on_ready is not None:
        on_ready(gw)
    await gw.wait_stopped()
    log.info("stopped")


def run_worker(
    cfg: GatewayConfig,
    config_path: str | None,
    reuse_port: bool = False,
    on_ready: Callable[[Gateway], None] | None = None,
) -> int:
    loop = new_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve_async(cfg, config_path, reuse_port, on_ready))
    except CpraGateError as e:
        log.error("%s", e)
        return 2
    finally:
        loop.close()
    return 0


def serve(config_path: str, workers: int = 1) -> int:
    """``cpragate run``: load, validate, then serve in one or N processes."""
    cfg = load_config(config_path)
    setup_logging(cfg.logging.level)
    from cpragate.filters.ratelimit.workers import require_shared_state

    require_shared_state(cfg, workers)
    if workers <= 1:
        return run_worker(cfg, config_path)
    return _supervise(cfg, config_path, workers)


def _spawn(cfg: GatewayConfig, config_path: str) -> int:
    pid = os.fork()
    if pid == 0:  # worker
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(s, signal.SIG_DFL)
        code = 1
        try:
            code = run_worker(cfg, config_path, reuse_port=True)
        finally:
            os._exit(code)
    return pid


def _supervise(cfg: GatewayConfig, config_path: str, workers: int) -> int:
    children: dict[int, float] = {}
    stopping = False

    def forward(sig: int, _frame: object) -> None:
        nonlocal stopping
        if sig in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM if sig == signal.SIGINT else sig)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, forward)
    for _ in range(workers):
        children[_spawn(cfg, config_path)] = time.monotonic()
    log.info("started %d workers sharing the listeners (SO_REUSEPORT)", workers)
    rc = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
            continue
        started = children.pop(pid, None)
        if started is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            continue
        log.error("worker %d exited with %d; restarting it", pid, code)
        if time.monotonic() - started < 1.0:
            time.sleep(1.0)  # crash loop guard
        try:
            cfg = load_config(config_path)
        except CpraGateError as e:
            log.error("config no longer loads, restarting with the last good one: %s", e)
        children[_spawn(cfg, config_path)] = time.monotonic()
        rc = 1
    return 0 if stopping else rc
