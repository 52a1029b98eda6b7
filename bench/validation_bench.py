"""CPU cost of request validation + response conformance + minimization, over passthrough.

    .venv/bin/python bench/validation_bench.py            # full run, prints a Markdown table
    .venv/bin/python bench/validation_bench.py --quick    # a few seconds (scripts/test)
    .venv/bin/python bench/validation_bench.py --against e7b6a6e --rounds 3   # before/after, same run

What is measured: the gateway's filter pipeline of one route, in process (no sockets),
driven like the data plane drives it (request phase, then response phase on the
upstream's buffered response), with fresh Request/Response/Exchange objects per
iteration. CPU time (``time.process_time_ns``) per request of a route with the
validation (850), conformance (200) and minimize (400) filters, minus the same for a
route with no filters (passthrough), measured interleaved; median of repeats, and the
difference of the best repeats (the 2-core machine is shared: the best is the least
disturbed). ``--against REV`` runs REV's ``src/`` (``git archive``) and this tree's in
alternating subprocesses and prints before/after with ratios. Parsing is included: the
request and the response body are each parsed once (core.jsonbody) and shared.

Scenarios (the route is PUT /customers/{id}, or POST /customers/batch for 64 KB):

* ``1 KB``: a 1 KB JSON customer in the request (validated: parameters, limits, schema,
  mass assignment) and a 1 KB JSON customer in the response that conforms (nothing to
  remove), minimized by a purpose deny-list (removes ``ssn``).
* ``1 KB + exposure``: the response also carries two fields the spec does not declare
  (``password_hash``, ``internal_risk_score``) that conformance removes.
* ``64 KB``: 64 KB request and response bodies (a list of customers), same checks.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from cpragate.config import load_config_text
from cpragate.core.access import Identity
from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterContext
from cpragate.core.messages import Headers, Request, Response
from cpragate.core.pipeline import Pipeline
from cpragate.core.registry import builtin_filters
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE

SPEC = """
openapi: 3.1.0
info: {title: bench, version: "1"}
paths:
  /customers/{id}:
    put:
      operationId: putCustomer
      parameters: [{name: id, in: path, required: true, schema: {type: integer, minimum: 1}}]
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/Customer"}}}
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Customer"}}}}
  /customers/batch:
    post:
      operationId: putCustomers
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/Batch"}}}
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Batch"}}}}
components:
  schemas:
    Batch:
      type: object
      properties:
        items: {type: array, items: {$ref: "#/components/schemas/Customer"}}
    Address:
      type: object
      properties:
        street: {type: string}
        city: {type: string}
        state: {type: string, maxLength: 2}
        zip: {type: string, pattern: "^[0-9]{5}$"}
    Order:
      type: object
      required: [id, status]
      properties:
        id: {type: integer}
        status: {type: string, enum: [placed, shipped, delivered, returned]}
        total: {type: number}
        placed_at: {type: string}
    Customer:
      type: object
      required: [id, name, email]
      properties:
        id: {type: integer, readOnly: true}
        tenant_id: {type: string}
        name: {type: string, maxLength: 200}
        email: {type: string, format: email}
        phone: {type: string}
        ssn: {type: string}
        date_of_birth: {type: string, format: date}
        address: {$ref: "#/components/schemas/Address"}
        card_number: {type: string}
        marketing_opt_in: {type: boolean}
        notes: {type: string, maxLength: 2000}
        orders: {type: array, items: {$ref: "#/components/schemas/Order"}}
"""

POLICY = """
listeners: [{bind: "127.0.0.1:0"}]
upstreams: {api: {url: "http://127.0.0.1:9", allow_plaintext: true}}
routes:
  - from_openapi: SPEC
    upstream: api
    minimize:
      rules:
        - purposes: [service_provider]
          response: {deny: [ssn, "items[*].ssn"]}
