"""The admin listener: a small strict HTTP/1.1 server for the admin API, dashboard and /metrics.

It serves a few requests a minute, so it uses asyncio streams rather than the data
plane's Protocol machinery, and is strict all the same: request line and headers within
16 KiB and 64 headers, a header timeout (covering the body), request bodies only by
``Content-Length`` and within 64 KiB (only ``POST /api/detokenize`` reads one; no
``Transfer-Encoding``), one Host. A refused request is answered with
``application/problem+json`` (CPG-ADM-001, or CPG-ADM-004 for a body) and the connection closed. Everything behind ``/api/`` and ``/metrics``
is answered by :class:`cpragate.admin.api.AdminApi` (sans-IO); ``/`` and ``/static/``
are the dashboard's files, read once at start from the package (``admin/web``), with a
strict Content-Security-Policy (no inline script, nothing from another origin).

The audit search and DSAR run the audit sink's synchronous queries on a thread, so a
slow query never stalls the data plane sharing this event loop. Detokenize writes its
audit events through the gateway's own trail (the audit filter's spool and writer), so
they are chained and signed with the data plane's events.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from cpragate.admin.api import AdminApi, AdminResponse, Sources
from cpragate.admin.auth import AdminAuth
from cpragate.admin.config import AdminConfig, is_loopback_bind
from cpragate.admin.metrics import Gauge
from cpragate.errors import AdminBodyError, AdminConfigError, AdminError, ListenError

if TYPE_CHECKING:
    from cpragate.server.gateway import Gateway

__all__ = ["CSP", "WEB_DIR", "AdminServer", "AuditAccess", "BadRequest", "Request", "load_static", "read_request", "start_admin"]

log = logging.getLogger("cpragate.admin")

WEB_DIR = Path(__file__).resolve().parents[1] / "admin" / "web"
CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    b"font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".mjs": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
    ".map": b"application/json",
}
_SECURITY = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
MAX_HEAD = 16 * 1024
MAX_HEADERS = 64
MAX_BODY = 64 * 1024
HEADER_TIMEOUT = 10.0
INVENTORY_FILE = "inventory.json"
SAVE_INTERVAL = 300.0
MAX_CONNECTIONS = 64
IDLE_TIMEOUT = 30.0


def load_static(web_dir: Path = WEB_DIR) -> dict[str, tuple[bytes, bytes]]:
    """URL path -> (content type, bytes) of the dashboard: ``/`` and ``/static/...``."""
    out: dict[str, tuple[bytes, bytes]] = {}
    index = web_dir / "index.html"
    if index.is_file():
        out["/"] = (_TYPES[".html"], index.read_bytes())
    static = web_dir / "static"
    if static.is_dir():
        for p in sorted(static.rglob("*")):
            ctype = _TYPES.get(p.suffix)
            if p.is_file() and ctype is not None:
                out["/static/" + p.relative_to(static).as_posix()] = (ctype, p.read_bytes())
    return out


class AuditAccess:
    """Audit search and DSAR over the gateway's sink (synchronous; run on a thread)."""

    def __init__(self, audit_cfg: Any, state_dir: Path) -> None:
        self.cfg = audit_cfg
        self.state = state_dir
        self.sink_url = audit_cfg.sink.replace("{state_dir}", str(state_dir))

    def _sink(self) -> Any:
        from cpragate.storage.audit_sink import open_sink

        return open_sink(self.sink_url, self.cfg.table_prefix)

    def _pseudonym(self, sink: Any, subject: str) -> str | None:
        from cpragate.audit.events import lookup, pseudonym
        from cpragate.audit.keys import load_master_key

        v = self.cfg.pseudonym_key.get_secret_value() if self.cfg.pseudonym_key is not None else None
        p = self.state / "audit-pseudonym.key"
        if v is None and not p.exists():
            return None
        lk = lookup(load_master_key(v, p), subject)
        key = sink.subject_keys([lk], create=False).get(lk)
        return pseudonym(key, lk) if key is not None else None

    def search(self, q: dict[str, Any]) -> list[dict[str, Any]]:
        from cpragate.storage.audit_sink import SearchQuery

        sink = self._sink()
        try:
            subjects: tuple[str, ...] = ()
            if q.get("subject"):
                ps = self._pseudonym(sink, q["subject"])
                if ps is None:
                    return []
                subjects = (ps,)
            sq = SearchQuery(consumer=q.get("consumer"), route=q.get("route"), subjects=subjects,
                             decision=q.get("decision"), outcome=q.get("outcome"), since=q.get("since"),
                             until=q.get("until"), limit=int(q.get("limit") or 100))
            return [orjson.loads(b) for b in sink.search(sq)]
        finally:
            sink.close()

    def dsar(self, subject: str, since: float) -> dict[str, Any]:
        from cpragate.audit.dsar import dsar_report
        from cpragate.audit.events import iso
        from cpragate.storage.audit_sink import SearchQuery

        until = time.time()
        sink = self._sink()
        try:
            ps = self._pseudonym(sink, subject)
            events: list[dict[str, Any]] = []
            if ps is not None:
                q = SearchQuery(subjects=(ps,), since=since, until=until + 1, limit=1_000_000, newest_first=False)
                events = [orjson.loads(b) for b in sink.search(q)]
        finally:
            sink.close()
        return dsar_report(events, subject=subject, pseudonym=ps, since=iso(since), until=iso(until), generated=iso(until))


