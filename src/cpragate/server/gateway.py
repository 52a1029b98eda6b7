"""The running gateway of one worker: listeners, the compiled config, timers, reload, drain.

A ``Runtime`` is everything compiled from one config (router, pipelines, pools, filter
instances). Reload builds a complete new Runtime first; only if that succeeds is it
swapped in. Requests already in flight keep the Runtime they started with; the old
pools close their idle connections and let busy ones finish.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cpragate.config import load_config
from cpragate.config.model import GatewayConfig, Listener
from cpragate.core.clock import SystemClock
from cpragate.core.filter import Filter, FilterContext
from cpragate.core.ids import CounterIds, IdSource
from cpragate.core.messages import Response
from cpragate.core.pipeline import Pipeline
from cpragate.core.registry import builtin_filters
from cpragate.core.route import RouteInfo
from cpragate.core.router import Router
from cpragate.errors import ConfigReloadRefused, CpraGateError, ListenError
from cpragate.server import memory
from cpragate.server.accesslog import AccessLines, sink
from cpragate.server.http1 import ClientConnection
from cpragate.server.tls import server_context
from cpragate.server.upstream import UpstreamConnection, UpstreamPool
from cpragate.storage import Stores, open_stores

if TYPE_CHECKING:
    from cpragate.server.admin import AdminServer

__all__ = ["Gateway", "ListenerRuntime", "Runtime", "build_filters"]

log = logging.getLogger("cpragate")

EDGE_PRIORITY = 1900

IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def build_filters(
    cfg: GatewayConfig, ctx: FilterContext, classes: dict[str, type[Filter]] | None = None
) -> dict[str, Filter]:
    """One instance of each enabled filter, by name."""
    out: dict[str, Filter] = {}
    for name, cls in (classes if classes is not None else builtin_filters()).items():
        fcfg = getattr(cfg.filters, name, None)
        if fcfg is None:
            fcfg = cls.Config()
        if getattr(fcfg, "enabled", True) is False:
            continue
        out[name] = cls(fcfg, ctx)
    return out


class Runtime:
    """Everything compiled from one config; immutable once built."""

    def __init__(
        self,
        cfg: GatewayConfig,
        loop: asyncio.AbstractEventLoop,
        stores: Stores | None = None,
        filter_classes: dict[str, type[Filter]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.loop = loop
        # Hot-path settings copied out of the pydantic models once.
        self.keepalive_requests = cfg.limits.keepalive_requests
        self.allow_semicolon = cfg.routing.allow_semicolon
        self.method_override = cfg.routing.method_override
        self.ctx = FilterContext(clock=SystemClock(), stores=stores)
        self.filters = build_filters(cfg, self.ctx, filter_classes)
        self.trusted: list[IpNet] = [ipaddress.ip_network(n, strict=False) for n in cfg.trusted_proxies]
        self._trust_cache: dict[str, bool] = {}
        self.router: Router[RouteInfo] = Router(case_sensitive=cfg.routing.case_sensitive)
        self.routes: list[RouteInfo] = []
        for r in cfg.routes:
            info = RouteInfo(
                name=r.name or r.path,
                template=r.path,
                methods=tuple(r.methods),
                upstream=r.upstream,
                personal=r.personal,
                max_body_bytes=r.max_body_bytes,
                on_body_too_large=r.on_body_too_large,
                read_timeout=r.read_timeout or cfg.upstreams[r.upstream].timeouts.read,
                connect_timeout=cfg.upstreams[r.upstream].timeouts.connect,
                settings=r,
            )
            names = list(self.filters) if r.filters is None else [n for n in r.filters if n in self.filters]
            # Observers (inventory, metrics) see every route, plain passthrough ones too.
            names += [n for n, f in self.filters.items() if getattr(f, "sees_every_route", False) and n not in names]
            info.pipeline = Pipeline([self.filters[n] for n in names if self.filters[n].applies_to(info)], info)
            self.router.add(r.path, r.methods, info)
            self.routes.append(info)
        # Edge filters (priority >= EDGE_PRIORITY: security headers, CORS) also shape the
        # answers to requests refused before any route's chain ran.
        self.fallback = Pipeline(
            [f for f in self.filters.values() if f.priority >= EDGE_PRIORITY or getattr(f, "sees_unrouted", False)]
        )
        self.pools: dict[str, UpstreamPool] = {
            name: UpstreamPool(name, up, loop) for name, up in cfg.upstreams.items()
        }

    def is_trusted(self, ip: str) -> bool:
        if not self.trusted:
            return False
        hit = self._trust_cache.get(ip)
        if hit is None:
            try:
                addr = ipaddress.ip_address(ip)
                hit = any(addr in n for n in self.trusted)
            except ValueError:
                hit = False
            if len(self._trust_cache) < 4096:
                self._trust_cache[ip] = hit
        return hit

    def finalize_refusal(self, resp: Response, scheme: str, route: RouteInfo | None = None) -> None:
        """Security headers on answers made outside any route's pipeline (parse errors, redirects)."""
        f = self.filters.get("security_headers")
        if f is None:
            return
        from cpragate.core.exchange import Exchange
        from cpragate.core.messages import Request

        ex = Exchange(Request("GET", b"/", "/"), "-", scheme=scheme, route=route)
        ex.response = resp
        coro = f.on_response(ex)
        try:
            coro.send(None)
        except StopIteration:
            pass
        else:  # pragma: no cover - security headers never suspend
            coro.close()

    def close(self) -> None:
        for p in self.pools.values():
            p.close()


