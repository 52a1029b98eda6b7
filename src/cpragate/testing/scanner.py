"""Fakes for testing scanner checks without a network: a target that answers probes from
a Python function, unsigned JWTs, and contexts with identities.

    ctx = make_ctx(spec, f"alice={jwt('alice')}", f"bob={jwt('bob')}")
    run_check(bola.run, ctx, FakeTarget(lambda req: ok({"id": 1})))
    assert {f.check for f in ctx.findings} == {...}
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cpragate.openapi import Spec
from cpragate.scanner.context import ScanContext, ScanOptions, parse_identity
from cpragate.scanner.model import HttpRequest, HttpResponse
from cpragate.scanner.runner import drive

__all__ = ["FakeTarget", "bearer_user", "jwt", "make_ctx", "ok", "run_check"]


def b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def jwt(sub: str, *, exp: int | None = 4102444800, sig: str = "c2ln") -> str:
    claims: dict[str, Any] = {"sub": sub}
    if exp is not None:
        claims["exp"] = exp
    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}.{sig}"


Handler = Callable[[HttpRequest], HttpResponse]


def ok(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json", **(headers or {})}, json.dumps(doc).encode())


class FakeTarget:
    """Answers probes with ``handler``; records what was sent."""

    def __init__(self, handler: Handler, tls: dict[str, bool] | None = None) -> None:
        self.handler = handler
        self.sent: list[HttpRequest] = []
        self.tls = tls or {}

    def send(self, req: HttpRequest) -> HttpResponse:
        self.sent.append(req)
        return self.handler(req)

    def send_many(self, reqs: tuple[HttpRequest, ...], concurrency: int) -> list[HttpResponse]:
        return [self.send(r) for r in reqs]

    def tls_probe(self, max_version: str) -> bool | None:
        return self.tls.get(max_version, False)


def bearer_user(req: HttpRequest) -> str | None:
    auth = req.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return None
    parts = auth[7:].split(".")
    if len(parts) != 3:
        return None
    try:
        return str(json.loads(base64.urlsafe_b64decode(parts[1] + "==")).get("sub"))
    except ValueError:
        return None


def make_ctx(spec: Spec, *auth: str, **options: Any) -> ScanContext:
    idents = [parse_identity(spec, a, lambda p: Path(p).read_text()) for a in auth]
    return ScanContext(spec, idents, options=ScanOptions(**options))


def run_check(check: Callable[[ScanContext], Any], ctx: ScanContext, target: FakeTarget, canary: Any = None) -> None:
    drive(check(ctx), target, canary)