def _sources(gw: Gateway) -> Sources:
    from cpragate.filters.inventory.model import documented_from_routes

    def stores_attr(name: str) -> Any:
        return getattr(gw.stores, name, None) if gw.stores is not None else None

    def metrics() -> Any:
        f = gw.runtime.filters.get("metrics")
        return getattr(f, "metrics", None) or stores_attr("metrics")

    def inventory() -> Any:
        f = gw.runtime.filters.get("inventory")
        return getattr(f, "inventory", None) or stores_attr("inventory")

    def config_consumers() -> list[Any]:
        return list(gw.cfg.filters.authn.consumers)

    def config_keys() -> list[tuple[str, str, float | None]]:
        ak = gw.cfg.filters.authn.api_keys
        if ak is None:
            return []
        return [(k.consumer, k.prefix, k.expires.timestamp() if k.expires else None) for k in ak.keys]

    def audit_stats() -> dict[str, Any] | None:
        a = stores_attr("audit")
        st = getattr(a, "stats", None)
        return dict(st) if isinstance(st, dict) else None

    src = Sources(
        metrics=metrics,
        inventory=inventory,
        documented=lambda: documented_from_routes(gw.runtime.routes),
        alerts=lambda: stores_attr("alerts"),
        blocks=lambda: stores_attr("blocks"),
        identity=lambda: stores_attr("identity"),
        config_consumers=config_consumers,
        config_keys=config_keys,
        audit_stats=audit_stats,
        pii_engine=lambda: getattr(gw.runtime.filters.get("pii"), "engine", None),
    )
    ids = getattr(gw, "ids", None)
    if ids is not None:
        src.new_id = ids.next_id
    if getattr(gw.cfg.filters.audit, "enabled", False):

        async def audit_event(record: list[Any]) -> bool:
            trail = stores_attr("audit")  # the trail of the moment (None once closed at stop)
            # not from the reserve: that is kept for the data plane's completions
            return bool(trail is not None and await trail.event(record, reserve=False))

        def audit_lookup(value: str) -> str | None:
            trail = stores_attr("audit")
            return str(trail.lookup(value)) if trail is not None else None

        src.audit_event, src.audit_lookup = audit_event, audit_lookup
    audit_cfg = gw.cfg.filters.audit
    if getattr(audit_cfg, "enabled", False):
        from cpragate.server.gateway import state_dir

        access = AuditAccess(audit_cfg, state_dir(gw.cfg))

        async def search(q: dict[str, Any]) -> list[dict[str, Any]]:
            return await asyncio.to_thread(access.search, q)

        async def dsar(subject: str, since: float) -> dict[str, Any]:
            return await asyncio.to_thread(access.dsar, subject, since)

        src.audit_search, src.dsar = search, dsar
    src.extra_gauges = _gauges(gw, stores_attr)

    async def scraped() -> list[Gauge]:
        return [await _alert_gauge(gw), await _blocks_gauge(gw)]

    src.scrape_gauges = scraped
    return src


