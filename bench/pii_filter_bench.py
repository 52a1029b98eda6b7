"""CPU cost the pii filter adds to one response in the gateway.

Usage::

    python bench/pii_filter_bench.py            # ~30 s
    python bench/pii_filter_bench.py --quick

Calls ``PiiFilter.on_response`` (default config: mask SPI on a ``personal: true`` route)
in a loop on realistic response bodies and reports CPU-µs per response and per KB, after
subtracting the loop's own cost (building the Response and Exchange each time, driving
the coroutine). Payloads:

* ``demo 1 KB`` -- the demo API's ``GET /v1/customers?limit=2``: two customer records
  (name, e-mail, phone, SSN, date of birth, address, card, location), 1,061 bytes.
* ``demo order`` -- one order (address only, no SPI), 270 bytes.
* ``no PII 1 KB`` -- a catalogue page with ids, prices and timestamps only.
* ``dense 1 KB`` -- the evaluation corpus' ~1 KB documents (bench/pii_corpus.py, eval
  seed): about 17 PII values per KB, far denser than real API traffic.

The coroutine is driven with ``send(None)`` (it never awaits), so no event loop time is
counted; the server's own cost per request is in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pii_corpus import EVAL_SEED, generate
from pii_eval import speed_docs

from cpragate.core.clock import FakeClock
from cpragate.core.filter import FilterContext
from cpragate.core.route import RouteInfo
from cpragate.demo.data import generate as demo_data
from cpragate.filters.pii import PiiFilter, PiiFilterConfig
from cpragate.testing import make_exchange, make_response


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("on_response awaited something")


def payloads() -> dict[str, list[bytes]]:
    d = demo_data()
    customers = [
        orjson.dumps({"items": d.customers[i : i + 2], "total": len(d.customers), "limit": 2, "offset": i})
        for i in range(0, 40, 2)
    ]
    orders = [orjson.dumps(o) for o in d.orders[:20]]
    catalogue = [
        orjson.dumps(
            {
                "items": [
                    {"sku": f"SKU-{i:04d}-{j}", "id": f"6f1c2a9e-51b4-4c8e-9d1a-{i:06d}{j:06d}", "price": 19.99 + j,
                     "stock": 17 * j, "updated_at": "2025-07-16T00:48:30.281409Z", "title": "Stainless steel bottle"}
                    for j in range(6)
                ],
                "page": i,
            }
        )
        for i in range(20)
    ]
    dense = speed_docs(generate(EVAL_SEED, 600), 1024)[:100]
    return {"demo 1 KB": customers, "demo order": orders, "no PII 1 KB": catalogue, "dense 1 KB": dense}


def cpu_per_call(fn: Callable[[bytes], Any], bodies: list[bytes], min_time: float, repeat: int) -> float:
    """Best of ``repeat`` runs: CPU seconds per call (noise only ever adds time)."""
    best = float("inf")
    for _ in range(repeat):
        n = 0
        start = time.process_time()
        while True:
            for b in bodies:
                fn(b)
            n += len(bodies)
            el = time.process_time() - start
            if el >= min_time:
                break
        best = min(best, el / n)
    return best


def runners() -> tuple[Callable[[bytes], None], Callable[[bytes], None]]:
    """(with the pii filter's response phase, without it) on the demo's customer route:
    the difference of their CPU per call is the filter's cost per response."""
    f = PiiFilter(PiiFilterConfig(), FilterContext(clock=FakeClock()))
    route = RouteInfo("get-customer", "/v1/customers", ("GET",), "demo-api", personal=True)
    headers = [("content-type", "application/json")]

    def with_filter(body: bytes) -> None:
        ex = make_exchange(route=route)
        ex.response = make_response(200, headers, body)
        drive(f.on_response(ex))

    async def nothing(ex: Any) -> None:
        return None

    def baseline(body: bytes) -> None:
        ex = make_exchange(route=route)
        ex.response = make_response(200, headers, body)
        drive(nothing(ex))

    return with_filter, baseline


def main() -> None:
    ap = argparse.ArgumentParser(description="CPU cost of the pii filter per response")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    min_time, repeat = (0.2, 2) if a.quick else (1.0, 5)
    with_filter, baseline = runners()

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}, Python {platform.python_version()}, command: `python bench/pii_filter_bench.py{' --quick' if a.quick else ''}`")
    print("\n| payload | bodies | avg bytes | CPU-µs per response | CPU-µs per KB |")
    print("|---|---|---|---|---|")
    for label, bodies in payloads().items():
        with_f = cpu_per_call(with_filter, bodies, min_time, repeat)
        base = cpu_per_call(baseline, bodies, min_time, repeat)
        avg = sum(map(len, bodies)) / len(bodies)
        added = (with_f - base) * 1e6
        print(f"| {label} | {len(bodies)} | {avg:.0f} | {added:.1f} | {added / (avg / 1024):.1f} |")


if __name__ == "__main__":
    main()
