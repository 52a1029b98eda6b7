"""API9 improper inventory management: endpoints that answer but are not in the spec.

Probes (GET only, with the first identity's credential): common debug, admin,
framework and secret-file paths, and other versions of the documented paths (``/v1/x``
-> ``/v0/x``, ``/v2/x``). A path counts as served when it answers 2xx and its answer
differs from the answer to a random path (so a catch-all page is not a finding).
"""

from __future__ import annotations

import re

from cpragate.scanner import specutil
from cpragate.scanner.context import ScanContext
from cpragate.scanner.model import CheckGen, HttpRequest, HttpResponse, Severity

__all__ = ["COMMON_PATHS", "NAME", "run", "version_variants"]

NAME = "inventory"
OWASP = "API9:2023"
_SECRET_FILES = ("/.env", "/.git/config", "/actuator/env", "/actuator/heapdump", "/server-status", "/phpinfo.php",
                 "/debug/vars", "/debug/pprof/", "/.aws/credentials", "/config.json")  # fmt: skip
COMMON_PATHS: tuple[str, ...] = (
    *_SECRET_FILES,
    "/admin", "/admin/", "/debug", "/_debug", "/console", "/actuator", "/actuator/health", "/metrics", "/graphql",
    "/internal", "/api/internal", "/api/admin", "/swagger.json", "/openapi.json", "/api-docs", "/v2/api-docs",
    "/swagger-ui.html", "/api/debug", "/test", "/backup", "/status",
)  # fmt: skip
_VERSION = re.compile(r"/v(\d+)(?=/|$)")


def version_variants(path: str) -> list[str]:
    """Other API versions of a documented path (``/api/v1/x`` -> ``/api/v0/x``, ``/api/v2/x``)."""
    m = _VERSION.search(path)
    if not m:
        return []
    n = int(m.group(1))
    return [path[: m.start()] + f"/v{k}" + path[m.end() :] for k in (n - 1, n + 1, n + 2) if k >= 0 and k != n]


def _same(a: HttpResponse, b: HttpResponse) -> bool:
    return a.status == b.status and abs(len(a.body) - len(b.body)) < 16


def run(ctx: ScanContext) -> CheckGen:
    ident = ctx.identities[0] if ctx.identities else None

    def req_for(path: str) -> HttpRequest:
        r = HttpRequest("GET", ctx.url_path(path), headers={"Accept": "application/json"})
        if ident is not None:
            ident.credential.apply(r)
            r.identity = ident.name
        return r

    control = yield req_for("/" + specutil.marker())
    documented = set(ctx.spec.paths)
    candidates: list[tuple[str, str]] = []
    for path in ctx.spec.paths:
        if "{" in path:
            continue
        for v in version_variants(path):
            if v not in documented:
                candidates.append((v, "version"))
    candidates += [(p, "common") for p in COMMON_PATHS if p not in documented]
    seen: set[str] = set()
    for path, kind in candidates[:60]:
        if path in seen or ctx.spec.find("GET", path) is not None:
            continue
        seen.add(path)
        req = req_for(path)
        resp = yield req
        if not resp.granted or (control.ok and _same(resp, control)):
            continue
        if kind == "version":
            ctx.report(
                "undocumented-version", OWASP, 1059, Severity.MEDIUM, "An undocumented API version is served", None,
                f"{path} answers HTTP {resp.status} but is not in the spec: old versions keep old flaws and escape review.",
                "Retire old versions (410) or document and protect them like the current one; at the gateway: unrouted "
                "paths are refused by default.",
                [(req, resp)], key=path, operation=f"GET {path}", policy={"unrouted": path},
            )  # fmt: skip
        else:
            secret = path in _SECRET_FILES or bool(re.search(r"debug|env|console", path))
            ctx.report(
                "undocumented-endpoint", OWASP, 215 if secret else 1059, Severity.HIGH if secret else Severity.LOW,
                "A debug or configuration endpoint is exposed" if secret else "An undocumented endpoint is served", None,
                f"{path} answers HTTP {resp.status} but is not in the spec.",
                "Remove debug and configuration endpoints from production builds, or bind them to an internal port; at "
                "the gateway: unrouted paths are refused by default.",
                [(req, resp)], key=path, operation=f"GET {path}", policy={"unrouted": path},
            )  # fmt: skip