def _gauges(gw: Gateway, stores_attr: Any) -> list[Gauge]:
    def spool() -> dict[tuple[str, ...], float]:
        st = getattr(stores_attr("audit"), "stats", None)
        if not isinstance(st, dict):
            return {}
        return {("bytes",): float(st.get("spool_bytes", 0)), ("full",): 1.0 if st.get("spool_full") else 0.0}

    def inventory() -> dict[tuple[str, ...], float]:
        f = gw.runtime.filters.get("inventory")
        inv = getattr(f, "inventory", None)
        if inv is None:
            return {}
        from cpragate.filters.inventory.model import documented_from_routes

        summ = inv.snapshot(documented_from_routes(gw.runtime.routes))["summary"]
        return {(k,): float(summ[k]) for k in ("documented", "shadow", "zombie", "unused")}

    return [
        Gauge("cpragate_audit_spool", "The audit spool: bytes waiting to be shipped, and whether it is full (1).",
              ("measure",), spool),
        Gauge("cpragate_inventory_endpoints", "Endpoints in the inventory, by state.", ("state",), inventory),
    ]


async def _alert_gauge(gw: Gateway) -> Gauge:
    counts: dict[tuple[str, ...], float] = {}
    alerts = getattr(gw.stores, "alerts", None) if gw.stores is not None else None
    if alerts is not None:
        for a in await alerts.list(limit=10_000):
            k = (a.detector, a.severity, "yes" if a.acknowledged_by else "no")
            counts[k] = counts.get(k, 0) + 1
    g = Gauge("cpragate_alerts", "Alerts held by the alert store (newest 10,000), by detector, severity and acknowledged.",
              ("detector", "severity", "acknowledged"))
    g.values = counts
    return g


async def _blocks_gauge(gw: Gateway) -> Gauge:
    counts: dict[tuple[str, ...], float] = {}
    blocks = getattr(gw.stores, "blocks", None) if gw.stores is not None else None
    if blocks is not None:
        for b in await blocks.active(time.time()):
            k = (b.subject_kind, b.action)
            counts[k] = counts.get(k, 0) + 1
    g = Gauge("cpragate_blocks_active", "Active blocks and throttles, by subject kind and action.", ("kind", "action"))
    g.values = counts
    return g


@dataclass
class Request:
    """A parsed admin request head."""

    method: str
    path: str
    query: bytes
    headers: dict[bytes, bytes]
    keep_alive: bool
    body: bytes = b""