"""


def customer(i: int) -> dict[str, Any]:
    return {
        "tenant_id": "t1",
        "name": f"Jane Example {i}",
        "email": f"jane.example{i}@example.com",
        "phone": "(415) 555-0100",
        "ssn": "536-22-8741",
        "date_of_birth": "1980-02-03",
        "address": {"street": "1 Main Street", "city": "Fresno", "state": "CA", "zip": "93650"},
        "card_number": "4111111111111111",
        "marketing_opt_in": True,
        "notes": "Prefers e-mail. Called about an order on Monday and asked for a refund. " * 4,
        "orders": [
            {"id": 10_000 + i * 10 + k, "status": "shipped", "total": 19.99 + k, "placed_at": "2026-01-02T03:04:05Z"}
            for k in range(4)
        ],
    }


def bodies() -> dict[str, tuple[str, str, bytes, bytes]]:
    one = customer(1)
    req_1k = orjson.dumps(one)
    resp_1k = orjson.dumps({"id": 42, **one})
    exposed = orjson.dumps({"id": 42, **one, "password_hash": "$2b$12$" + "x" * 53, "internal_risk_score": 17})
    n = 1
    while len(orjson.dumps({"items": [customer(i) for i in range(n)]})) < 64 * 1024:
        n += 1
    req_64k = orjson.dumps({"items": [customer(i) for i in range(n)]})
    resp_64k = orjson.dumps({"items": [{"id": i + 1, **customer(i)} for i in range(n)]})
    return {
        "1 KB": ("PUT", "/customers/42", req_1k, resp_1k),
        "1 KB + exposure": ("PUT", "/customers/42", req_1k, exposed),
        "64 KB": ("POST", "/customers/batch", req_64k, resp_64k),
    }


def routes(spec_path: Path) -> tuple[dict[str, RouteInfo], RouteInfo]:
    cfg = load_config_text(POLICY.replace("SPEC", str(spec_path)), "bench.yaml")
    ctx = FilterContext()
    wanted = ("validation", "conformance", "minimize")
    classes = builtin_filters()
    filters: list[Filter] = [classes[n](getattr(cfg.filters, n), ctx) for n in wanted]
    out = {}
    for r in cfg.routes:
        info = RouteInfo(r.name or r.path, r.path, tuple(r.methods), r.upstream, settings=r)
        info.pipeline = Pipeline([f for f in filters if f.applies_to(info)])
        assert info.pipeline.names == ["validation", "minimize", "conformance"], info.pipeline.names
        out[r.methods[0]] = info
    plain = RouteInfo("plain", "/x", ("PUT",), "api", pipeline=Pipeline([]))
    return out, plain


IDENTITY = Identity(consumer="billing", purpose="service_provider", method="api_key", credential_id="k_bench")
REQ_HEADERS = [(b"host", b"api"), (b"content-type", b"application/json"), (b"accept", b"*/*")]
RESP_HEADERS = [(b"content-type", b"application/json"), (b"server", b"origin")]


def drive(coro: Any) -> Any:
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("a filter suspended")


def one(route: RouteInfo, method: str, path: str, req_body: bytes, resp_body: bytes) -> Exchange:
    req = Request(method, path.encode(), path, b"", Headers._from_lowered(list(REQ_HEADERS)), req_body)
    ex = Exchange(req, "r1", route=route, params={"id": "42"} if "{id}" in route.template else {})
    ex.identity = IDENTITY
    pipe = route.pipeline
    assert pipe is not None
    v = drive(pipe.run_request(ex))
    assert v is CONTINUE, (v, ex.validation)
    ex.response = Response(200, Headers._from_lowered(list(RESP_HEADERS)), resp_body)
    v = drive(pipe.run_response(ex))
    assert v is CONTINUE, v
    return ex


def measure(base: Any, full: Any, n: int, repeats: int) -> tuple[list[float], list[float]]:
    """CPU-µs per call of ``base`` and ``full``, ``repeats`` runs of ``n`` calls each,
    interleaved (base, full, base, full...) so both see the same machine load."""
    base()
    full()
    runs: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in ((base, runs[0]), (full, runs[1])):
            t0 = time.process_time_ns()
            for _ in range(n):
                fn()
            out.append((time.process_time_ns() - t0) / n / 1000)
    return runs


def run(quick: bool) -> dict[str, dict[str, Any]]:
    """scenario -> sizes, passthrough and with-filters CPU-µs (median and best of the repeats)."""
    n1, n64, repeats = (300, 10, 3) if quick else (4000, 150, 9)
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "bench-openapi.yaml"
        spec.write_text(SPEC)
        by_method, plain = routes(spec)
        for label, (method, path, req, resp) in bodies().items():
            route = by_method[method]
            n = n64 if "64" in label else n1
            ex = one(route, method, path, req, resp)  # sanity: what the filters did
            assert ex.minimize is not None and ex.minimize.response_removed, "minimization removed nothing"
            if "exposure" in label:
                assert ex.conformance is not None and ex.conformance.outcome == "removed"
            base_runs, full_runs = measure(
                functools.partial(one, plain, method, path, req, resp),
                functools.partial(one, route, method, path, req, resp),
                n,
                repeats,
            )
            base, full = statistics.median(base_runs), statistics.median(full_runs)
            out[label] = {
                "request_bytes": len(req),
                "response_bytes": len(resp),
                "base": base,
                "full": full,
                "added": full - base,
                "added_best": min(full_runs) - min(base_runs),
            }
    return out


def against(rev: str, rounds: int, quick: bool) -> int:
    """Before/after in one run: ``rev``'s src/ (git archive) and this tree's, alternated."""
    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--json"] + (["--quick"] if quick else [])
    results: dict[str, list[dict[str, dict[str, Any]]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "src"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        sources = {"before": str(Path(tmp) / "src"), "after": str(repo / "src")}
        for _ in range(rounds):
            for who, src in sources.items():
                env = {**os.environ, "PYTHONPATH": src}
                done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                results[who].append(json.loads(done.stdout))
    print(f"Before: {rev}; after: this tree. {rounds} alternating rounds; best of the rounds' medians "
          "(and the best single repeat).")
    print()
    print("| scenario | before added CPU-µs | after added CPU-µs | after/before | best repeat before | best repeat after |")
    print("|---|---:|---:|---:|---:|---:|")
    for label in results["after"][0]:
        b = min(r[label]["added"] for r in results["before"])
        a = min(r[label]["added"] for r in results["after"])
        bb = min(r[label]["added_best"] for r in results["before"])
        ab = min(r[label]["added_best"] for r in results["after"])
        print(f"| {label} | {b:.1f} | **{a:.1f}** | {a / b:.2f} | {bb:.1f} | {ab:.1f} |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="a few seconds: fewer iterations (no thresholds)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--against", metavar="REV", help="before/after: REV's src/ against this tree's, alternated")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds for --against (default 3)")
    args = ap.parse_args()
    if args.against:
        return against(args.against, args.rounds, args.quick)
    rows = run(args.quick)
    if args.json:
        print(json.dumps(rows))
        return 0
    print("| scenario | request bytes | response bytes | passthrough CPU-µs | with filters CPU-µs "
          "| added CPU-µs (median) | added CPU-µs (best) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, r in rows.items():
        print(f"| {label} | {r['request_bytes']:,} | {r['response_bytes']:,} | {r['base']:.1f} | {r['full']:.1f} "
              f"| **{r['added']:.1f}** | {r['added_best']:.1f} |")
    best_1k, median_1k = rows["1 KB"]["added_best"], rows["1 KB"]["added"]
    print(f"\n1 KB target (<= 20 CPU-µs added, best repeat: the machine is shared): "
          f"{'met' if best_1k <= 20 else 'missed'} ({best_1k:.1f} best, {median_1k:.1f} median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
