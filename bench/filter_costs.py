"""Per-filter cost of the demo policy, in CPU-µs per request, without sockets.

Builds the demo policy's runtime exactly as the gateway does (its routes, its filter
instances, its stores), then drives one realistic exchange — ``GET /v1/customers/42``
as the ``support-app`` consumer, answered with a 1 KB customer record —
through each filter's request, response and complete phases, timing each filter on
its own (CPU time, best of several rounds), each phase as the pipeline runs it: the
filter's synchronous fast path, its coroutine only where that path declines (a column
says where). Before a filter's response phase, the whole request phase and the response
phases that precede it have run, so the body's one shared parse is counted once, in the
first filter that reads it; before the complete phase, the request and response phases. The response is, by default, the 1 KB customer bench/run.sh serves
(``--body demo``: the demo API's own answer). The data plane's own cost is the
passthrough row of bench/RESULTS.md; this file says where the rest goes.

    .venv/bin/python bench/filter_costs.py            # ~20 s
    .venv/bin/python bench/filter_costs.py --quick    # CI: a few hundred iterations
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter
from cpragate.core.messages import Headers, Response
from cpragate.core.verdict import CONTINUE
from cpragate.demo.api import DemoApi
from cpragate.demo.certs import ensure_dev_pki
from cpragate.demo.run import demo_config, policy_text
from cpragate.server.gateway import Runtime, open_default_stores
from cpragate.server.origin import OriginRequest
from cpragate.testing import make_request

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Skip, bench_rates, make_body  # bench/harness.py

DEMO_KEY = ""
for line in (Path(__file__).resolve().parents[1] / "src/cpragate/demo/policy.yaml").read_text().splitlines():
    if line.startswith("# bench-header: x-api-key:"):
        DEMO_KEY = line.split(":", 2)[2].strip()


def step(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a phase method that does not suspend (in-memory stores), like server/eager.py."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a phase suspended; this benchmark expects in-memory stores")


def request_now(f: Filter, ex: Exchange) -> Any:
    """A filter's request phase as the pipeline runs it: ``request_now`` when it has one and
    it decides, else the awaited ``on_request``."""
    v = f.request_now(ex) if type(f).implements("request_now") else None
    return step(f.on_request(ex)) if v is None else v


def response_now(f: Filter, ex: Exchange) -> Any:
    """A filter's response phase as the pipeline runs it (see ``request_now``)."""
    v = f.response_now(ex) if type(f).implements("response_now") else None
    return step(f.on_response(ex)) if v is None else v


def bench_policy() -> str:
    """The demo policy with its request rates raised out of reach (bench/harness.py
    DEMO_RATES): these benchmarks run one consumer's exchanges back to back, faster than
    10,000 a second on a fast machine, and a GCRA check costs the same at any rate."""
    try:
        return bench_rates(policy_text())
    except Skip as e:
        raise SystemExit(str(e)) from None


class DemoRoute:
    """The demo policy's runtime as the gateway builds it (its upstream never connected
    to), its route for ``GET /v1/customers/42`` and the demo API's answer to it: what the
    demo-policy benchmarks drive. ``await DemoRoute.open(prefix)``, ``close()`` after."""

    def __init__(self, state: Path, stores: Any, rt: Runtime) -> None:
        self.state, self.stores, self.rt = state, stores, rt
        match = rt.router.match("GET", "/v1/customers/42")
        assert match, "the demo policy routes /v1/customers/{id}"
        self.route = match.payload
        assert self.route.pipeline is not None
        self.chain: tuple[Filter, ...] = self.route.pipeline.filters
        self.params: dict[str, str] = dict(match.params)
        self.body: bytes = DemoApi()(OriginRequest(make_request("GET", "/v1/customers/42"))).body

    @classmethod
    async def open(cls, prefix: str) -> DemoRoute:
        state = Path(tempfile.mkdtemp(prefix=prefix))
        ensure_dev_pki(state)
        cfg = demo_config(state, "127.0.0.1:0", "https://127.0.0.1:9", text=bench_policy())  # never connected to
        stores = await open_default_stores(cfg)
        return cls(state, stores, Runtime(cfg, asyncio.get_running_loop(), stores))

    def exchange(self) -> Exchange:
        """A fresh exchange of the demo's ``support-app`` asking for customer 42."""
        req = make_request("GET", "/v1/customers/42", {"host": "localhost", "x-api-key": DEMO_KEY})
        return Exchange(req, "bench-1", "127.0.0.1", "127.0.0.1", "https", None, self.route, dict(self.params))

    def respond(self, ex: Exchange, body: bytes | None = None) -> None:
        """The upstream's JSON answer (the demo API's unless ``body``) on ``ex``."""
        ex.response = Response(200, Headers([(b"content-type", b"application/json")]), self.body if body is None else body)

    async def close(self) -> None:
        await self.stores.close()
        shutil.rmtree(self.state, ignore_errors=True)


