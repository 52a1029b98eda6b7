"""Instructions per call of each complete-phase filter of the demo policy, by callgrind.

The complete phase (core/pipeline.py ``run_complete``) runs after the response was sent;
bench/instr.py counts it inside the whole request. This isolates each filter's
``on_complete``: the demo policy's runtime is built as the gateway builds it, one
``GET /v1/customers/42`` as ``support-app`` goes through the request and response phases
(so the exchange carries the pii filter's counts and the audit trail's subjects, as under
``cpragate run``), then one filter's complete phase runs N times on it (its ``complete_now``
when it has one, ``on_complete`` when that returns False or is missing, as the pipeline does; the same
consumer asking again and again, as in bench/instr.py, on a clock that moves 0.2 s per
reading so windows roll and no alert fires). Each row runs twice under
``valgrind --tool=callgrind`` (N and 2N calls); the difference divided by N is the
per-call count, so set-up and imports cancel.

    .venv/bin/python bench/complete_instr.py                     # every complete filter
    .venv/bin/python bench/complete_instr.py --filters anomaly metrics --n 2000
    .venv/bin/python bench/complete_instr.py --baseline /tmp/base/src   # also another src/ tree
    .venv/bin/python bench/complete_instr.py --inner anomaly N   # (used by itself under valgrind)

A row ``request:NAME`` counts a filter's request phase the same way (its ``request_now``
when it has one, else ``on_request``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("INSTR_SRC") or str(ROOT / "src"))

DEFAULT = ["audit", "anomaly", "inventory", "metrics", "request:anomaly"]

from filter_costs import step  # noqa: E402  (after the sys.path line above: the measured src)


async def drive(row: str, n: int) -> None:
    from cpragate.core.exchange import Exchange
    from cpragate.core.messages import Headers, Response
    from cpragate.core.verdict import CONTINUE
    from cpragate.demo.api import DemoApi
    from cpragate.demo.run import demo_config
    from cpragate.server.gateway import Runtime, open_default_stores
    from cpragate.server.origin import OriginRequest
    from cpragate.testing import make_request

    key = ""
    for line in (ROOT / "src/cpragate/demo/policy.yaml").read_text().splitlines():
        if line.startswith("# bench-header: x-api-key:"):
            key = line.split(":", 2)[2].strip()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        # The demo certificates come from another process: key generation is randomized and
        # its instruction count varies by millions between the N and the 2N run.
        subprocess.run([sys.executable, "-m", "cpragate", "demo", "--prepare-only", "--state-dir", str(state)],
                       check=True, capture_output=True)  # fmt: skip
        cfg = demo_config(state, "127.0.0.1:0", "https://127.0.0.1:9")  # never connected to
        stores = await open_default_stores(cfg)
        loop = asyncio.get_running_loop()
        # Time moves 0.2 s per reading (a C callable, like time.time itself), set before the
        # filters are built (they may keep time.time itself: core/clock.py readers): the
        # detectors' windows roll as in real traffic and no alert fires (one consumer a few
        # times a second stays under every floor), so the N and 2N runs do the same work per call.
        time.time = itertools.count(time.time(), 0.2).__next__
        time.monotonic = itertools.count(time.monotonic(), 0.2).__next__
        rt = Runtime(cfg, loop, stores)
        match = rt.router.match("GET", "/v1/customers/42")
        assert match, "the demo policy routes /v1/customers/{id}"
        route = match.payload
        pipe = route.pipeline
        assert pipe is not None
        body = DemoApi()(OriginRequest(make_request("GET", "/v1/customers/42"))).body
        req = make_request("GET", "/v1/customers/42", {"host": "localhost", "x-api-key": key})
        ex = Exchange(req, "bench-1", "127.0.0.1", "127.0.0.1", "https", None, route, dict(match.params), loop.time())
        v = await pipe.run_request(ex)
        assert v is CONTINUE, f"the benchmark request was refused: {v}"
        ex.response = Response(200, Headers([(b"content-type", b"application/json")]), body)
        v = await pipe.run_response(ex)
        assert v is CONTINUE, f"the benchmark response was refused: {v}"
        ex.outcome = "served"
        ex.bytes_out = len(ex.response.body or b"")
        await pipe.run_complete(ex)  # audit's subjects, warm state
        # The gateway's start-up heap is frozen, so the garbage collector's full passes do not
        # walk it: whether one lands in the N or the 2N run moved a row by tens of thousands
        # of instructions per call. The collections the filter's own garbage triggers remain.
        gc.collect()
        gc.freeze()
        phase, _, name = row.rpartition(":")
        f = next(f for f in pipe.filters if f.name == name)
        if phase == "request":
            now = getattr(f, "request_now", None)
            if now is not None and type(f).implements("request_now"):
                for _ in range(n):
                    now(ex)
            else:
                for _ in range(n):
                    step(f.on_request(ex))
        elif type(f).implements("complete_now"):  # as the pipeline runs it: synchronously when it can
            done = f.complete_now
            for _ in range(n):
                if not done(ex):
                    step(f.on_complete(ex))
        else:
            for _ in range(n):
                step(f.on_complete(ex))
        await stores.close()


def count(row: str, n: int, src: str | None = None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        r = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__, "--inner", row, str(n)],
            capture_output=True, text=True,
            env={**os.environ, "PYTHONHASHSEED": "0", "INSTR_SRC": src or ""},
        )  # fmt: skip
        if r.returncode != 0:
            tail = "\n".join([ln for ln in r.stderr.splitlines() if not ln.startswith("==")][-15:])
            raise SystemExit(f"{row}: the inner run failed (exit {r.returncode}):\n{tail}")
        m = re.search(rb"^(?:summary|totals):\s*(\d+)", out.read_bytes(), re.M)
        assert m is not None
        return int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--filters", nargs="*", default=DEFAULT, help="filter names; request:NAME for a request phase")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--inner", nargs=2, metavar=("ROW", "N"))
    ap.add_argument("--baseline", metavar="SRC", help="also count another src/ tree and print the ratio")
    args = ap.parse_args()
    if args.inner:
        import uvloop

        uvloop.run(drive(args.inner[0], int(args.inner[1])))
        return 0
    for row in args.filters:
        now = (count(row, 2 * args.n) - count(row, args.n)) / args.n
        if args.baseline:
            base = (count(row, 2 * args.n, args.baseline) - count(row, args.n, args.baseline)) / args.n
            print(f"{row:18s} {now:9.0f} instructions/call (baseline {base:.0f}; ratio {now / base:.3f})", flush=True)
        else:
            print(f"{row:18s} {now:9.0f} instructions/call", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