class AdminServer:
    """The admin listener of one gateway (see the module docstring)."""

    def __init__(self, gw: Gateway, cfg: AdminConfig, static: dict[str, tuple[bytes, bytes]] | None = None) -> None:
        self.gw = gw
        self.cfg = cfg
        self.static = load_static() if static is None else static
        metrics_open = cfg.metrics_auth == "loopback_open" and is_loopback_bind(cfg.bind)
        self.api = AdminApi(AdminAuth(cfg.keys), _sources(gw), metrics_open=metrics_open, max_rows=cfg.session_max_rows,
                            detokenize=cfg.detokenize)
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self.scheme = "https" if cfg.tls is not None else "http"
        self._conns: set[asyncio.Task[None]] = set()
        from cpragate.server.gateway import state_dir

        self.inventory_file = state_dir(gw.cfg) / INVENTORY_FILE
        self._saver: asyncio.Task[None] | None = None

    async def start(self) -> AdminServer:
        host, _, port = self.cfg.bind.rpartition(":")
        ctx = None
        if self.cfg.tls is not None:
            try:
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.minimum_version = ssl.TLSVersion.TLSv1_2
                ctx.load_cert_chain(self.cfg.tls.cert_file, self.cfg.tls.key_file)
            except (OSError, ssl.SSLError) as e:
                raise AdminConfigError(f"admin.tls cannot be loaded ({type(e).__name__}).",
                                       fix="Point admin.tls.cert_file and key_file at a readable PEM pair.") from None
        try:
            self.server = await asyncio.start_server(self._client, host.strip("[]"), int(port), ssl=ctx,
                                                     reuse_address=True, limit=MAX_HEAD)
        except OSError as e:
            raise ListenError(f"cannot listen on {self.cfg.bind} (admin): {e.strerror}.") from None
        self.port = self.server.sockets[0].getsockname()[1]
        if not self.static.get("/"):
            log.warning("the dashboard's files are missing (run `make demo` or `npm ci` in src/cpragate/admin/web)")
        elif not any(k.startswith("/static/vendor/") for k in self.static):
            log.warning("the dashboard's chart library is missing: run scripts/build-web (npm ci); charts are off")
        log.info("admin listener on %s://%s (dashboard at /)", self.scheme, self.cfg.bind)
        self.load_inventory()
        self._saver = asyncio.get_running_loop().create_task(self._save_every(SAVE_INTERVAL))
        return self

    # --- the inventory outlives a restart: saved in state_dir, loaded at start --------------
    def load_inventory(self) -> int:
        inv = self.api.src.inventory()
        if inv is None or not self.inventory_file.exists():
            return 0
        try:
            n: int = inv.load(orjson.loads(self.inventory_file.read_bytes()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("the saved inventory %s cannot be read (%s); starting a new one", self.inventory_file, type(e).__name__)
            return 0
        log.info("inventory: %d endpoints loaded from %s", n, self.inventory_file)
        return n

    def inventory_bytes(self) -> bytes | None:
        """The inventory's state as JSON, taken on the event loop: the loop records into it,
        and reading its totals settles the counts ``record`` left pending."""
        inv = self.api.src.inventory()
        return None if inv is None else orjson.dumps(inv.dump())

    def save_inventory(self, data: bytes | None = None) -> None:
        """Write ``data`` (default: :meth:`inventory_bytes` now) to the state file."""
        if data is None:
            data = self.inventory_bytes()
            if data is None:
                return
        tmp = self.inventory_file.with_suffix(".tmp")
        try:
            self.inventory_file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            tmp.replace(self.inventory_file)
        except OSError as e:
            log.warning("the inventory cannot be saved to %s (%s)", self.inventory_file, e.strerror)

    async def _save_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            data = self.inventory_bytes()  # on the loop; only the file write in a thread
            if data is not None:
                await asyncio.to_thread(self.save_inventory, data)

    @property
    def url(self) -> str:
        host = self.cfg.bind.rpartition(":")[0]
        return f"{self.scheme}://{host}:{self.port}/"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self._saver is not None:
            self._saver.cancel()
            await asyncio.gather(self._saver, return_exceptions=True)
            self.save_inventory()
        for t in list(self._conns):
            t.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._conns) >= MAX_CONNECTIONS:  # a few people and a Prometheus; never thousands
            writer.close()
            return
        if task is not None:
            self._conns.add(task)
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) else ""
        try:
            first = True
            while True:
                try:
                    req = await asyncio.wait_for(read_request(reader), HEADER_TIMEOUT if first else IDLE_TIMEOUT)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                except BadRequest as e:
                    await self._send(writer, e.response(), False)
                    return
                if req is None:
                    return
                first = False
                resp = await self._answer(req, client)
                await self._send(writer, resp, req.keep_alive, head=req.method == "HEAD")
                if not req.keep_alive:
                    return
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("admin connection failed")
        finally:
            if task is not None:
                self._conns.discard(task)
            writer.close()

    async def _answer(self, req: Request, client: str) -> AdminResponse:
        if req.path.startswith("/api/") or req.path == "/metrics":
            return await self.api.handle(req.method, req.path, req.query, req.headers, client, req.body)
        if req.method not in ("GET", "HEAD"):
            return AdminResponse(405, [(b"content-type", b"text/plain"), (b"allow", b"GET, HEAD")], b"method not allowed")
        path = "/" if req.path in ("/", "/index.html") else req.path
        hit = self.static.get(path)
        if hit is None:
            return AdminResponse(404, [(b"content-type", b"text/plain")], b"not found")
        ctype, body = hit
        cache = b"no-store" if path == "/" else b"private, max-age=300"
        return AdminResponse(200, [(b"content-type", ctype), (b"cache-control", cache)], body)

    async def _send(self, writer: asyncio.StreamWriter, resp: AdminResponse, keep_alive: bool, head: bool = False) -> None:
        reason = _REASONS.get(resp.status, b"Status")
        out = [b"HTTP/1.1 %d %s\r\n" % (resp.status, reason)]
        for n, v in [*resp.headers, *_SECURITY, (b"content-security-policy", CSP)]:
            out.append(n + b": " + v + b"\r\n")
        if self.scheme == "https":
            out.append(b"strict-transport-security: max-age=31536000\r\n")
        out.append(b"content-length: %d\r\n" % len(resp.body))
        out.append(b"connection: keep-alive\r\n" if keep_alive else b"connection: close\r\n")
        out.append(b"\r\n")
        if not head:
            out.append(resp.body)
        writer.write(b"".join(out))
        await writer.drain()


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """One request (head, and its body when ``Content-Length`` gives one) from ``reader``; None at a clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise BadRequest(431, b"request head too large") from None
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None
        raise
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0") or not parts[1].startswith(b"/"):
        raise BadRequest(400, b"bad request line")
    if len(lines) - 1 > MAX_HEADERS:
        raise BadRequest(431, b"too many headers")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or b"\n" in line:
            raise BadRequest(400, b"bad header")
        n = name.lower()
        if n in headers and n in (b"host", b"content-length", b"authorization"):
            raise BadRequest(400, b"duplicate header")
        headers[n] = value.strip()
    if b"transfer-encoding" in headers:
        raise BadRequest(501, b"chunked or encoded request bodies are not accepted: send Content-Length", body=True)
    cl = headers.get(b"content-length", b"0")
    if not cl.isdigit() or len(cl) > 12:
        raise BadRequest(400, b"Content-Length must be a decimal number", body=True)
    if int(cl) > MAX_BODY:
        raise BadRequest(413, b"request body too large: at most 65536 bytes", body=True)
    body = await reader.readexactly(int(cl)) if int(cl) else b""
    target = parts[1]
    path, _, query = target.partition(b"?")
    try:
        spath = path.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest(400, b"bad path") from None
    if "/../" in spath or spath.endswith("/..") or "\\" in spath:
        raise BadRequest(400, b"bad path")
    conn = headers.get(b"connection", b"").lower()
    keep = (parts[2] == b"HTTP/1.1" and conn != b"close") or conn == b"keep-alive"
    return Request(parts[0].decode("ascii", "replace"), spath, query, headers, keep, body)


class BadRequest(Exception):
    """A request refused before it reached the API (malformed, too large); answered and closed."""

    def __init__(self, status: int, msg: bytes, body: bool = False) -> None:
        super().__init__(msg.decode())
        self.status, self.msg = status, msg
        self.error = AdminBodyError if body else AdminError

    def response(self) -> AdminResponse:
        problem = {"type": "about:blank", "title": self.error.title, "status": self.status, "code": self.error.code,
                   "detail": self.msg.decode()}
        return AdminResponse(self.status, [(b"content-type", b"application/problem+json")], orjson.dumps(problem))


_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found",
            405: b"Method Not Allowed", 409: b"Conflict", 413: b"Content Too Large", 415: b"Unsupported Media Type",
            429: b"Too Many Requests", 431: b"Request Header Fields Too Large", 500: b"Internal Server Error",
            501: b"Not Implemented", 503: b"Service Unavailable"}


async def start_admin(gw: Gateway, static: dict[str, tuple[bytes, bytes]] | None = None) -> AdminServer | None:
    """Start the admin listener (and tracing) of ``gw`` when its config asks for them."""
    cfg = gw.cfg
    mcfg = cfg.filters.metrics
    if mcfg.enabled and mcfg.tracing.enabled:
        from cpragate.admin.tracing import start_tracing

        f = gw.runtime.filters.get("metrics")
        m = getattr(f, "metrics", None)
        if m is not None and m.tracer is None:
            try:
                m.tracer = start_tracing(mcfg.tracing)
            except ImportError:
                raise AdminConfigError("tracing is enabled but opentelemetry-sdk is not installed.",
                                       fix="pip install 'cpragate[tracing]', or set filters.metrics.tracing.enabled: false.") from None
    acfg = cfg.admin
    if acfg is None or not acfg.enabled:
        return None
    if gw.reuse_port:
        log.warning("the admin listener runs only with --workers 1 in this version; not started in this worker")
        return None
    return await AdminServer(gw, acfg, static).start()