class Phase:
    """One filter's phase run as the gateway's pipeline runs it (core/pipeline.py): its
    synchronous fast path (``request_now``/``response_now``/``complete_now``) when it has
    one, its coroutine only when that path declines; ``declined`` counts the latter."""

    def __init__(self, f: Filter, phase: str) -> None:
        cls = type(f)
        self.slow = getattr(f, f"on_{phase}")
        self.fast = getattr(f, f"{phase}_now") if cls.implements(f"{phase}_now") else None
        self.complete = phase == "complete"
        self.declined = 0
        self.calls = 0

    def share(self) -> str:
        return f"{100 * self.declined / max(self.calls, 1):.0f} %"

    def __call__(self, ex: Exchange) -> Any:
        self.calls += 1
        if self.fast is not None:
            v = self.fast(ex)
            if self.complete:
                if v:
                    return None
            elif v is not None:
                return v
            self.declined += 1
        return step(self.slow(ex))


def phase_cost(run: Phase, make: Callable[[], Exchange], n: int, rounds: int) -> float:
    """Best-of-rounds CPU-µs of one phase over fresh, prepared exchanges."""
    best = float("inf")
    for _ in range(rounds):
        batch = [make() for _ in range(n)]
        t = time.process_time()
        for ex in batch:
            run(ex)
        best = min(best, (time.process_time() - t) / n * 1e6)
    return best


