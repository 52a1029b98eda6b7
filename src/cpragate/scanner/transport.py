"""The scanner's only way out: one HTTP client to one target, with the safety rules.

Rules (enforced here, whatever a check asks for):

* only the target's host, over http or https -- any other host is refused unsent;
* DELETE, PUT and PATCH are refused unless ``unsafe_methods`` (checks also skip
  destructive-looking POSTs; this is the backstop);
* at most ``rate`` requests per second (a burst flagged ``burst=True`` is exempt from the
  pacing, never from the budget); at most ``max_requests`` in total;
* a 429 is honoured once: wait ``Retry-After`` (at most 2 s) and resend;
* answers are read up to ``max_body`` bytes; redirects are not followed.
"""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from urllib.parse import urlsplit

import httpx

from cpragate.errors import ScanTargetError
from cpragate.scanner.model import HttpRequest, HttpResponse

__all__ = ["Transport"]

_UNSAFE = frozenset({"DELETE", "PUT", "PATCH"})


class Transport:
    def __init__(self, target: str, *, rate: float = 20.0, max_requests: int = 2000, unsafe_methods: bool = False,
                 verify: bool | str = True, timeout: float = 10.0, max_body: int = 1 << 20) -> None:  # fmt: skip
        u = urlsplit(target)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ScanTargetError(f"--target {target!r} is not an http(s) URL with a host.")
        self.target = target.rstrip("/")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.origin = f"{u.scheme}://{u.netloc}"
        self.rate = rate
        self.max_requests = max_requests
        self.unsafe_methods = unsafe_methods
        self.verify = verify
        self.timeout = timeout
        self.max_body = max_body
        self.sent = 0
        self.refused = 0
        self._next = 0.0
        ctx: ssl.SSLContext | bool
        if verify is False:
            ctx = False
        else:
            ctx = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
        self._client = httpx.Client(verify=ctx, timeout=timeout, follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ http
    def url_for(self, req: HttpRequest) -> str:
        return req.url if req.url else self.origin + req.path

    def check(self, req: HttpRequest) -> str | None:
        """Why ``req`` may not be sent, or None."""
        u = urlsplit(self.url_for(req))
        if u.scheme not in ("http", "https") or u.hostname != self.host:
            return f"refused: {u.hostname!r} is not the target host"
        if req.method.upper() in _UNSAFE and not self.unsafe_methods:
            return f"refused: {req.method} needs --unsafe-methods"
        if self.sent >= self.max_requests:
            return f"refused: the request budget ({self.max_requests}) is spent"
        return None

    def send(self, req: HttpRequest) -> HttpResponse:
        why = self.check(req)
        if why is not None:
            self.refused += 1
            return HttpResponse(0, error=why)
        resp = self._send(req)
        if resp.status == 429 and not req.burst and self.sent < self.max_requests:
            try:
                wait = float(resp.header("retry-after") or 1)
            except ValueError:
                wait = 1.0
            time.sleep(min(max(wait, 0.1), 2.0))
            resp = self._send(req)
        return resp

    def send_many(self, reqs: tuple[HttpRequest, ...], concurrency: int = 8) -> list[HttpResponse]:
        """A bounded burst: ``reqs`` sent ``concurrency`` at a time without pacing (budget and
        safety rules still apply; no 429 retry -- a 429 is the answer the burst looks for)."""
        from concurrent.futures import ThreadPoolExecutor

        allowed: list[HttpRequest] = []
        answers: list[HttpResponse | None] = []
        for req in reqs:
            why = self.check(req)
            if why is None and self.sent + len(allowed) < self.max_requests:
                allowed.append(req)
                answers.append(None)
            else:
                self.refused += 1
                answers.append(HttpResponse(0, error=why or "refused: the request budget is spent"))
        for req in allowed:
            req.burst = True
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, 16)), thread_name_prefix="cpragate-scan-burst") as pool:
            done = iter(pool.map(self._send, allowed))
        return [a if a is not None else next(done) for a in answers]

    def _pace(self, burst: bool) -> None:
        if burst or self.rate <= 0:
            return
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
            now = self._next
        self._next = now + 1.0 / self.rate

    def _send(self, req: HttpRequest) -> HttpResponse:
        self._pace(req.burst)
        self.sent += 1
        url = self.url_for(req)
        started = time.monotonic()
        try:
            with self._client.stream(req.method, url, params=list(req.query) or None, headers=req.headers,
                                     content=req.content()) as r:  # fmt: skip
                chunks: list[bytes] = []
                size = 0
                for chunk in r.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= self.max_body:
                        break
                headers: dict[str, str] = {}
                for k, v in r.headers.multi_items():
                    k = k.lower()
                    headers[k] = f"{headers[k]}, {v}" if k in headers else v
                return HttpResponse(r.status_code, headers, b"".join(chunks)[: self.max_body], elapsed=time.monotonic() - started)
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, ValueError, OSError) as exc:
            return HttpResponse(0, error=f"{type(exc).__name__}: {exc}"[:200], elapsed=time.monotonic() - started)

    def preflight(self) -> None:
        """One request to the target's root; raises ScanTargetError when nothing answers."""
        resp = self._send(HttpRequest("GET", urlsplit(self.target).path or "/"))
        if resp.status == 0:
            raise ScanTargetError(f"{self.target} does not answer ({resp.error}).")

    # ------------------------------------------------------------------ tls
    def tls_probe(self, max_version: str) -> bool | None:
        """Whether the target completes a handshake capped at ``max_version``; None if not TLS."""
        if self.scheme != "https":
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with warnings.catch_warnings():  # offering deprecated versions is the point of this probe
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.set_ciphers("ALL:@SECLEVEL=0")
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = getattr(ssl.TLSVersion, max_version.replace(".", "_"))
        except (ValueError, ssl.SSLError, AttributeError):
            return False
        try:
            with socket.create_connection((self.host, self.port), timeout=3) as raw, ctx.wrap_socket(raw, server_hostname=self.host) as tls:
                return tls.version() in ("TLSv1", "TLSv1.1")
        except (OSError, ssl.SSLError):
            return False