class ListenerRuntime:
    """One bound listener."""

    def __init__(self, gateway: Gateway, cfg: Listener) -> None:
        self.gateway = gateway
        self.cfg = cfg
        self.scheme = "https" if cfg.tls is not None else "http"
        self.redirect_to = cfg.redirect_to_https.rstrip("/").encode("ascii") if cfg.redirect_to_https else None
        self.ssl: ssl.SSLContext | None = server_context(cfg.tls) if cfg.tls is not None else None
        self.server: asyncio.AbstractServer | None = None

    def factory(self) -> ClientConnection:
        return ClientConnection(self)


def _bind_socket(bind: str, reuse_port: bool) -> socket.socket:
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as e:
        sock.close()
        raise ListenError(f"cannot listen on {bind}: {e.strerror}.") from None
    sock.listen(4096)
    sock.setblocking(False)
    return sock


class Gateway:
    """One worker's gateway: serves until ``stop()``; ``reload()`` swaps the config."""

    def __init__(
        self,
        cfg: GatewayConfig,
        loop: asyncio.AbstractEventLoop,
        *,
        config_path: str | None = None,
        ids: IdSource | None = None,
        reuse_port: bool = False,
        stores: Stores | None = None,
        filter_classes: dict[str, type[Filter]] | None = None,
    ) -> None:
        self.loop = loop
        self.filter_classes = filter_classes
        self.config_path = config_path
        self.ids: IdSource = ids or CounterIds()
        self.reuse_port = reuse_port
        self.stores = stores
        self.runtime = Runtime(cfg, loop, stores, filter_classes)
        self.connections: set[ClientConnection] = set()
        self.listeners: list[ListenerRuntime] = []
        self.draining = False
        self.access_log = cfg.logging.access_log
        self.access_lines: AccessLines | None = sink(loop) if self.access_log else None
        """The batched access-log writer (server/accesslog.py), None: one ``logging`` record per line."""
        self.batch_writes = cfg.limits.batch_writes
        """Client writes and upstream requests wait for the end of the loop's pass over ready
        events (see :meth:`queue_write`, :meth:`queue_send`)."""
        self.write_batch: list[ClientConnection] = []
        """Client connections with collected writes, flushed once the loop has handled every
        ready event (:meth:`queue_write`)."""
        self.send_batch: list[UpstreamConnection] = []
        """Upstream connections holding a request until the end of the pass (:meth:`queue_send`)."""
        self.date = b""
        self.read_view = memoryview(bytearray(256 * 1024))
        """Where uvloop puts what client connections read (and TLS decrypts): they are
        ``BufferedProtocol`` objects and parse it before the next read, so one buffer per loop
        serves them all (see ``ClientConnection.get_buffer``)."""
        self.clock: Callable[[], float] = loop.time
        """The loop's clock as a bound method: called per read, it skips a method lookup."""
        self.now = loop.time()
        """A coarse clock (updated every tick) for timeout deadlines: no syscall per request."""
        self._tick_handle: asyncio.TimerHandle | None = None
        self._next_trim = 0.0
        """When the tick next hands free heap pages back (server/memory.py)."""
        self._stopped = loop.create_future()
        self.admin: AdminServer | None = None
        """The admin listener (server/admin.py) when ``admin:`` is configured."""
        self._update_date()

    @property
    def cfg(self) -> GatewayConfig:
        return self.runtime.cfg

    async def start(self) -> None:
        from cpragate.config.findings import findings

        for f in findings(self.cfg):
            log.warning("security finding: %s", f)
        for lcfg in self.cfg.listeners:
            lr = ListenerRuntime(self, lcfg)
            sock = _bind_socket(lcfg.bind, self.reuse_port)
            lr.server = await self.loop.create_server(lr.factory, sock=sock, ssl=lr.ssl, backlog=4096)
            self.listeners.append(lr)
            log.info("listening on %s://%s (%s)", lr.scheme, lcfg.bind, lcfg.name)
        from cpragate import _accel

        (log.info if _accel.active() else log.warning)("compiled modules: %s", _accel.status())
        from cpragate.server.admin import start_admin

        self.admin = await start_admin(self)
        memory.tune(self.cfg.limits.malloc_mmap_threshold)
        self._next_trim = self.loop.time() + self.cfg.limits.malloc_trim_interval
        memory.tune_gc(self.cfg.limits.gc_young_threshold)
        self._schedule_tick()

    def bound_ports(self) -> list[int]:
        ports = []
        for lr in self.listeners:
            if isinstance(lr.server, asyncio.Server) or hasattr(lr.server, "sockets"):
                for s in lr.server.sockets:  # type: ignore[union-attr]
                    ports.append(s.getsockname()[1])
        return ports

    def _update_date(self) -> None:
        self.date = email.utils.formatdate(usegmt=True).encode("ascii")

    def _tick_interval(self) -> float:
        lim = self.cfg.limits
        shortest = min(
            [lim.header_timeout, lim.idle_timeout, lim.body_timeout, lim.send_timeout]
            + [p.read_timeout for p in self.runtime.pools.values()]
            + [p.connect_timeout for p in self.runtime.pools.values()]
        )
        return max(0.05, min(1.0, shortest / 4))

    def _schedule_tick(self) -> None:
        self._tick_handle = self.loop.call_later(self._tick_interval(), self._tick)

    def _tick(self) -> None:
        self.now = now = self.loop.time()
        self._update_date()
        lim = self.cfg.limits
        for c in list(self.connections):
            try:
                c.sweep(now, lim)
            except Exception:
                log.exception("sweep failed for a connection")
        for p in self.runtime.pools.values():
            p.sweep(now)
        every = lim.malloc_trim_interval
        if every > 0 and now >= self._next_trim:
            self._next_trim = now + every
            memory.trim()
        if not self._stopped.done():
            self._schedule_tick()

    def queue_write(self, conn: ClientConnection) -> None:
        """Write ``conn``'s collected bytes once the loop has handled every event that was
        ready (``limits.batch_writes``; docs/architecture.md "Write batching").

        Under load one pass of the loop handles dozens of reads; answering each at once
        made one ``write`` per response, each waking the client's (and, on loopback, the
        upstream's) process on another core. Written together after the pass, a client
        reading many connections wakes once for all of them. A connection's own bytes keep
        their order (a later :meth:`ClientConnection.write` goes out with them, behind
        them), and a close, an abort or the peer's EOF writes them first."""
        self.write_batch.append(conn)
        self._flush_soon()

    def queue_send(self, up: UpstreamConnection) -> None:
        """Send ``up``'s held request (``UpstreamConnection.send(..., hold=True)``) with the
        pass's other writes: an upstream serving many of the pool's connections wakes once
        per batch, not once per request (as a client does for :meth:`queue_write`)."""
        self.send_batch.append(up)
        self._flush_soon()

    def _flush_soon(self) -> None:
        """Schedule :meth:`flush_writes` when the write just queued is the pass's first."""
        if len(self.write_batch) + len(self.send_batch) == 1:
            self.loop.call_soon(self.flush_writes)

    def flush_writes(self) -> None:
        """Write every queued connection's bytes (``call_soon``: the loop's next pass, before
        it polls again): the upstream requests first, so the upstream starts on them while
        the answers go out."""
        sends = self.send_batch
        batch = self.write_batch
        self.send_batch = []
        self.write_batch = []  # both fresh: a write queued from here on schedules the next flush
        for up in sends:
            try:
                up.flush_out()
            except Exception:  # one broken transport must not leave the others held for ever
                log.exception("upstream write failed; the connection is aborted")
                try:
                    up.abort()
                except Exception:
                    log.exception("aborting the upstream connection failed")
        for conn in batch:
            try:
                conn.flush_out()
            except Exception:  # one broken transport must not leave the others queued for ever
                log.exception("client write failed; the connection is aborted")
                conn.out = []
                try:
                    conn.abort()
                except Exception:
                    log.exception("aborting the client connection failed")

    def reload(self, path: str | None = None) -> bool:
        """Load the config again; keep serving the old one if the new one is bad."""
        path = path or self.config_path
        if path is None:
            return False
        try:
            cfg = load_config(path)
            if [lst.model_dump() for lst in cfg.listeners] != [lst.model_dump() for lst in self.cfg.listeners]:
                log.warning("listener changes need a restart; the running listeners are kept")
            new = Runtime(cfg, self.loop, self.stores, self.filter_classes)
        except CpraGateError as e:
            log.error("%s", ConfigReloadRefused(f"reload of {path} refused, still serving the previous config:\n{e}"))
            return False
        except Exception as e:  # a bug must not take the serving config down
            log.exception("reload of %s failed (%s); still serving the previous config", path, type(e).__name__)
            return False
        old = self.runtime
        self.runtime = new
        memory.tune(cfg.limits.malloc_mmap_threshold)
        self._next_trim = self.loop.time() + cfg.limits.malloc_trim_interval
        memory.tune_gc(cfg.limits.gc_young_threshold)
        self.access_log = cfg.logging.access_log
        self.access_lines = sink(self.loop) if self.access_log else None
        self.batch_writes = cfg.limits.batch_writes
        # Refresh listener certificates in place (new handshakes use them).
        for lr, lcfg in zip(self.listeners, cfg.listeners, strict=False):
            if lr.ssl is not None and lcfg.tls is not None:
                try:
                    lr.ssl.load_cert_chain(lcfg.tls.cert_file, lcfg.tls.key_file)
                except (OSError, ssl.SSLError):
                    log.error("reloaded certificate for %s cannot be loaded; keeping the old one", lcfg.bind)
        old.close()
        log.info("configuration reloaded from %s", path)
        return True

    async def stop(self, drain_timeout: float | None = None) -> None:
        """Stop accepting, let in-flight requests finish (bounded), then close everything."""
        if self.draining:
            await self._stopped
            return
        self.draining = True
        timeout = self.cfg.limits.drain_timeout if drain_timeout is None else drain_timeout
        for lr in self.listeners:
            if lr.server is not None:
                lr.server.close()
        for c in list(self.connections):
            if c.active is None and not c.queue:
                c.close()
        deadline = self.loop.time() + timeout
        while any(c.active is not None for c in self.connections) and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for c in list(self.connections):
            c.abort() if c.active is not None else c.close()
        self.runtime.close()
        if self.access_lines is not None:
            self.access_lines.flush()
        if self.admin is not None:
            await self.admin.close()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        # Stores close before "stopped" is announced: the audit writer ships what is
        # spooled here, and a forked worker exits (os._exit) right after wait_stopped().
        try:
            if self.stores is not None:
                await self.stores.close()
        finally:
            if not self._stopped.done():
                self._stopped.set_result(None)

    async def wait_stopped(self) -> None:
        await self._stopped


def state_dir(cfg: GatewayConfig, base: Path | None = None) -> Path:
    p = Path(cfg.state_dir)
    if not p.is_absolute() and base is not None:
        p = base / p
    return p


async def open_default_stores(cfg: GatewayConfig, base: Path | None = None) -> Stores:
    sd = state_dir(cfg, base)
    stores = await open_stores(cfg.storage.url.replace("{state_dir}", str(sd)), redis_url=cfg.storage.redis)
    try:
        await stores.attach_audit(cfg.filters.audit, sd)  # spool + writer thread (filters/audit)
        from cpragate.server.webhook import attach_webhooks

        attach_webhooks(stores, cfg.filters.anomaly)  # signed alert webhooks (filters/anomaly)
    except BaseException:
        await stores.close()
        raise
    return stores