async def main(quick: bool, body_kind: str) -> None:
    n, rounds = (200, 2) if quick else (3000, 5)
    demo = await DemoRoute.open("cpg-filtercost-")
    answer = demo.body  # the demo API's customer: the request-side bodies are made from it
    if body_kind == "bench":
        demo.body = make_body(1024)
    route, body, fresh, respond = demo.route, demo.body, demo.exchange, demo.respond

    # Warm up the whole chain once and check the exchange is served (not denied).
    ex = fresh()
    for f in route.pipeline.filters:
        v = Phase(f, "request")(ex) if type(f).implements("on_request") else CONTINUE
        assert v is CONTINUE, f"{f.name} refused the benchmark request: {v}"
    respond(ex)
    for _, f, _fast in route.pipeline.response_filters:
        v = Phase(f, "response")(ex)
        assert v is CONTINUE, f"{f.name} refused the benchmark response: {v}"

    rows: list[tuple[str, float, float, float, str]] = []
    chain = route.pipeline.filters
    # The response phase runs in this order; the filters before a filter have run (and the
    # first that reads the body has parsed it, once, for all: core/jsonbody.py).
    response_order = [f for _, f, _ in route.pipeline.response_filters]

    def requested() -> Exchange:
        """An exchange through the whole request phase (every filter), as the gateway has it
        when the response arrives."""
        ex = fresh()
        for g in chain:
            if type(g).implements("on_request"):
                v = Phase(g, "request")(ex)
                assert v is CONTINUE, f"{g.name} refused a benchmark request: {v}"
        return ex
    for f in chain:
        # Every filter sees an exchange prepared by the filters before it, as in the gateway.
        def prepare(upto: Filter = f) -> Exchange:
            ex = fresh()
            for g in chain:
                if g is upto:
                    break
                if type(g).implements("on_request"):
                    Phase(g, "request")(ex)
            return ex

        req_us = resp_us = done_us = 0.0
        declined: list[str] = []
        if type(f).implements("on_request"):
            run = Phase(f, "request")
            req_us = phase_cost(run, lambda p=prepare: p(), n, rounds)
            if run.declined:
                declined.append(f"request ({run.share()})")
        if type(f).implements("on_response"):

            def before_response(g: Filter = f) -> Exchange:
                ex = requested()
                respond(ex)
                for h in response_order:
                    if h is g:
                        break
                    Phase(h, "response")(ex)
                return ex

            run = Phase(f, "response")
            resp_us = phase_cost(run, before_response, n, rounds)
            if run.declined:
                declined.append(f"response ({run.share()})")
        if type(f).implements("on_complete"):

            def before_complete() -> Exchange:
                ex = requested()
                respond(ex)
                for h in response_order:
                    Phase(h, "response")(ex)
                ex.outcome = "served"
                return ex

            run = Phase(f, "complete")
            done_us = phase_cost(run, before_complete, n, rounds)
            if run.declined:
                declined.append(f"complete ({run.share()})")
        rows.append((f"{f.name} ({f.priority})", req_us, resp_us, done_us, ", ".join(declined)))

    total = sum(r + s + d for _, r, s, d, _ in rows)
    label = "the benchmark's body, bench/harness.py make_body" if body_kind == "bench" else "the demo API's answer"
    print(f"# per-filter CPU-µs per request, demo policy, GET /v1/customers/42 ({len(body)} B response: {label}), "
          f"best of {rounds} x {n}")
    print("| filter (priority) | request | response | complete | total | fast path declined in |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r, s, d, why in sorted(rows, key=lambda x: -(x[1] + x[2] + x[3])):
        print(f"| {name} | {r:.1f} | {s:.1f} | {d:.1f} | {r + s + d:.1f} | {why} |")
    print(f"| **all filters** | | | | **{total:.1f}** | |")
    print(f"response order: {', '.join(f.name for f in response_order)}")
    doc = orjson.loads(body)
    assert "ssn" in doc
    pii = next((f for f in chain if f.name == "pii"), None)
    if pii is not None:
        request_side(pii, route, dict(demo.params), answer, n, rounds)
    await demo.close()


def request_side(pii: Filter, route: Any, params: dict[str, str], record: bytes, n: int, rounds: int) -> None:
    """The pii filter's request phase (issue 5: annotate what clients send), per request body.

    The bodies are ~1 KB of JSON: two of the demo's customer records (~20 findings) and a
    catalogue order without personal data, sent as ``POST`` to the same personal route;
    plus a GET with a short query string and one without.
    """
    # ~1 KB each: two customer records; a catalogue order without personal data.
    second = orjson.loads(record)
    second["id"] = 43
    personal = orjson.dumps({"customers": [orjson.loads(record), second]})[:1100]
    items = [{"sku": f"MUG-{i}", "title": "Blue ceramic mug, 350 ml", "price": 12.5, "qty": 2} for i in range(40)]
    clean = orjson.dumps({"items": items})
    while len(clean) > 1024:
        items.pop()
        clean = orjson.dumps({"items": items})
    orjson.loads(personal)  # still whole JSON
    cases = [
        (f"POST, {len(personal)} B JSON body, two customer records", "POST", "/v1/customers/42", personal),
        (f"POST, {len(clean)} B JSON body, no personal data", "POST", "/v1/customers/42", clean),
        ("GET with ?email=…&page=2", "GET", "/v1/customers/42?email=jane.roe%40example.com&page=2", None),
        ("GET, no query, no body", "GET", "/v1/customers/42", None),
    ]
    print()
    print(f"# pii filter, request phase (annotate), CPU-µs per request, best of {rounds} x {n}")
    print("| request | CPU-µs | CPU-µs per KB of body |")
    print("|---|---:|---:|")
    for label, method, target, body in cases:

        def make(m: str = method, t: str = target, b: bytes | None = body) -> Exchange:
            hs = {"host": "localhost", "content-type": "application/json"}
            return Exchange(make_request(m, t, hs, b), "bench-1", "127.0.0.1", "127.0.0.1", "https", None, route, dict(params))

        us = phase_cost(Phase(pii, "request"), make, n, rounds)
        per_kb = f"{us / (len(body) / 1024):.1f}" if body else "—"
        print(f"| {label} | {us:.1f} | {per_kb} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few hundred iterations (CI)")
    ap.add_argument("--body", choices=("bench", "demo"), default="bench",
                    help="the response: bench/run.sh's 1 KB customer (default) or the demo API's answer")
    args = ap.parse_args()
    sys.exit(asyncio.run(main(args.quick, args.body)))
